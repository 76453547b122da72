# Terragrunt unit: the Terraform code is main.tf beside this file.
include "root" {
  path = find_in_parent_folders("root.hcl")
}

# Terragrunt runs a unit in a copy of its source; `//` makes that copy the whole example, so
# main.tf's relative paths (../modules, ../live) resolve in it as they do here.
terraform {
  source = "..//platform"
}
