# Standard labels every service carries.

variable "service" {
  type = string
}

variable "environment" {
  type = string
}

output "labels" {
  value = {
    "app.kubernetes.io/name"       = var.service
    "app.kubernetes.io/managed-by" = "infra-pipeline"
    "environment"                  = var.environment
  }
}
