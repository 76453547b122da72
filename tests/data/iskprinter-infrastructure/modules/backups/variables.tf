variable "project" {
  type = string
}

variable "region" {
