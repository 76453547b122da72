"""Every top-level module and folder of the package has a place in the import contracts
(`[tool.importlinter]` in pyproject.toml, checked by `make contracts`), so a new module cannot
sit outside the direction the contracts keep."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import infra_pipeline

PACKAGE = Path(infra_pipeline.__file__).parent
PYPROJECT = PACKAGE.parents[1] / "pyproject.toml"


def _placed() -> set[str]:
    contracts = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    names: set[str] = set()
    for contract in contracts["contracts"]:
        for key in ("layers", "source_modules"):
            for entry in contract.get(key, []):
                names.update(part.strip() for part in re.split(r"[:|]", entry))
    return names


def test_every_top_level_module_is_in_a_contract() -> None:
    top = {
        f"infra_pipeline.{path.stem if path.is_file() else path.name}"
        for path in PACKAGE.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    assert top - _placed() == set()
