terraform {
  backend "s3" {
    bucket = "acme-tfstate"
    key    = "prod/network.tfstate"
    region = "eu-west-1"
  }
}

module "vpc" {
  source = "../../../modules/vpc"
  cidr   = "10.0.0.0/16"
}
