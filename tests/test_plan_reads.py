"""Stories: a plan with changes runs only the Terraform processes its reader needs
(`PlanReads`).

`infra plan` prints the plan's text and the results table: one `plan` whose human output is
the text (in Terraform's colours on a terminal) and says the changes (`core/plan_human.py`);
no `show` unless `--json`/`--markdown` (or policies and custom steps) read the values.
`infra verify` prints the drift table: `plan -json` and no `show` at all, and with `--json`
only `show -json`. Everything else (the pull request's dashboard, `/apply`, the drift scan's
issues and summaries) reads both shows, as before. Real Terraform throughout; a `terraform`
shim on PATH logs each command (with its flags) and runs the real one.
"""

from __future__ import annotations

import io
import json
import shutil
import stat
from pathlib import Path

import pytest
from rich.console import Console

from homelab import base_env, infra
from infra_pipeline.adapters.terraform import PlanReads, PlanText, TerraformEngine
from infra_pipeline.config import load_config
from infra_pipeline.core.plan_reader import read_plan_from_ui, read_ui_lines
from infra_pipeline.main import main
from infra_pipeline.models import PlanResult

FIRST = """\
resource "terraform_data" "kept" {
  input = "same"
}

resource "terraform_data" "updated" {
  input = "before"
}

resource "terraform_data" "replaced" {
  input            = "x"
  triggers_replace = ["one"]
}

resource "terraform_data" "early" {
  input            = "x"
  triggers_replace = ["one"]
  lifecycle {
    create_before_destroy = true
  }
}

resource "terraform_data" "deleted" {
  input = "gone soon"
}

resource "terraform_data" "old_name" {
  input = "moved"
}

output "changed" {
  value = "before"
}

output "secret" {
  value     = "hidden-1"
  sensitive = true
}
"""

SECOND = """\
resource "terraform_data" "kept" {
  input = "same"
}

resource "terraform_data" "updated" {
  input = "after"
}

resource "terraform_data" "replaced" {
  input            = "x"
  triggers_replace = ["two"]
}

resource "terraform_data" "early" {
  input            = "x"
  triggers_replace = ["two"]
  lifecycle {
    create_before_destroy = true
  }
}

resource "terraform_data" "new_name" {
  input = "moved"
}

moved {
  from = terraform_data.old_name
  to   = terraform_data.new_name
}

resource "terraform_data" "created" {
  count = 2
  input = count.index
}

output "changed" {
  value = "after"
}

output "secret" {
  value     = "hidden-2"
  sensitive = true
}

output "added" {
  value = 1
}
"""


class Repo:
    """One layer `app`, applied with FIRST and changed to SECOND (every kind of change)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.layer = root / "app"
        self.log = root.parent / "terraform.log"
        shim = root.parent / "bin"
        shim.mkdir()
        real = shutil.which("terraform")
        assert real, "these stories need terraform on PATH"
        script = shim / "terraform"
        script.write_text(
            f'#!/bin/sh\necho "$CHECKPOINT_DISABLE|$*" >> "{self.log}"\nexec "{real}" "$@"\n'
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        self.env = base_env(
            PATH=f"{shim}:{base_env()['PATH']}", XDG_CACHE_HOME=str(root.parent / "cache")
        )
        self.env.pop("CHECKPOINT_DISABLE", None)
        self.layer.mkdir(parents=True)
        (root / "infra.yaml").write_text(
            "version: 1\nlayers:\n  app:\n    path: app\n    order: 1\n"
        )
        (self.layer / "main.tf").write_text(FIRST)
        applied = infra(root, "apply", "app", "--auto-approve", env=self.env)
        assert applied.code == 0, applied.out
        (self.layer / "main.tf").write_text(SECOND)
        # SECOND's new blocks are init's business: initialise once here, so that no test's
        # commands depend on whether it is the first its worker runs on this repository.
        self.engine().init()
        self.commands()

    def commands(self) -> list[str]:
        """The Terraform commands run since the last call, with their flags (no paths)."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        self.log.unlink(missing_ok=True)
        found = []
        for line in lines:
            _, _, argv = line.partition("|")
            words = argv.split()
            found.append(" ".join([words[0], *(w for w in words[1:] if w in SHOWN_FLAGS)]))
        return found

    def checkpoint_settings(self) -> set[str]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return {line.partition("|")[0] for line in lines}

    def engine(self, reads: PlanReads = PlanReads()) -> TerraformEngine:
        config = load_config(self.root / "infra.yaml")
        return TerraformEngine(config, config.layers["app"], env=self.env, reads=reads)


SHOWN_FLAGS = ("-json", "-no-color")


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    return Repo(tmp_path_factory.mktemp("reads") / "repo")


@pytest.fixture
def repo(applied: Repo) -> Repo:
    """The module's repository (nothing here applies), its command log emptied."""
    applied.commands()
    return applied


def _essentials(plan: PlanResult) -> object:
    """What a reader of the changes sees, whichever way they were read (no values, and a
    replace's kind rather than the order of its actions)."""
    return (
        plan.counts,
        sorted((c.address, c.kind, c.importing, c.moved_from) for c in plan.resource_changes),
        plan.output_changes,
        sorted((c.address, c.kind) for c in plan.drift),
        sorted(c.address for c in plan.destructive),
    )


@pytest.mark.parametrize("text", [PlanText.NONE, PlanText.PLAIN], ids=["json-lines", "human"])
def test_the_plan_alone_says_what_show_json_says_of_every_kind_of_change(
    repo: Repo, text: PlanText
) -> None:
    """Create, update, replace (both orders), delete, move, and output changes (one
    sensitive) read from a real plan alone, from its `-json` lines (`infra verify`) or from
    its human output (`infra plan`), equal what `show -json` gives."""
    full = repo.engine().plan()
    repo.commands()
    lines = repo.engine(PlanReads(values=False, text=text)).plan()

    assert repo.commands() == [
        "plan -no-color -json" if text is PlanText.NONE else "plan -no-color"
    ]
    assert _essentials(lines) == _essentials(full)
    if text is PlanText.PLAIN:
        assert lines.text == full.text and "terraform_data.new_name" in lines.text
    assert lines.fingerprint == "" and full.fingerprint
    assert lines.document is None and full.document is not None
    kinds = {c.address: c.kind.value for c in full.resource_changes}
    assert kinds == {
        "terraform_data.updated": "update",
        "terraform_data.replaced": "replace",
        "terraform_data.early": "replace",
        "terraform_data.deleted": "delete",
        "terraform_data.new_name": "no-op",
        "terraform_data.created[0]": "create",
        "terraform_data.created[1]": "create",
    }
    outputs = {o.name: (o.kind.value, o.sensitive) for o in lines.output_changes}
    assert outputs == {
        "added": ("create", False),
        "changed": ("update", False),
        "secret": ("update", True),
    }


def test_the_ui_lines_reader_keeps_no_output_value() -> None:
    """An apply's `outputs` line carries the values: none of it is kept."""
    line = {
        "type": "outputs",
        "@message": "Outputs: 1",
        "outputs": {"token": {"sensitive": True, "action": "create", "value": "s3cr3t"}},
    }
    log = read_ui_lines(json.dumps(line))
    assert "s3cr3t" not in repr(log.outputs)
    plan = read_plan_from_ui("app", log, text="")
    assert [(o.name, o.sensitive) for o in plan.output_changes] == [("token", True)]


def test_plan_prints_the_text_of_one_plan_and_the_same_as_a_full_read(repo: Repo) -> None:
    full = repo.engine().plan()
    repo.commands()

    result = infra(repo.root, "plan", "app", env=repo.env)

    assert result.code == 0, result.out
    assert repo.commands() == ["plan -no-color"]
    assert full.text in result.out
    assert "⚠️ destroys/replaces:" in result.out  # the results table still names them


BOTH_SHOWS = ["plan -no-color -json", "show -json -no-color", "show -no-color"]


@pytest.mark.parametrize("flag", ["--json", "--markdown"])
def test_plan_with_json_or_markdown_reads_the_values(
    repo: Repo, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    full = repo.engine().plan()
    repo.commands()
    capsys.readouterr()

    result = infra(repo.root, "plan", "app", flag, env=repo.env)

    assert result.code == 0, result.out
    assert sorted(repo.commands()) == BOTH_SHOWS
    stdout = capsys.readouterr().out
    if flag == "--json":
        assert json.loads(stdout)["layers"][0]["fingerprint"] == full.fingerprint
    else:
        assert full.fingerprint in stdout  # the dashboard's state names the reviewed plan


def test_plan_on_a_terminal_renders_the_colours_once_and_nothing_else(repo: Repo) -> None:
    """On a terminal the text is Terraform's colour rendering, the plan's own: no `show`
    at all, and the changes read from it are those of the plain text."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, force_terminal=True, color_system="standard")
    env = {k: v for k, v in repo.env.items() if k not in ("NO_COLOR", "CI")}

    code = main(["plan", "app"], env=env, console=console, cwd=repo.root)

    assert code == 0, buffer.getvalue()
    assert repo.commands() == ["plan"]
    assert "\x1b[" in buffer.getvalue() and "terraform_data.new_name" in buffer.getvalue()
    coloured = repo.engine(PlanReads(values=False, text=PlanText.COLOUR)).plan()
    assert _essentials(coloured) == _essentials(repo.engine().plan())
    assert "\x1b[" in coloured.text and "Saved the plan" not in coloured.text


def test_verify_reads_the_drift_table_from_the_plan_alone(repo: Repo) -> None:
    result = infra(repo.root, "verify", "app", "--detailed-exitcode", env=repo.env)

    assert result.code == 3, result.out
    assert repo.commands() == ["plan -no-color -json"]
    row = next(line for line in result.out.splitlines() if "│ app" in line)
    assert "drifted: 10 differ from code/inputs" in row and "+4 ~1 -3" in row


def test_verify_with_json_reads_the_values_but_no_text(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    full = repo.engine().plan()
    repo.commands()
    capsys.readouterr()

    infra(repo.root, "verify", "app", "--json", env=repo.env)

    assert repo.commands() == ["plan -no-color -json", "show -json -no-color"]
    layer = json.loads(capsys.readouterr().out)["layers"][0]
    assert layer["fingerprint"] == full.fingerprint
    assert sorted(layer["resource_changes"], key=lambda c: c["address"]) == sorted(
        (
            {"address": c.address, "action": c.kind.value, "actions": list(c.actions)}
            for c in full.resource_changes
        ),
        key=lambda c: c["address"],
    )


def test_the_engine_turns_off_terraforms_version_check_unless_the_job_set_it(
    repo: Repo,
) -> None:
    """Each Terraform process would ask checkpoint-api.hashicorp.com for a newer version."""
    repo.engine().plan()
    assert repo.checkpoint_settings() == {"1"}
    repo.commands()

    TerraformEngine(
        load_config(repo.root / "infra.yaml"),
        load_config(repo.root / "infra.yaml").layers["app"],
        env={**repo.env, "CHECKPOINT_DISABLE": ""},
    ).plan()
    assert repo.checkpoint_settings() == {""}
    repo.commands()


def test_a_full_read_is_what_it_was(repo: Repo) -> None:
    """The default (every reader but `infra plan` and `infra verify`): both shows."""
    plan = repo.engine().plan()
    assert sorted(repo.commands()) == BOTH_SHOWS
    assert plan.fingerprint and plan.document is not None
    assert plan.text.startswith("Terraform used the selected providers")
