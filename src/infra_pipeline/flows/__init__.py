"""What `infra event` does for each kind of event: thin orchestration over the pure core and
the GitHub / Terraform edges, one module per flow."""
