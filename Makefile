# Everything a fresh machine with only Python 3.11 needs: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# A throwaway PostgreSQL (Terraform's pg state backend) around a command: started on a free
# loopback port, PG_CONN_STR exported to the command, stopped after it, even on failure or ^C.
WITH_PG := $(BIN)/python tools/pgcluster.py run --

.PHONY: demo test lint typecheck contracts lockcheck lock docs clean venv tools screenshots

# Terragrunt and OpenTofu, built from their Go modules at the versions in tools/versions.mk and
# kept in $(INFRA_TOOLS_DIR)/<tool>-<version>; set INFRA_TOOLS_DIR to share one build between
# checkouts. Their directories go first on PATH for everything make runs.
include tools/versions.mk
INFRA_TOOLS_DIR ?= $(CURDIR)/.tools
export INFRA_TOOLS_DIR
export PATH := $(INFRA_TOOLS_DIR)/terragrunt-$(TERRAGRUNT_VERSION):$(INFRA_TOOLS_DIR)/tofu-$(TOFU_VERSION):$(PATH)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,review,dev]'
	@touch $(STAMP)

venv: $(STAMP)

tools:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'" >&2; exit 2; }
	$(PYTHON) tools/build.py

demo: $(STAMP) tools
	$(WITH_PG) $(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples tools
	$(BIN)/ruff format --check src tests bench examples tools

typecheck: $(STAMP)
	$(BIN)/mypy

# requirements.lock is what the GitHub Action installs, hash-pinned. After changing
# pyproject.toml's dependencies (or the [review] extra, or the build backend) run `make lock`
# (it needs PyPI) and commit requirements.lock; `make lockcheck` (offline) fails until then.
lock: $(STAMP)
	$(BIN)/python tools/lock.py compile

lockcheck:
	$(PYTHON) tools/lock.py check

# The import direction of docs/architecture.md (contracts in pyproject.toml).
contracts: $(STAMP)
	$(BIN)/lint-imports

# The dashboard stories photographed for docs/dashboard.md (Debian: apt-get install chromium
# fonts-noto-color-emoji). `make test` runs the same stories and skips only the pictures.
screenshots: $(STAMP)
	@command -v chromium >/dev/null 2>&1 || { echo "error: chromium not found (apt-get install -y chromium fonts-noto-color-emoji)" >&2; exit 2; }
	INFRA_SCREENSHOTS_DIR=docs/img $(BIN)/python -m pytest tests/test_dashboard_stories.py -q -n 0 -p no:randomly

test: lint typecheck lockcheck contracts tools
	$(WITH_PG) $(BIN)/python -m pytest -n 2 -q

clean:
	rm -rf $(VENV) .pg .pytest_cache .mypy_cache .ruff_cache build dist
