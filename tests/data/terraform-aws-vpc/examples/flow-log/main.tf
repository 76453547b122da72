module "flow_log" {
  source = "../../modules/flow-log"
}

module "flow_log_cloudwatch_external" {
  source = "../../modules/flow-log"
}

module "flow_log_s3" {
  source = "../../modules/flow-log"
}

module "flow_log_s3_parquet" {
  source = "../../modules/flow-log"
}

module "disabled" {
  source = "../../modules/flow-log"
}

module "vpc" {
  source = "../../"
}

module "s3_bucket" {
  source = "terraform-aws-modules/s3-bucket/aws"
}

