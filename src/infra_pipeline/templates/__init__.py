"""The workflows `infra init` writes into a repository, shipped inside the package.

The files are real workflows with three placeholders, so that actionlint and zizmor can check
them as shipped: `__DEFAULT_BRANCH__`, `__INFRA_ACTION__` (the infra-pipeline GitHub Action,
`OWNER/infra-pipeline@REF`: by default the tag of the installed version, so CI runs the same
`infra` that wrote the files) and `__INFRA_CONFIG__` (infra.yaml's path from the repository
root).
"""

from __future__ import annotations

import json
from importlib import metadata, resources

from msgspec import Struct

CI = "ci.yml"
CI_LONG = "ci-long.yml"
CI_MATRIX = "ci-matrix.yml"
DOCS = "docs.yml"
NAMES = (CI, CI_LONG, CI_MATRIX, DOCS)
# Where the action lives on GitHub; `infra init --action OWNER/REPO@REF` uses another copy
# (a fork, a mirror on GitHub Enterprise Server, or a commit SHA instead of the tag).
ACTION_REPOSITORY = "infra-pipeline/infra-pipeline"


class TemplateValues(Struct, frozen=True):
    default_branch: str = "main"
    action: str = ""  # OWNER/REPO@REF; empty: ACTION_REPOSITORY at the installed version's tag
    config_path: str = "infra.yaml"

    def action_ref(self) -> str:
        """`OWNER/REPO@REF`, with the version as a comment when REF is a commit SHA."""
        if not self.action:
            return f"{ACTION_REPOSITORY}@v{package_version()}"
        ref = self.action.rpartition("@")[2]
        if len(ref) == 40 and all(c in "0123456789abcdef" for c in ref):
            return f"{self.action} # v{package_version()}"
        return self.action


def raw(name: str) -> str:
    """A template as shipped, placeholders and all."""
    if name not in NAMES:
        raise ValueError(f"unknown template {name!r}; templates are {', '.join(NAMES)}")
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def render(name: str, values: TemplateValues) -> str:
    return (
        raw(name)
        .replace("__DEFAULT_BRANCH__", values.default_branch)
        .replace("__INFRA_ACTION__", values.action_ref())
        # The placeholder sits in a double-quoted YAML string, whose escapes are JSON's.
        .replace("__INFRA_CONFIG__", json.dumps(values.config_path)[1:-1])
    )


def package_version() -> str:
    return metadata.version("infra-pipeline")
