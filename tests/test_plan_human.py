"""A plan read from Terraform's human output (`core/plan_human.py`, what `infra plan` reads)
says what `show -json` of the same planfile says, with Terraform and OpenTofu, plain and in
colour; output that does not read as a plan is never guessed at: the engine reads the
planfile's JSON instead.

The real plans are made by the engines themselves on `terraform_data` (every kind of change
they can plan offline: create, update, replace in both orders, a tainted replace, delete,
move, import, forget, a read deferred to apply, `for_each` keys that look like the renderer's
own words, and output changes); the drift section, which `terraform_data` cannot produce, is
the renderer's text as Terraform's documentation and users' logs show it.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from msgspec.structs import replace

from homelab import base_env, infra
from infra_pipeline.adapters.terraform import (
    NO_CHANGES,
    PlanReads,
    PlanText,
    TerraformEngine,
    TerraformFailed,
)
from infra_pipeline.config import load_config
from infra_pipeline.core.plan_human import read_human_plan
from infra_pipeline.core.plan_landmarks import Chatter
from infra_pipeline.core.plan_reader import plan_text, read_plan
from infra_pipeline.core.plan_text import clean
from infra_pipeline.models import PlanResult
from test_plan_reads import _essentials

FIRST = """\
resource "terraform_data" "kept" { input = "a" }
resource "terraform_data" "tainted" { input = "a" }
resource "terraform_data" "updated" { input = "a" }
resource "terraform_data" "replaced" {
  input            = "a"
  triggers_replace = "a"
}
resource "terraform_data" "early" {
  triggers_replace = "a"
  lifecycle { create_before_destroy = true }
}
resource "terraform_data" "deleted" { input = "x" }
resource "terraform_data" "old_name" { input = "m" }
resource "terraform_data" "each" {
  for_each = toset(["a b", "c\\"d", "x will be created", "y must be replaced"])
  input    = each.key
}
module "inner" { source = "./inner" }
output "kept" { value = "k" }
output "changed" { value = "a" }
output "dropped" { value = "d" }
output "secret" {
  value     = "s1"
  sensitive = true
}
"""

SECOND = """\
resource "terraform_data" "kept" { input = "a" }
resource "terraform_data" "tainted" { input = "a" }
resource "terraform_data" "updated" { input = "b" }
resource "terraform_data" "replaced" {
  input            = "a"
  triggers_replace = "b"
}
resource "terraform_data" "early" {
  triggers_replace = "b"
  lifecycle { create_before_destroy = true }
}
moved {
  from = terraform_data.old_name
  to   = terraform_data.new_name
}
resource "terraform_data" "new_name" { input = "m" }
resource "terraform_data" "each" {
  for_each = toset(["a b", "c\\"d", "x will be created", "z"])
  input    = each.key
}
import {
  to = terraform_data.imported
  id = "abc"
}
resource "terraform_data" "imported" {}
data "terraform_remote_state" "later" {
  backend    = "local"
  config     = { path = "${path.module}/terraform.tfstate" }
  depends_on = [terraform_data.updated]
}
removed {
  from = module.inner.terraform_data.inner
  lifecycle { destroy = false }
}
output "kept" { value = "k" }
output "changed" { value = "b" }
output "added" { value = { a = 1, b = [1, 2] } }
output "secret" {
  value     = "s2"
  sensitive = true
}
"""


class Planned:
    """One directory applied with FIRST, changed to SECOND with `tainted` tainted, and
    planned by `binary`: its human output, plain and in colour, and its `show -json`."""

    def __init__(self, root: Path, binary: str) -> None:
        found = shutil.which(binary)
        assert found, f"{binary} is built by `make tools` and put on PATH by conftest.py"
        self.env = base_env()
        if not Path(self.env.get("TF_CLI_CONFIG_FILE", "/")).is_file():
            # As the engine does: OpenTofu would print a warning about it before the JSON.
            self.env.pop("TF_CLI_CONFIG_FILE", None)
        self.root = root
        (root / "inner").mkdir(parents=True)
        (root / "inner" / "main.tf").write_text('resource "terraform_data" "inner" {}\n')
        (root / "main.tf").write_text(FIRST)
        self.run(found, "init", "-input=false")
        self.run(found, "apply", "-auto-approve", "-input=false")
        (root / "main.tf").write_text(SECOND)
        (root / "inner" / "main.tf").write_text("")
        self.run(found, "taint", "terraform_data.tainted")
        plan = ("plan", "-input=false", "-detailed-exitcode", "-out=plan.tfplan")
        self.plain = self.run(found, *plan, "-no-color", ok=(2,))
        self.colour = self.run(found, *plan, ok=(2,))
        self.shown = json.loads(self.run(found, "show", "-json", "plan.tfplan"))

    def run(self, binary: str, *args: str, ok: tuple[int, ...] = (0,)) -> str:
        done = subprocess.run(
            [binary, *args], cwd=self.root, env=self.env, capture_output=True, text=True
        )
        assert done.returncode in ok, done.stdout + done.stderr
        return done.stdout


@pytest.fixture(scope="module", params=["terraform", "tofu"])
def planned(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Planned:
    return Planned(tmp_path_factory.mktemp(request.param), request.param)


def _actions(plan: PlanResult) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((c.address, c.actions) for c in plan.resource_changes)


def test_the_human_output_says_what_show_json_says(planned: Planned) -> None:
    full = read_plan("app", planned.shown, text="")
    human = read_human_plan("app", planned.plain, text="")

    assert human is not None
    assert _essentials(human) == _essentials(full)
    assert _actions(human) == _actions(full)  # a replace's order too
    kinds = {c.address: c.kind.value for c in human.resource_changes}
    assert kinds == {
        "terraform_data.tainted": "replace",
        "terraform_data.updated": "update",
        "terraform_data.replaced": "replace",
        "terraform_data.early": "replace",
        "terraform_data.deleted": "delete",
        "terraform_data.new_name": "no-op",
        'terraform_data.each["y must be replaced"]': "delete",
        'terraform_data.each["z"]': "create",
        "terraform_data.imported": "no-op",
    }
    early = next(c for c in human.resource_changes if c.address == "terraform_data.early")
    assert early.actions == ("create", "delete")  # create_before_destroy: `+/-`
    assert {o.name: (o.kind.value, o.sensitive) for o in human.output_changes} == {
        "added": ("create", False),
        "changed": ("update", False),
        "dropped": ("delete", False),
        "secret": ("update", True),
    }


def test_the_coloured_output_reads_the_same_and_keeps_its_colours(planned: Planned) -> None:
    plain = read_human_plan("app", planned.plain, text="")
    coloured = read_human_plan("app", clean(planned.colour), text="")

    assert coloured is not None and plain is not None
    assert _essentials(coloured) == _essentials(plain)
    assert _actions(coloured) == _actions(plain)
    text = plan_text(planned.colour)
    assert "\x1b[" in text
    # The same plan (in colour Terraform boxes its warnings, after the plan).
    plain_text = plan_text(planned.plain)
    assert clean(text).split("\nPlan: ")[0] == plain_text.split("\nPlan: ")[0]
    assert "Saved the plan" not in text and "Refreshing state" not in text


def test_output_whose_counts_do_not_add_up_is_not_read(planned: Planned) -> None:
    """One resource's header missing (a renderer that words it otherwise): Terraform's own
    `Plan:` line no longer matches what was read, so nothing is."""
    lines = planned.plain.splitlines()
    header = next(i for i, line in enumerate(lines) if "terraform_data.updated will be" in line)
    assert read_human_plan("app", "\n".join(lines[:header] + lines[header + 1 :]), text="") is None

    words = planned.plain.replace("will be updated in-place", "will be changed in place")
    assert read_human_plan("app", words, text="") is None


def test_a_replace_whose_block_does_not_say_its_order_is_not_read(planned: Planned) -> None:
    text = planned.plain.replace("+/- resource", "+ resource")
    assert read_human_plan("app", text, text="") is None


DRIFTED = """\
aws_s3_bucket.logs: Refreshing state... [id=logs]

Note: Objects have changed outside of Terraform

Terraform detected the following changes made outside of Terraform since the
last "terraform apply" which may have affected this plan:

  # aws_s3_bucket.logs has changed
  ~ resource "aws_s3_bucket" "logs" {
        id   = "logs"
      ~ tags = {
          + "owner" = "someone"
        }
    }

  # aws_sqs_queue.jobs has been deleted
  - resource "aws_sqs_queue" "jobs" {
      - name = "jobs" -> null
    }


Unless you have made equivalent changes to your configuration, or ignored the
relevant attributes using ignore_changes, the following plan may include
actions to undo or respond to these changes.

─────────────────────────────────────────────────────────────────────────────

Terraform used the selected providers to generate the following execution
plan. Resource actions are indicated with the following symbols:
  + create
  ~ update in-place

Terraform will perform the following actions:

  # aws_s3_bucket.logs will be updated in-place
  ~ resource "aws_s3_bucket" "logs" {
        id   = "logs"
      ~ tags = {
          - "owner" = "someone" -> null
        }
    }

  # aws_sqs_queue.jobs will be created
  + resource "aws_sqs_queue" "jobs" {
      + name = "jobs"
    }

Plan: 1 to add, 1 to change, 0 to destroy.

─────────────────────────────────────────────────────────────────────────────

Saved the plan to: .terraform/infra.tfplan

To perform exactly these actions, run the following command to apply:
    terraform apply ".terraform/infra.tfplan"
"""


def test_drift_is_read_from_its_note_and_the_text_keeps_both_parts() -> None:
    plan = read_human_plan("app", DRIFTED, text=plan_text(DRIFTED))

    assert plan is not None
    assert [(c.address, c.kind.value) for c in plan.drift] == [
        ("aws_s3_bucket.logs", "update"),
        ("aws_sqs_queue.jobs", "delete"),
    ]
    assert [(c.address, c.kind.value) for c in plan.resource_changes] == [
        ("aws_s3_bucket.logs", "update"),
        ("aws_sqs_queue.jobs", "create"),
    ]
    # The rule between the drift and the plan is inside the text, not its end.
    assert plan.text.startswith("Note: Objects have changed outside of Terraform")
    assert plan.text.endswith("Plan: 1 to add, 1 to change, 0 to destroy.")


def test_outputs_alone_and_no_changes() -> None:
    outputs_only = (
        'Changes to Outputs:\n  + url = "https://example.com"\n  ~ token = (sensitive value)\n'
        "\nYou can apply this plan to save these new output values to the Terraform\n"
        "state, without changing any real infrastructure.\n"
    )
    plan = read_human_plan("app", outputs_only, text="")
    assert plan is not None and not plan.resource_changes
    assert [(o.name, o.kind.value, o.sensitive) for o in plan.output_changes] == [
        ("token", "update", True),
        ("url", "create", False),
    ]

    nothing = "No changes. Your infrastructure matches the configuration.\n"
    quiet = read_human_plan("app", nothing, text="", changes=False)
    assert quiet is not None and not quiet.has_changes
    # Changes read where `-detailed-exitcode` said there are none: not believed.
    assert read_human_plan("app", outputs_only, text="", changes=False) is None
    # And a plan with changes that reads as none.
    assert read_human_plan("app", nothing, text="") is None


def test_the_progress_log_gets_what_comes_before_the_plan_and_its_count() -> None:
    chatter = Chatter()
    kept = [line for line in DRIFTED.splitlines() if chatter.keep(line)]

    assert kept == [
        "aws_s3_bucket.logs: Refreshing state... [id=logs]",
        "",
        "Plan: 1 to add, 1 to change, 0 to destroy.",
    ]


# --- the engine ---


class Layer:
    """A repository with one layer `app` whose `terraform` on PATH is a shim that logs each
    command and may rewrite what `plan` prints."""

    def __init__(self, root: Path, rewrite: str = "") -> None:
        self.root = root
        (root / "app").mkdir(parents=True)
        (root / "infra.yaml").write_text(
            "version: 1\nlayers:\n  app:\n    path: app\n    order: 1\n"
        )
        self.log = root.parent / "commands.log"
        shim = root.parent / "bin"
        shim.mkdir()
        real = shutil.which("terraform")
        assert real, "these stories need terraform on PATH"
        filter_ = f" | sed -e '{rewrite}'" if rewrite else ""
        (shim / "terraform").write_text(
            f'#!/bin/bash\necho "$1" >> "{self.log}"\n'
            f'if [ "$1" = plan ]; then "{real}" "$@"{filter_}; exit "${{PIPESTATUS[0]}}"; fi\n'
            f'exec "{real}" "$@"\n'
        )
        (shim / "terraform").chmod(0o755 | stat.S_IXUSR)
        self.env = base_env(
            PATH=f"{shim}:{base_env()['PATH']}", XDG_CACHE_HOME=str(root.parent / "cache")
        )

    def engine(self) -> TerraformEngine:
        config = load_config(self.root / "infra.yaml")
        reads = PlanReads(values=False, text=PlanText.PLAIN)
        return TerraformEngine(config, config.layers["app"], env=self.env, reads=reads)

    def commands(self) -> list[str]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        self.log.unlink(missing_ok=True)
        return lines


def test_output_that_does_not_read_as_a_plan_is_read_from_the_planfile(tmp_path: Path) -> None:
    """A wrapper that rewords Terraform's headers: the counts do not add up, so the engine
    asks the planfile (`show -json`) and prints Terraform's text as it came."""
    layer = Layer(tmp_path / "repo", rewrite="s/will be created/is to be made/")
    (layer.root / "app" / "main.tf").write_text(
        'resource "terraform_data" "a" {\n  count = 2\n  input = count.index\n}\n'
    )

    plan = layer.engine().plan()

    assert layer.commands() == ["init", "plan", "show"]
    assert plan.counts.add == 2
    assert [c.address for c in plan.resource_changes] == [
        "terraform_data.a[0]",
        "terraform_data.a[1]",
    ]
    assert "terraform_data.a[0] is to be made" in plan.text


def test_a_failed_plan_says_terraforms_error_where_it_is(tmp_path: Path) -> None:
    layer = Layer(tmp_path / "repo")
    (layer.root / "app" / "main.tf").write_text(
        'resource "terraform_data" "a" {\n  input = terraform_data.missing.id\n}\n'
    )

    with pytest.raises(TerraformFailed) as failed:
        layer.engine().plan()

    assert failed.value.message.startswith(
        "terraform plan of `app` failed: Error: Reference to undeclared resource (app/main.tf:2)"
    )
    [diag] = failed.value.diagnostics
    assert (diag.severity, diag.filename, diag.line) == ("error", "app/main.tf", 2)


def test_infra_plan_runs_one_terraform_process_per_changed_layer(tmp_path: Path) -> None:
    layer = Layer(tmp_path / "repo")
    (layer.root / "app" / "main.tf").write_text('resource "terraform_data" "a" {}\n')
    infra(layer.root, "plan", "app", env=layer.env)
    layer.commands()

    result = infra(layer.root, "plan", "app", env=layer.env)

    assert result.code == 0, result.out
    assert layer.commands() == ["plan"]
    assert "# terraform_data.a will be created" in result.out
    assert result.out.count("# terraform_data.a will be created") == 1  # not streamed too
    assert "app │ Plan: 1 to add, 0 to change, 0 to destroy." in result.out


def test_a_plan_without_changes_is_one_process_and_reads_as_the_json_lines_read_it(
    tmp_path: Path,
) -> None:
    layer = Layer(tmp_path / "repo")
    (layer.root / "app" / "main.tf").write_text('resource "terraform_data" "a" {}\n')
    applied = infra(layer.root, "apply", "app", "--auto-approve", env=layer.env)
    assert applied.code == 0, applied.out
    layer.commands()

    human = layer.engine().plan()
    assert layer.commands() == ["plan"]
    # The same plan read from its `-json` lines (`infra verify`): one process too.
    config = load_config(layer.root / "infra.yaml")
    lines = TerraformEngine(
        config,
        config.layers["app"],
        env=layer.env,
        reads=PlanReads(values=False, text=PlanText.NONE),
    )
    assert replace(human, fingerprint="") == replace(lines.plan(), fingerprint="")
    assert layer.commands() == ["plan"]
    assert not human.has_changes and human.text == NO_CHANGES


def test_index_keys_that_hold_the_renderers_words_stay_in_their_address() -> None:
    output = """\
Terraform will perform the following actions:

  # t.x["a has moved to b"] has moved to t.y["q \\" r"]
    resource "t" "y" {
        id = "1"
    }

  # t.z["k will be created"] will be created
  + resource "t" "z" {
    }

Plan: 1 to add, 0 to change, 0 to destroy.
"""
    plan = read_human_plan("app", output, text="")

    assert plan is not None
    assert [(c.address, c.moved_from, c.kind.value) for c in plan.resource_changes] == [
        ('t.y["q \\" r"]', 't.x["a has moved to b"]', "no-op"),
        ('t.z["k will be created"]', None, "create"),
    ]
