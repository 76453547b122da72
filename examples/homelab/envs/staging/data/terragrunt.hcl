# Terragrunt unit: its Terraform code is modules/data-staging.
include "root" {
  path = find_in_parent_folders("root.hcl")
}

# Terragrunt runs a unit in a copy of its source up to `//`: the modules tree, which holds no
# layer (see platform/terragrunt.hcl).
terraform {
  source = "../../../modules//data-staging"
}

locals {
  env = read_terragrunt_config(find_in_parent_folders("env.hcl"))
}

# The data services run on the platform's ingress, so platform applies first.
dependency "platform" {
  config_path = "../../../platform"

  # A pull request plans before platform has ever been applied: plan with these values then.
  mock_outputs = {
    services = ["ingress-nginx", "prometheus"]
  }
  mock_outputs_allowed_terraform_commands = ["init", "validate", "plan", "show", "apply"]
}

inputs = {
  environment = local.env.locals.environment
  ingress     = dependency.platform.outputs.services[0]
}
