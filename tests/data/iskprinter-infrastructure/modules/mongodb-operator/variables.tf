variable "mongodb_operator_version" {
  type = string
}
