resource "terraform_data" "zone" {}
