# Cluster-wide services, deployed with the shared service module: the code of the `platform`
# Terragrunt unit (platform/terragrunt.hcl), which passes `owner` from root.hcl and `cluster`
# from live/cluster.json. The defaults are the same values, for plain Terraform or OpenTofu.

terraform {
  required_version = ">= 1.5"
}

variable "owner" {
  type    = string
  default = "homelab"
}

variable "cluster" {
  type    = string
  default = "homelab"
}

module "ingress" {
  source      = "../service"
  name        = "ingress-nginx"
  environment = "platform"
  replicas    = 2
  settings = {
    cluster = var.cluster
    owner   = var.owner
  }
}

module "monitoring" {
  source      = "../service"
  name        = "prometheus"
  environment = "platform"
  settings = {
    owner = var.owner
  }
}

output "services" {
  value = [module.ingress.name, module.monitoring.name]
}
