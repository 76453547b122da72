locals {
  account_name   = "prod"
  aws_account_id = get_env("EX_PROD_ACCOUNT_ID")
}
