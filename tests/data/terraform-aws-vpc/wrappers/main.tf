module "wrapper" {
  source = "../"
}

