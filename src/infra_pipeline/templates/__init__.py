"""The workflows `infra init` writes into a repository, shipped inside the package.

The files are real workflows with three placeholders, so that actionlint and zizmor can check
them as shipped: `__DEFAULT_BRANCH__`, `__INFRA_VERSION__` (the installed package's version,
so CI runs the same `infra` that wrote the files) and `__INFRA_CONFIG__` (infra.yaml's path
from the repository root).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata, resources

CI = "ci.yml"
CI_MATRIX = "ci-matrix.yml"
DOCS = "docs.yml"
NAMES = (CI, CI_MATRIX, DOCS)


@dataclass(frozen=True)
class TemplateValues:
    default_branch: str = "main"
    version: str = ""  # empty: the installed version
    config_path: str = "infra.yaml"


def raw(name: str) -> str:
    """A template as shipped, placeholders and all."""
    if name not in NAMES:
        raise ValueError(f"unknown template {name!r}; templates are {', '.join(NAMES)}")
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def render(name: str, values: TemplateValues) -> str:
    return (
        raw(name)
        .replace("__DEFAULT_BRANCH__", values.default_branch)
        .replace("__INFRA_VERSION__", values.version or package_version())
        # The placeholder sits in a double-quoted YAML string, whose escapes are JSON's.
        .replace("__INFRA_CONFIG__", json.dumps(values.config_path)[1:-1])
    )


def package_version() -> str:
    return metadata.version("infra-pipeline")
