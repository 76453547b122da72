module "vpc" {
  source = "../../"
}

