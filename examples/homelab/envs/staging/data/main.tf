# The staging data services.

terraform {
  required_version = ">= 1.5"
}

variable "db_password" {
  type      = string
  sensitive = true
  default   = "change-me-staging"
}

module "postgres" {
  source      = "../../../modules/service"
  name        = "postgres"
  environment = "staging"
  replicas    = 1
  settings = {
    size = "small"
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
