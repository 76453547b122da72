locals {
  name = "${get_env("EX_APP_PREFIX", "")}stateful-lambda-service"
}

unit "lambda_service" {
  source = "github.com/gruntwork-io/terragrunt-infrastructure-catalog-example//units/js-lambda-stateful-service"

  path = "service"

  values = {
    version = "main"

    name = local.name

    runtime    = "nodejs22.x"
    source_dir = "./src"
    handler    = "index.handler"
    zip_file   = "handler.zip"

    memory  = 128
    timeout = 3

    role_path           = "../roles/lambda-iam-role-to-dynamodb"
    dynamodb_table_path = "../db"
  }
}

unit "db" {
  source = "github.com/gruntwork-io/terragrunt-infrastructure-catalog-example//units/dynamodb-table"

  path = "db"

  values = {
    version = "main"

    name          = "${local.name}-db"
    hash_key      = "Id"
    hash_key_type = "S"
  }
}

unit "role" {
  source = "github.com/gruntwork-io/terragrunt-infrastructure-catalog-example//units/lambda-iam-role-to-dynamodb"

  path = "roles/lambda-iam-role-to-dynamodb"

  values = {
    version = "main"

    name = "${local.name}-role"

    dynamodb_table_path = "../../db"
  }
}
