stack {
  name        = "vpc-prd"
  description = <<EOF
    Production VPC Network
    - 1 VPC
    - 2 private subnets
    - 2 public subnets
  EOF
  id          = "0558df4e-b164-4579-8d91-0274952d88d3"
  tags        = ["vpc"]
}
