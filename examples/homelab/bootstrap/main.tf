# The k3s cluster itself. `live/cluster.json` stands in for what the cluster reports about
# itself, so editing that file out-of-band is how the example makes drift.

terraform {
  required_version = ">= 1.5"
}

locals {
  live = jsondecode(file("${path.module}/../live/cluster.json"))
}

variable "region" {
  type    = string
  default = "home-1"
}

resource "terraform_data" "cluster" {
  input = {
    name    = local.live.name
    region  = var.region
    version = local.live.k3s_version
  }
}

resource "terraform_data" "node" {
  for_each = toset(local.live.nodes)
  input = {
    cluster = terraform_data.cluster.output.name
    name    = each.key
  }
}

output "cluster_name" {
  value = terraform_data.cluster.output.name
}

output "endpoint" {
  value = "https://${terraform_data.cluster.output.name}.${var.region}.internal:6443"
}
