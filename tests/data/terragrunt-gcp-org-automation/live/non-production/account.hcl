locals {
  account_name = "non-production"
}
