stack {
  name        = "namespace-app-prd"
  description = "Kubernetes Namespace (app-prd)"
  id          = "0316e152-3362-4c4e-9705-0f8585ab5580"
  tags        = ["kubernetes"]
}
