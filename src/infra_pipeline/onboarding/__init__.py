"""Off the event path: `infra init` discovery, the Atlantis translation, the scaffold of
new files."""
