module "vpc_ipam_set_netmask" {
  source = "../.."
}

module "vpc_ipam_set_cidr" {
  source = "../.."
}

