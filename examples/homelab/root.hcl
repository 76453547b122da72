# The configuration every Terragrunt unit of the example shares (platform, envs/*/data): each
# unit's terragrunt.hcl includes it through find_in_parent_folders("root.hcl"), so a change
# here plans every Terragrunt layer.
#
locals {
  owner = "homelab"
}

inputs = {
  owner = local.owner
}

# Terragrunt runs each unit in a copy under its .terragrunt-cache; the state stays in the unit's
# own directory, where plain Terraform or OpenTofu would keep it. A shared backend replaces
# this block, once for every unit (a `remote_state` block, or a `backend` here).
generate "backend" {
  path      = "backend.tf"
  if_exists = "overwrite_terragrunt"
  contents  = <<-EOF
    terraform {
      backend "local" {
        path = "${get_terragrunt_dir()}/terraform.tfstate"
      }
    }
  EOF
}
