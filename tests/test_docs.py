"""The documentation site builds strictly, and what it shows agrees with the code."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from infra_pipeline.config import json_schema
from infra_pipeline.config_models import Config
from infra_pipeline.core.comment_parser import Command, parse_comment
from infra_pipeline.onboarding.scaffold import SCHEMA_URL

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _hook(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"docs_hook_{name}", DOCS / "hooks" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    # The published schema is the one the code validates with, where init's hint points.
    published = site / "schema" / "infra.schema.json"
    assert json.loads(published.read_text()) == json_schema()
    mkdocs = yaml.safe_load((ROOT / "mkdocs.yml").read_text().replace("!!python/name:", ""))
    assert mkdocs["site_url"] + "schema/infra.schema.json" == SCHEMA_URL
    for page in ("reference/infra-yaml", "reference/cli", "dashboard", "security"):
        assert (site / page / "index.html").is_file(), page
    assert 'class="mermaid"' in (site / "dashboard" / "index.html").read_text()


def test_the_reference_lists_every_key_of_the_schema() -> None:
    schema = json_schema()
    page = _hook("schema_ref").render(schema)

    for key in schema["properties"]:
        assert f"| `{key}` |" in page
    for name, definition in schema["$defs"].items():
        assert f"## {name}" in page
        for key in definition.get("properties", {}):
            assert f"| `{key}` |" in page, f"{name}.{key}"


def test_the_commands_page_covers_every_cli_command() -> None:
    import typer

    from infra_pipeline.main import app

    generated = _hook("generated")
    root = typer.main.get_command(app)
    text = (DOCS / "commands.md").read_text()
    for _, ctx in generated._commands(root, root.context_class(root, info_name="infra")):
        assert f"`{ctx.command_path}" in text, f"{ctx.command_path} is not in docs/commands.md"


def test_the_documented_aliases_are_what_the_parser_accepts() -> None:
    text = (DOCS / "commands.md").read_text()
    table = text.split("### Legacy aliases", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)`.*\| `/(\w+)", table, re.MULTILINE)
    assert len(rows) >= 7
    for alias, command in rows:
        parsed = parse_comment(
            alias.replace("…", "please"),
            author="alice",
            author_type="User",
            layers=("platform",),
            suites=("smoke",),
        )
        assert isinstance(parsed, Command), alias
        assert parsed.name.value == command, alias


@pytest.mark.parametrize(
    "page", ["configuration.md", "terragrunt.md", "getting-started.md", "state-backend.md"]
)
def test_infra_yaml_examples_are_valid(page: str) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", (DOCS / page).read_text(), re.DOTALL)
    examples = [b for b in blocks if "\nlayers:" in f"\n{b}"]
    for block in examples:
        Config.model_validate(yaml.safe_load(block))
    assert examples or page == "getting-started.md"
