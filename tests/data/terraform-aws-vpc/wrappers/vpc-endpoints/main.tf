module "wrapper" {
  source = "../../modules/vpc-endpoints"
}

