# A service deployed on the cluster: used by the platform layer and both data layers.

variable "name" {
  type = string
}

variable "environment" {
  type = string
}

variable "replicas" {
  type    = number
  default = 1
}

variable "settings" {
  type    = map(string)
  default = {}
}

module "labels" {
  source      = "../labels"
  service     = var.name
  environment = var.environment
}

resource "terraform_data" "deployment" {
  input = {
    name     = var.name
    replicas = var.replicas
    labels   = module.labels.labels
    settings = var.settings
  }
}

output "id" {
  value = terraform_data.deployment.id
}

output "name" {
  value = var.name
}
