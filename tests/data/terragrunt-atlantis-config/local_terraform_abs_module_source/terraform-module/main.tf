resource "some_resource" "some_name" {
  foo = "bar"
}
