# The prod data services: the code of the `data-prod` Terragrunt unit
# (envs/prod/data/terragrunt.hcl), which passes `environment` from envs/prod/env.hcl,
# `ingress` from the platform unit's outputs and `owner` from root.hcl.
# The defaults are the same values, for plain Terraform or OpenTofu.

terraform {
  required_version = ">= 1.5"
}

variable "environment" {
  type    = string
  default = "prod"
}

variable "ingress" {
  type    = string
  default = "ingress-nginx"
}

variable "owner" {
  type    = string
  default = "homelab"
}

variable "db_password" {
  type      = string
  sensitive = true
  default   = "change-me-prod"
}

module "postgres" {
  source      = "../service"
  name        = "postgres"
  environment = var.environment
  replicas    = 3
  settings = {
    size    = "large"
    ingress = var.ingress
    owner   = var.owner
  }
}

resource "terraform_data" "credentials" {
  input = {
    service  = module.postgres.name
    password = var.db_password
  }
}

output "postgres_id" {
  value = module.postgres.id
}
