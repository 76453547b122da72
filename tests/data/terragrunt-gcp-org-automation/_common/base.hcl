# Include this file with `expose = true` in resource terragrunt.hcl files
locals {
  repo_root = get_repo_root()

  account_vars = read_terragrunt_config(find_in_parent_folders("account.hcl"))
  common_vars  = read_terragrunt_config("${local.repo_root}/_common/common.hcl")
}
