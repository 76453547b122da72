stack {
  name        = "Empty Stack"
  description = "An empty OpenTofu Stack"
  id          = "f50a9ef3-c5de-48ab-8acf-a60d91bfef7b"
}
