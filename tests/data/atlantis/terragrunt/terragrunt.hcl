remote_state {
  backend = "s3"
  config = {
    bucket = "acme-tg-state"
    key    = "${path_relative_to_include()}/terraform.tfstate"
    region = "us-east-1"
  }
}
