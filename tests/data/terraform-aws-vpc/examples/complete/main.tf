module "vpc" {
  source = "../../"
}

module "vpc_endpoints" {
  source = "../../modules/vpc-endpoints"
}

module "vpc_endpoints_nocreate" {
  source = "../../modules/vpc-endpoints"
}

