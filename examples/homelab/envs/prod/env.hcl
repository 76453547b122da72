# What differs between the environments beyond the data unit's own code; the unit reads it
# with read_terragrunt_config(find_in_parent_folders("env.hcl")).
locals {
  environment = "prod"
}
