terraform {
  backend "s3" {
    bucket = "acme-tfstate"
    key    = "staging/eks.tfstate"
    region = "eu-west-1"
  }
}

data "terraform_remote_state" "network" {
  backend = "s3"
  config = {
    bucket = "acme-tfstate"
    key    = "staging/network.tfstate"
    region = "eu-west-1"
  }
}
