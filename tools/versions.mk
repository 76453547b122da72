# The pinned releases of the engines `make tools` builds from their Go modules.
# The one place these versions live: the Makefile includes this file, and tools/build.py
# (the build, and the test suite's PATH set-up) reads it.
#
# Terragrunt: the Go module proxy serves v1.0.0-v1.0.2 and v1.1.0 here; v1.0.3, v1.2.0 and
# every v0.x answer 403, so v1.1.0 is the newest release this project can build.
TERRAGRUNT_VERSION := v1.1.0
# OpenTofu v1.12.6 needs Go >= 1.26.6 (its go.mod); an older Go fetches that toolchain itself.
TOFU_VERSION := v1.12.6
