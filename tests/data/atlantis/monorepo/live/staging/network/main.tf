terraform {
  backend "s3" {
    bucket = "acme-tfstate"
    key    = "staging/network.tfstate"
    region = "eu-west-1"
  }
}

module "vpc" {
  source = "../../../modules/vpc"
  cidr   = "10.1.0.0/16"
}
