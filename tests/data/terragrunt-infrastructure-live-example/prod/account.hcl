locals {
  account_name   = "prod"
  aws_account_id = "replaceme" # TODO: replace me with your AWS account ID!
}
