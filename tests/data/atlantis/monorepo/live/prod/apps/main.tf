terraform {
  backend "s3" {
    bucket = "acme-tfstate"
    key    = "prod/apps.tfstate"
    region = "eu-west-1"
  }
}
