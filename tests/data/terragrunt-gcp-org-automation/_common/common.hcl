locals {
  org_labels = { managed_by = "terragrunt" }
}
