# Cluster-wide services, deployed with the shared service module. A Terragrunt unit
# (terragrunt.hcl beside this file); `owner` comes from root.hcl.

terraform {
  required_version = ">= 1.5"
}

variable "owner" {
  type    = string
  default = "homelab"
}

locals {
  cluster = jsondecode(file("${path.module}/../live/cluster.json")).name
}

module "ingress" {
  source      = "../modules/service"
  name        = "ingress-nginx"
  environment = "platform"
  replicas    = 2
  settings = {
    cluster = local.cluster
    owner   = var.owner
  }
}

module "monitoring" {
  source      = "../modules/service"
  name        = "prometheus"
  environment = "platform"
  settings = {
    owner = var.owner
  }
}

output "services" {
  value = [module.ingress.name, module.monitoring.name]
}
