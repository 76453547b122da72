"""Where the example lives and which layers it has, read from its infra.yaml.

`infra e2e` sets INFRA_ROOT to infra.yaml's directory; run by hand, the suite looks for
infra.yaml from the working directory upwards.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml


def infra_root() -> Path:
    if os.environ.get("INFRA_ROOT"):
        return Path(os.environ["INFRA_ROOT"])
    here = Path.cwd().resolve()
    for directory in (here, *here.parents):
        if (directory / "infra.yaml").is_file():
            return directory
    raise pytest.UsageError("no infra.yaml found: set INFRA_ROOT or run from the example")


def layers() -> dict[str, dict[str, Any]]:
    config = yaml.safe_load((infra_root() / "infra.yaml").read_text())
    return dict(sorted(config["layers"].items(), key=lambda item: item[1]["order"]))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "layer" in metafunc.fixturenames:
        metafunc.parametrize("layer", list(layers()))


@pytest.fixture
def layer_dir(layer: str) -> Path:
    spec = layers()[layer]
    if spec.get("state_key") or spec.get("backend_config"):
        pytest.skip(f"{layer} keeps its state in a remote backend")
    root_hcl = infra_root() / "root.hcl"
    if spec.get("engine") == "terragrunt" and 'backend "local"' not in root_hcl.read_text():
        pytest.skip(f"{layer} keeps its state in the remote backend root.hcl generates")
    return infra_root() / spec["path"]
