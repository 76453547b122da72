"""Stories: a layer's `init` is reused while nothing it reads changed, and rerun the moment
something does (a module source, a provider constraint, the lock file, the backend config),
so that no plan ever runs with a stale module or provider set. Real Terraform throughout; a
`terraform` shim on PATH logs each command it is asked to run and then runs the real one."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import textwrap
import threading
from pathlib import Path

import pytest
from msgspec.structs import replace

from homelab import base_env, infra
from infra_pipeline.adapters import init_record, plugin_cache
from infra_pipeline.adapters.terraform import (
    NO_CHANGES,
    READ_ALL,
    PlanReads,
    TerraformEngine,
    TerraformFailed,
)
from infra_pipeline.config import load_config
from infra_pipeline.core.plan_reader import read_plan, read_plan_without_changes, read_ui_lines
from infra_pipeline.flows.validate import check_layers

APP = """\
module "thing" {
  source = "./mod-a"
}

resource "terraform_data" "own" {
  input = "first"
}
"""


class Repo:
    """A repository with one layer `app`, run through `infra` with a logging `terraform`."""

    def __init__(self, root: Path, yaml_extra: str = "") -> None:
        self.root = root
        self.layer = root / "app"
        self.log = root.parent / f"terraform-{root.name}.log"
        shim = root.parent / f"bin-{root.name}"
        shim.mkdir()
        real = shutil.which("terraform")
        assert real, "these stories need terraform on PATH"
        script = shim / "terraform"
        script.write_text(f'#!/bin/sh\necho "$@" >> "{self.log}"\nexec "{real}" "$@"\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        self.env = base_env(
            PATH=f"{shim}:{base_env()['PATH']}", XDG_CACHE_HOME=str(root.parent / "cache")
        )
        self.layer.mkdir(parents=True)
        (root / "infra.yaml").write_text(
            f"version: 1\nlayers:\n  app:\n    path: app\n    order: 1\n{yaml_extra}"
        )

    def write(self, relative: str, text: str) -> None:
        path = self.layer / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))

    def commands(self) -> list[str]:
        """The Terraform commands run since the last call (`init -backend=false` as one)."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        self.log.unlink(missing_ok=True)
        return [
            "init -backend=false" if "-backend=false" in line.split() else line.split()[0]
            for line in lines
        ]

    def plan(self) -> str:
        result = infra(self.root, "plan", "app", env=self.env)
        assert result.code == 0, result.out
        return result.out

    def engine(self, reads: PlanReads = READ_ALL) -> TerraformEngine:
        config = load_config(self.root / "infra.yaml")
        return TerraformEngine(config, config.layers["app"], env=self.env, reads=reads)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "repo")
    repo.write("main.tf", APP)
    repo.write("mod-a/main.tf", 'resource "terraform_data" "a" {\n  input = "a"\n}\n')
    repo.write("mod-b/main.tf", 'resource "terraform_data" "b" {\n  input = "b"\n}\n')
    return repo


def test_init_runs_once_while_nothing_it_reads_changes(repo: Repo) -> None:
    # `infra plan` prints the plan's text only: its own output (tests/test_plan_reads.py).
    assert "module.thing.terraform_data.a" in repo.plan()
    assert repo.commands() == ["init", "plan"]

    out = repo.plan()
    assert repo.commands() == ["plan"]
    assert "module.thing.terraform_data.a" in out

    # A resource's arguments are not init's business: still no init.
    repo.write("main.tf", APP.replace('"first"', '"second"'))
    repo.plan()
    assert repo.commands() == ["plan"]


def test_a_changed_module_source_initialises_again_and_plans_the_new_module(repo: Repo) -> None:
    repo.plan()
    repo.commands()
    repo.write("main.tf", APP.replace("./mod-a", "./mod-b"))

    out = repo.plan()

    assert repo.commands()[:2] == ["init", "plan"]
    assert "module.thing.terraform_data.b" in out
    assert "module.thing.terraform_data.a" not in out


def test_a_nested_local_modules_call_counts_too(repo: Repo) -> None:
    repo.write("main.tf", APP.replace("./mod-a", "./outer"))
    repo.write("outer/main.tf", 'module "inner" {\n  source = "../mod-a"\n}\n')
    assert "module.thing.module.inner.terraform_data.a" in repo.plan()
    repo.commands()

    repo.write("outer/main.tf", 'module "inner" {\n  source = "../mod-b"\n}\n')
    out = repo.plan()

    assert repo.commands()[:2] == ["init", "plan"]
    assert "module.thing.module.inner.terraform_data.b" in out


@pytest.mark.parametrize("human", [False, True], ids=["json", "human"])
def test_a_stale_record_is_caught_by_terraform_and_the_plan_initialises_again(
    repo: Repo, human: bool
) -> None:
    """Should the fingerprint ever miss an input, Terraform's own check ("run terraform
    init") makes the engine initialise and plan again rather than fail or plan stale,
    whether the plan speaks `-json` or to people (`infra plan`)."""
    repo.plan()
    repo.commands()
    repo.write("main.tf", APP.replace("./mod-a", "./mod-b"))
    engine = repo.engine(PlanReads(values=False) if human else READ_ALL)
    # Forge a record that says the init is current for the new source.
    init_record.remember(repo.layer, engine._env, engine._init_fingerprint())

    plan = engine.plan()

    assert repo.commands()[:3] == ["plan", "init", "plan"]
    assert "module.thing.terraform_data.b" in {c.address for c in plan.resource_changes}


def test_a_changed_backend_config_or_the_env_feeding_it_initialises_again(
    tmp_path: Path,
) -> None:
    repo = Repo(tmp_path / "repo", "    backend_config:\n      path: ${STATE_DIR}/app.tfstate\n")
    repo.write("main.tf", 'terraform {\n  backend "local" {}\n}\n')
    repo.write("res.tf", 'resource "terraform_data" "x" {\n  input = 1\n}\n')
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    repo.env["STATE_DIR"] = str(tmp_path / "one")
    repo.plan()
    repo.plan()
    assert repo.commands() == ["init", "plan", "plan"]

    # Another state file: Terraform refuses to switch without being told how; what matters
    # is that it is asked, not that a plan silently runs against the old state.
    repo.env["STATE_DIR"] = str(tmp_path / "two")
    result = infra(repo.root, "plan", "app", env=repo.env)

    assert repo.commands() == ["init"]
    assert result.code == 1
    assert "Backend configuration changed" in result.out


# --- providers: a filesystem mirror of a provider whose binary only says its version ---


def _mirror(tmp_path: Path) -> Path:
    """Provider example.com/test/fake 1.0.0 and 2.0.0 in a filesystem mirror, and a CLI
    configuration that installs from it. A plan cannot start either, and its error names the
    path of the one it tried."""
    mirror = tmp_path / "mirror"
    for version in ("1.0.0", "2.0.0"):
        where = mirror / "example.com/test/fake" / version / "linux_amd64"
        where.mkdir(parents=True)
        binary = where / f"terraform-provider-fake_v{version}"
        binary.write_text("#!/bin/sh\nexit 1\n")
        binary.chmod(0o755)
    config = tmp_path / "mirror.tfrc"
    config.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n'
    )
    return config


def _requires(constraint: str) -> str:
    return (
        "terraform {\n  required_providers {\n"
        f'    fake = {{ source = "example.com/test/fake", version = "{constraint}" }}\n'
        '  }\n}\n\nresource "terraform_data" "x" {\n  input = 1\n}\n'
    )


def _started(repo: Repo) -> str:
    """The provider version a plan started (the fake one cannot serve a plan)."""
    with pytest.raises(TerraformFailed) as failed:
        repo.engine().plan()
    detail = " ".join(d.detail for d in failed.value.diagnostics)
    versions = [v for v in ("1.0.0", "2.0.0") if f"example.com/test/fake/{v}/" in detail]
    assert len(versions) == 1, detail
    return versions[0]


def _lock_for(tmp_path: Path, constraint: str, env: dict[str, str]) -> str:
    """The lock file Terraform writes for `constraint` (what a PR bumping it commits)."""
    scratch = tmp_path / f"lock-{constraint}"
    scratch.mkdir()
    (scratch / "main.tf").write_text(_requires(constraint))
    real = {**env, "PATH": base_env()["PATH"]}
    subprocess.run(
        ["terraform", "init", "-input=false", "-no-color"],
        cwd=scratch,
        env=real,
        check=True,
        capture_output=True,
    )
    return (scratch / ".terraform.lock.hcl").read_text()


@pytest.fixture
def provider_repo(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "repo")
    repo.env["TF_CLI_CONFIG_FILE"] = str(_mirror(tmp_path))
    return repo


def test_a_changed_provider_constraint_initialises_again(provider_repo: Repo) -> None:
    repo = provider_repo
    repo.write("main.tf", _requires("1.0.0"))
    assert _started(repo) == "1.0.0"
    assert _started(repo) == "1.0.0"
    assert repo.commands() == ["init", "plan", "plan"]

    # Still met by the locked 1.0.0: init runs again, and keeps it.
    repo.write("main.tf", _requires("~> 1.0"))
    assert _started(repo) == "1.0.0"
    assert repo.commands() == ["init", "plan"]


def test_a_bumped_lock_file_initialises_again_and_plans_with_the_new_provider(
    provider_repo: Repo, tmp_path: Path
) -> None:
    """A PR that moves the provider to 2.0.0 (constraint and lock file, as renovate writes
    them): the plan runs 2.0.0, never the 1.0.0 installed by the previous init."""
    repo = provider_repo
    repo.write("main.tf", _requires(">= 1.0.0"))
    repo.write(".terraform.lock.hcl", _lock_for(tmp_path, "1.0.0", repo.env))
    assert _started(repo) == "1.0.0"
    repo.commands()

    repo.write(".terraform.lock.hcl", _lock_for(tmp_path, "2.0.0", repo.env))

    assert _started(repo) == "2.0.0"
    assert repo.commands() == ["init", "plan"]


# --- one init per layer on a pull request; no `show` for a plan without changes ---


def test_a_pr_validates_and_plans_each_planned_layer_with_one_init(repo: Repo) -> None:
    config = load_config(repo.root / "infra.yaml")
    layer = config.layers["app"]

    checks = check_layers(config, [layer], repo.env, planned=["app"])
    assert checks[0].ok, checks
    plan = repo.engine().plan()

    assert plan.has_changes
    commands = repo.commands()
    assert commands[:4] == ["fmt", "init", "validate", "plan"]
    assert commands.count("init") == 1 and len(commands) == 6  # + show, show -json

    # A layer that is validated but not planned never touches its backend.
    (repo.layer / ".terraform").rename(repo.layer / ".terraform-old")
    check_layers(config, [layer], repo.env)
    assert repo.commands() == ["fmt", "init -backend=false", "validate"]


def test_a_plan_without_changes_runs_no_show_and_reads_the_same(repo: Repo) -> None:
    applied = infra(repo.root, "apply", "app", "--auto-approve", env=repo.env)
    assert applied.code == 0, applied.out
    repo.commands()

    plan = repo.engine().plan()

    assert repo.commands() == ["plan"]
    assert not plan.has_changes and plan.text == NO_CHANGES
    assert plan.planfile is not None
    shown = subprocess.run(
        ["terraform", "show", "-json", str(plan.planfile)],
        cwd=repo.layer,
        env=repo.env,
        capture_output=True,
        text=True,
        check=True,
    )
    from_json = read_plan("app", json.loads(shown.stdout), text=NO_CHANGES)
    assert replace(plan, planfile=None) == from_json


def test_a_plan_without_changes_keeps_its_json_when_policies_read_it(tmp_path: Path) -> None:
    """Policies are evaluated on every plan's JSON, changes or not: then `show -json` runs."""
    repo = Repo(tmp_path / "repo")
    (repo.root / "infra.yaml").write_text(
        (repo.root / "infra.yaml").read_text() + "policies:\n  paths: [policy/]\n"
    )
    repo.write("main.tf", 'resource "terraform_data" "x" {\n  input = 1\n}\n')
    applied = infra(repo.root, "apply", "app", "--auto-approve", env=repo.env)
    assert applied.code == 0, applied.out
    repo.commands()

    plan = repo.engine().plan()

    assert repo.commands() == ["plan", "show"]
    assert not plan.has_changes
    assert plan.document is not None and "prior_state" in plan.document


def test_drift_reported_by_the_json_lines_reads_as_show_json_reports_it() -> None:
    """A drift-only plan without changes is read from its `-json` lines: each
    `resource_drift` line (shape from Terraform's machine-readable UI docs) counts as the
    same entry of `show -json`'s `resource_drift` would."""
    lines = [
        {
            "type": "resource_drift",
            "@message": "random_pet.animal: Drift detected (update)",
            "change": {"resource": {"addr": "random_pet.animal"}, "action": "update"},
        },
        {
            "type": "resource_drift",
            "@message": "aws_s3_bucket.logs: Drift detected (delete)",
            "change": {"resource": {"addr": "aws_s3_bucket.logs"}, "action": "delete"},
        },
        {"type": "change_summary", "@message": "Plan: 0 to add, 0 to change, 0 to destroy."},
    ]
    log = read_ui_lines("\n".join(json.dumps(line) for line in lines))
    shown = {
        "resource_drift": [
            {"address": "random_pet.animal", "change": {"actions": ["update"]}},
            {"address": "aws_s3_bucket.logs", "change": {"actions": ["delete"]}},
        ]
    }

    plan = read_plan_without_changes("app", log, key=b"k" * 16)

    assert plan == read_plan("app", shown, text=NO_CHANGES, key=b"k" * 16)
    assert [c.address for c in plan.drift] == ["random_pet.animal", "aws_s3_bucket.logs"]


# --- the shared provider plugin cache ---


def test_layers_share_one_plugin_cache_and_only_an_init_that_fills_it_waits_for_it(
    provider_repo: Repo, tmp_path: Path
) -> None:
    repo = provider_repo
    repo.write("main.tf", _requires("1.0.0"))
    cache = tmp_path / "cache" / "infra-pipeline" / "terraform-plugins"
    engine = repo.engine()
    assert engine._env["TF_PLUGIN_CACHE_DIR"] == str(cache)
    assert "TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE" not in engine._env

    # Without a lock file Terraform would download past the cache anyway: no cache, no wait.
    with plugin_cache.exclusive(cache):
        unlocked = threading.Thread(target=engine.init)
        unlocked.start()
        unlocked.join(timeout=600)
        assert not unlocked.is_alive()
    assert not (cache / "example.com").exists()
    shutil.rmtree(repo.layer / ".terraform")
    repo.write(".terraform.lock.hcl", _lock_for(tmp_path, "1.0.0", repo.env))

    # The provider is not cached yet: the init waits while another holds the cache.
    with plugin_cache.exclusive(cache):
        first = threading.Thread(target=engine.init)
        first.start()
        first.join(timeout=2)
        assert first.is_alive(), "an init that fills the cache must wait for its lock"
    first.join(timeout=600)
    assert not first.is_alive()
    cached = cache / "example.com/test/fake/1.0.0/linux_amd64"
    assert cached.is_dir()
    # Linked from the cache (which, for a package from an unpacked mirror, links the mirror).
    installed = repo.layer / ".terraform/providers/example.com/test/fake/1.0.0/linux_amd64"
    assert installed.is_symlink() and installed.resolve() == cached.resolve()

    # A second layer whose lock file names only cached providers links them without waiting.
    other = Repo(tmp_path / "other")
    other.env = repo.env
    other.write("main.tf", _requires("1.0.0"))
    shutil.copy(repo.layer / ".terraform.lock.hcl", other.layer / ".terraform.lock.hcl")
    with plugin_cache.exclusive(cache):
        second = threading.Thread(target=other.engine().init)
        second.start()
        second.join(timeout=600)
        assert not second.is_alive(), "an init that only links cached providers must not wait"
    assert (other.layer / ".terraform/providers/example.com/test/fake/1.0.0").exists()


def test_a_cache_the_user_configured_is_theirs(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    assert plugin_cache.default_dir({"TF_PLUGIN_CACHE_DIR": str(mine), "HOME": "/x"}) is None
    rc = tmp_path / "terraformrc"
    rc.write_text(f'plugin_cache_dir = "{mine}"\n')
    assert plugin_cache.default_dir({"TF_CLI_CONFIG_FILE": str(rc), "HOME": "/x"}) is None
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert plugin_cache.default_dir(env) == tmp_path / "xdg/infra-pipeline/terraform-plugins"


def test_which_inits_may_write_to_the_cache(tmp_path: Path) -> None:
    cache, layer = tmp_path / "cache", tmp_path / "layer"
    layer.mkdir()
    (layer / "main.tf").write_text('resource "terraform_data" "x" {\n  input = 1\n}\n')
    (layer / "local").mkdir()
    (layer / "other.tf").write_text('module "m" {\n  source = "./local"\n}\n')
    (layer / "local" / "main.tf").write_text('resource "terraform_data" "y" {}\n')
    assert not plugin_cache.may_write(cache, layer)  # built-in resources need no provider

    (layer / "local" / "main.tf").write_text('resource "aws_s3_bucket" "y" {}\n')
    assert plugin_cache.may_write(cache, layer)  # an implied provider, in a local module

    (layer / ".terraform.lock.hcl").write_text(
        'provider "registry.terraform.io/hashicorp/aws" {\n  version     = "5.1.0"\n'
        '  constraints = "~> 5.0"\n  hashes = []\n}\n'
    )
    assert plugin_cache.may_write(cache, layer)
    (cache / "registry.terraform.io/hashicorp/aws/5.1.0/linux_amd64").mkdir(parents=True)
    assert not plugin_cache.may_write(cache, layer)
