module "vpc_issue_44" {
  source = "../../"
}

module "vpc_issue_46" {
  source = "../../"
}

module "vpc_issue_108" {
  source = "../../"
}

