# Cluster-wide services, deployed with the shared service module.

terraform {
  required_version = ">= 1.5"
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
  }
}

module "monitoring" {
  source      = "../modules/service"
  name        = "prometheus"
  environment = "platform"
}

output "services" {
  value = [module.ingress.name, module.monitoring.name]
}
