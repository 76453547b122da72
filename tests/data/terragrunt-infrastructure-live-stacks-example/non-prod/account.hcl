locals {
  account_name   = "non-prod"
  aws_account_id = get_env("EX_NON_PROD_ACCOUNT_ID")
}
