# The prod data services.

terraform {
  required_version = ">= 1.5"
}

variable "db_password" {
  type      = string
  sensitive = true
  default   = "change-me-prod"
}

module "postgres" {
  source      = "../../../modules/service"
  name        = "postgres"
  environment = "prod"
  replicas    = 3
  settings = {
    size = "large"
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
