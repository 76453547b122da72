module "wrapper" {
  source = "../../modules/flow-log"
}

