terraform {
  backend "s3" {}
}

variable "replicas" {
  type = number
}
