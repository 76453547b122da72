script "init" {
  name        = "OpenTofu Init"
  description = "Download the required provider plugins and modules and set up the backend"

  job {
    commands = [
      ["tofu", "init", "-lock-timeout=5m"],
    ]
  }
}

