module "vpc" {
  source = "../.."
}

