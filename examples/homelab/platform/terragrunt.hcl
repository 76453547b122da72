# Terragrunt unit: its Terraform code is modules/platform.
include "root" {
  path = find_in_parent_folders("root.hcl")
}

# Terragrunt runs a unit in a copy of its source up to `//`: the modules tree, where the code's
# `../service` resolves. That tree holds no layer, so nothing another layer writes while it
# runs (its state, its lock file) is in the copy, and the units plan side by side.
terraform {
  source = "../modules//platform"
}

# The cluster the services run on, as the live cluster reports it. mark_as_read: Terragrunt
# lists the file among the unit's reads, so a change to it plans this layer.
locals {
  live = jsondecode(file(mark_as_read("${get_terragrunt_dir()}/../live/cluster.json")))
}

inputs = {
  cluster = local.live.name
}
