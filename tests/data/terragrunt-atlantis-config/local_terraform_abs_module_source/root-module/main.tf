module "module_1" {
  source = "../terraform-module"
}
