"""`infra plan`, `verify` and `validate` in their plain forms skip the CLI framework on the way
to Terraform (`entry.parse_hot`): each such form must end exactly as the typer app ends it, and
every other form must still reach the typer app."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from homelab import base_env
from infra_pipeline.entry import HotCall, outcome, parse_hot
from infra_pipeline.errors import ExitCode
from infra_pipeline.main import Invocation, app, main

LAYER = 'resource "terraform_data" "x" {\n  input = 1\n}\n'


@pytest.mark.parametrize(
    ("argv", "call"),
    [
        (["plan"], HotCall("plan")),
        (["plan", "all"], HotCall("plan", layers=("all",))),
        (
            ["plan", "a", "--jobs", "2", "b", "--detailed-exitcode"],
            HotCall("plan", layers=("a", "b"), jobs=2, detailed_exitcode=True),
        ),
        (["-c", "x.yaml", "plan", "-j", "3"], HotCall("plan", config_path="x.yaml", jobs=3)),
        (["--config=x.yaml", "verify", "--all"], HotCall("verify", "x.yaml", all_layers=True)),
        (["verify", "--jobs=4", "one"], HotCall("verify", layers=("one",), jobs=4)),
        (["validate", "one", "two"], HotCall("validate", layers=("one", "two"))),
    ],
)
def test_plain_forms_are_hot(argv: list[str], call: HotCall) -> None:
    assert parse_hot(argv) == call


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["plan", "--help"],
        ["plan", "--markdown"],
        ["plan", "--json"],
        ["plan", "--results-dir", "out"],
        ["plan", "-j4"],
        ["plan", "--jobs", "many"],
        ["plan", "--jobs", "-1"],
        ["plan", "--jobs"],
        ["plan", "--jobs", "1", "--jobs", "2"],
        ["plan", "--detailed-exitcode", "--detailed-exitcode"],
        ["plan", "--", "all"],
        ["plan", "--all"],
        ["validate", "--detailed-exitcode"],
        ["verify", "--report-issues"],
        ["--version"],
        ["-c", "plan"],
        ["-c", "--x", "plan"],
        ["apply", "all"],
        ["event"],
        ["Plan"],
    ],
)
def test_every_other_form_goes_to_the_typer_app(argv: list[str]) -> None:
    assert parse_hot(argv) is None


def _through_typer(args: list[str], root: Path) -> tuple[int, str]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, force_terminal=False, color_system=None)
    obj = Invocation(env=base_env(), _console=console, cwd=root)

    def cli() -> int:
        app(args=args, prog_name="infra", standalone_mode=True, obj=obj)
        return 0

    return outcome(cli, obj.env), buffer.getvalue()


def _hot(args: list[str], root: Path) -> tuple[int, str]:
    assert parse_hot(args) is not None
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, force_terminal=False, color_system=None)
    return main(args, env=base_env(), console=console, cwd=root), buffer.getvalue()


def _same(text: str) -> str:
    return re.sub(r"\d+\.\ds", "N.Ns", text)  # the durations in the result table


def test_each_hot_form_ends_as_the_typer_app_ends_it(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "main.tf").write_text(LAYER)
    (tmp_path / "infra.yaml").write_text("version: 1\nlayers:\n  one: {path: one, order: 1}\n")
    (tmp_path / "other.yaml").write_text("version: 1\nlayers:\n  uno: {path: one, order: 1}\n")
    forms = [
        ["plan", "all"],
        ["plan", "one", "--detailed-exitcode", "--jobs", "1"],
        ["plan", "nope"],
        ["verify", "--all", "--detailed-exitcode"],
        ["validate", "one"],
        ["-c", "other.yaml", "plan", "uno"],
        ["--config=missing.yaml", "validate"],
    ]
    _through_typer(["plan", "all"], tmp_path)  # the first init: later runs may reuse it
    for args in forms:
        hot_code, hot_out = _hot(args, tmp_path)
        typer_code, typer_out = _through_typer(args, tmp_path)
        assert (hot_code, _same(hot_out)) == (typer_code, _same(typer_out)), args
    assert _hot(["plan", "one", "--detailed-exitcode"], tmp_path)[0] == 3


def _plan_all_in_a_new_process(
    root: Path, before: str = "", after: str = "", argv: tuple[str, ...] = ("plan", "all")
) -> list[str]:
    """`infra plan all` (or `argv`) on a one-layer repository at `root`, in a fresh interpreter
    as the console script runs it: `before` runs first (say, an audit hook), then the command,
    whose exit code is printed, then `after`. Returns the lines printed."""
    (root / "one").mkdir()
    (root / "one" / "main.tf").write_text(LAYER)
    (root / "infra.yaml").write_text("version: 1\nlayers:\n  one: {path: one, order: 1}\n")
    probe = (
        "import os, sys\n"
        f"{before}"
        f"sys.argv = {['infra', *argv]!r}\n"
        "from infra_pipeline.__main__ import run\n"  # what the console script calls
        "try:\n"
        "    run()\n"
        "except SystemExit as exc:\n"
        "    print(exc.code)\n"
        f"{after}"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=root,
        env=base_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


def test_the_console_script_plans_without_importing_typer(tmp_path: Path) -> None:
    lines = _plan_all_in_a_new_process(tmp_path, after="print('typer' in sys.modules)\n")
    assert lines[-2:] == ["0", "False"]


def test_the_console_script_prints_to_a_log_what_rich_prints(tmp_path: Path) -> None:
    """On a stdout that is no terminal the console script loads rich only once it prints a
    table (`entry._Log`), and the progress lines before it are written as they are: the whole
    output is still what the typer app prints through rich's console for such a file."""
    (tmp_path / "script").mkdir()
    lines = _plan_all_in_a_new_process(tmp_path / "script")
    root = tmp_path / "app"
    root.mkdir()
    (root / "one").mkdir()
    (root / "one" / "main.tf").write_text(LAYER)
    (root / "infra.yaml").write_text("version: 1\nlayers:\n  one: {path: one, order: 1}\n")
    buffer = io.StringIO()
    obj = Invocation(
        env=base_env(), _console=Console(file=buffer, width=80, highlight=False), cwd=root
    )

    def cli() -> int:
        app(args=["plan", "all"], prog_name="infra", standalone_mode=True, obj=obj)
        return 0

    assert outcome(cli, obj.env) == 0
    assert lines[-1] == "0"
    printed = "\n".join(lines[:-1]) + "\n"
    assert "one: planning…\n" in printed
    assert _same(printed) == _same(buffer.getvalue())


# Imported only after the first Terraform command has started, if at all: the CLI framework,
# pydantic (the config models), the GitHub client, the HCL parser and the Terragrunt reading
# (a plain Terraform layer), TLS, package metadata, rich (a log's lines before Terraform runs are
# plain text: `entry._Log`), difflib (a valid file needs no "did you mean"), and what reads or
# posts a layer's result (the outbound text's limits), and `concurrent.futures` with the `logging`
# it imports (the layers run on plain threads), tempfile (a custom step's plan JSON only),
# the records of `health` probes and `e2e` suites (a file without them needs none), what
# reads Terraform's output once it has printed (the plan and diagnostics readers, and the
# `hmac` of a plan's seal), and what only some layers need: the pg backend's locks,
# Terragrunt's units and their order check, custom steps, the embedded engine's lookup,
# and dataclasses (the records are msgspec's: `infra_pipeline.records`). `platform` came off
# the path in an earlier round and is back: msgspec's import brings it (through `uuid`), ~1 ms.
NOT_BEFORE_TERRAFORM = (
    "typer",
    "click",
    "pydantic",
    "pydantic_core",
    "githubkit",
    "httpx",
    "hcl2",
    "lark",
    "infra_pipeline.core.hcl_reads",
    "ssl",
    "importlib.metadata",
    "rich.console",
    "rich.markup",
    "rich.table",
    "rich.live",
    "rich._emoji_codes",
    "difflib",
    "infra_pipeline.core.outbound",
    "concurrent.futures",
    "logging",
    "tempfile",
    "infra_pipeline.config_checks",
    "infra_pipeline.core.plan_reader",
    "infra_pipeline.core.plan_human",
    "infra_pipeline.core.diagnostics",
    "hmac",
    "infra_pipeline.adapters.pg_locks",
    "infra_pipeline.adapters.terragrunt_units",
    "infra_pipeline.core.unit_order",
    "infra_pipeline.adapters.step_runner",
    "importlib.util",
    "dataclasses",
)


@pytest.mark.parametrize(
    ("argv", "flow"),
    [(("plan", "all"), "plan"), (("verify", "--all"), "verify"), (("validate",), "validate")],
)
def test_nothing_heavy_is_imported_before_the_first_terraform_command(
    tmp_path: Path, argv: tuple[str, ...], flow: str
) -> None:
    """What `infra plan all` (and `verify --all`, `validate`) has imported when it starts its first
    Terraform command (seen by an audit hook on subprocess.Popen): a heavy module there is
    start-up time every run pays. Each of these once was; what the command needs of them
    later is imported later."""
    hook = (
        "seen = []\n"
        "def hook(event, args):\n"
        "    if event == 'subprocess.Popen' and not seen:\n"
        "        if os.path.basename(str(args[1][0])) == 'terraform':\n"
        "            seen.append(sorted(sys.modules))\n"
        "sys.addaudithook(hook)\n"
    )
    snapshot = "print(' '.join(seen[0]) if seen else 'no terraform command')\n"
    lines = _plan_all_in_a_new_process(tmp_path, before=hook, after=snapshot, argv=argv)
    code, modules = lines[-2:]
    assert code in ("0", "3"), lines  # verify: 3 is drift (nothing applied yet)
    loaded = set(modules.split())
    assert f"infra_pipeline.flows.{flow}" in loaded  # the snapshot is of the command's start
    assert {name for name in NOT_BEFORE_TERRAFORM if name in loaded} == set()


# Whether the collector is on while `entry` is imported, and at the first Terraform command.
COLLECTOR_ON = (
    "import gc\n"
    "seen = []\n"
    "def hook(event, args):\n"
    "    if event == 'import' and args[0] == 'infra_pipeline.entry':\n"
    "        seen.append(gc.isenabled())\n"
    "    elif event == 'subprocess.Popen' and len(seen) == 1:\n"
    "        if os.path.basename(str(args[1][0])) == 'terraform':\n"
    "            seen.append(gc.isenabled())\n"
    "sys.addaudithook(hook)\n"
)
AFTER_THE_LOADER = (
    "import threading\n"
    "from infra_pipeline.entry import LOADER\n"
    "for thread in threading.enumerate():\n"
    "    if thread.name == LOADER:\n"
    "        thread.join()\n"
    "print(seen, gc.isenabled())\n"
)


def test_the_collector_is_off_until_the_first_terraform_command_and_on_after(
    tmp_path: Path,
) -> None:
    """The console script's hot commands start with the garbage collector off (what the start
    makes lives as long as the process), from before `entry` is imported, and turn it back on
    once Terraform runs."""
    lines = _plan_all_in_a_new_process(tmp_path, before=COLLECTOR_ON, after=AFTER_THE_LOADER)
    assert lines[-2:] == ["0", "[False, False] True"]


def test_a_hot_command_that_fails_before_terraform_ends_as_before(tmp_path: Path) -> None:
    """No Terraform command ever runs: the collector stays off to the end, which changes nothing
    of how the command ends."""
    (tmp_path / "infra.yaml").write_text("version: 1\nlayers: [not, a, mapping\n")
    done = subprocess.run(
        [sys.executable, "-m", "infra_pipeline", "plan", "all"],
        cwd=tmp_path,
        env=base_env(),
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stdout) == (ExitCode.USAGE, "")
    assert done.stderr.startswith(f"error: {tmp_path / 'infra.yaml'}:3: YAML syntax error")


def test_the_typer_app_runs_with_the_collector_on(tmp_path: Path) -> None:
    """Off while `entry` is imported, as for every command; on again for the typer app."""
    lines = _plan_all_in_a_new_process(
        tmp_path,
        before=COLLECTOR_ON,
        after="print(seen, gc.isenabled())\n",
        argv=("validate", "--detailed-exitcode"),  # not a hot form: typer refuses it
    )
    assert lines[-2:] == ["2", "[False] True"]


LOAD_AFTER_THE_FIRST_CHILD = """
import sys, threading
from infra_pipeline import entry
from infra_pipeline.adapters import process

loader = threading.Thread(target=entry._load_the_printing, daemon=True)
loader.start()
loader.join(0.05)
before = loader.is_alive(), "rich.table" in sys.modules
process.first_child.set()
loader.join()
print(before, "rich.table" in sys.modules)
"""


def test_what_prints_the_results_loads_once_terraform_runs_and_not_before() -> None:
    """`run_hot` loads rich beside Terraform's work: the loader waits for the first child
    (a process of its own, so that no earlier test has loaded rich or started a child)."""
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AFTER_THE_FIRST_CHILD],
        capture_output=True,
        text=True,
        check=True,
        env=base_env(),
    )
    assert done.stdout.split() == ["(True,", "False)", "True"]
