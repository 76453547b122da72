include "root" {
  path = find_in_parent_folders("root.hcl")
}

locals {
  # Directory paths for dependencies
  project_base_path = dirname(dirname(dirname(dirname(get_terragrunt_dir()))))
  vpc_network_path  = "${local.project_base_path}/vpc-network"
}

dependency "project" {
  config_path                             = find_in_parent_folders("project")
  mock_outputs_allowed_terraform_commands = ["validate", "plan", "init"]
}

dependency "vpc-network" {
  config_path                             = local.vpc_network_path
  mock_outputs_allowed_terraform_commands = ["validate", "plan", "init"]
}
