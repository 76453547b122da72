# Cluster-wide services. Reads the bootstrap layer's outputs, as a real platform layer reads
# the cluster's endpoint.

terraform {
  required_version = ">= 1.5"
}

data "terraform_remote_state" "bootstrap" {
  backend = "local"
  config = {
    path = "${path.module}/../bootstrap/terraform.tfstate"
  }
  defaults = {
    cluster_name = "homelab"
  }
}

module "ingress" {
  source      = "../modules/service"
  name        = "ingress-nginx"
  environment = "platform"
  replicas    = 2
  settings = {
    cluster = data.terraform_remote_state.bootstrap.outputs.cluster_name
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
