"""`infra validate`: `fmt -check` and `validate` of layers, with GitHub annotations in CI."""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from msgspec import Struct
from msgspec.structs import replace

from ..adapters.actions_env import annotation, in_actions
from ..adapters.terraform import TerraformEngine
from ..config import Config, Engine, Layer
from ..core.redact import secrets_in_env
from ..core.unit_reads import UnitIndex
from ..errors import ExitCode, InfraError
from ..models import Diagnostic
from .dependencies import apart_layers
from .pipeline import each_layer

if TYPE_CHECKING:
    # rich is imported where the results are printed, after Terraform's work (`entry._Log`).
    from rich.console import Console


class LayerCheck(Struct, frozen=True):
    layer: str
    unformatted: tuple[str, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    error: str = ""

    @property
    def ok(self) -> bool:
        errors = [d for d in self.diagnostics if d.severity == "error"]
        return not (self.unformatted or errors or self.error)


def check_layer(
    config: Config, layer: Layer, env: Mapping[str, str], *, full_init: bool = False
) -> LayerCheck:
    """`fmt -check` and `validate` of one layer. `full_init`: the layer is planned next, so
    initialise it with its backend now and the plan reuses that init (one init per layer,
    not two); a backend that fails here is left for the plan to report, and validate runs
    after an init without it, as for a layer that is not planned."""
    try:
        engine = TerraformEngine(config, layer, env=env)
        fmt = engine.fmt_check()
        if not (full_init and engine.reuses_init and _initialised(engine)):
            engine.init_without_backend()
        return LayerCheck(layer.name, fmt.files, engine.validate())
    except InfraError as exc:
        return LayerCheck(layer.name, error=exc.message)


def _initialised(engine: TerraformEngine) -> bool:
    try:
        engine.init()
    except InfraError:
        return False
    return True


def check_layers(
    config: Config,
    layers: Sequence[Layer],
    env: Mapping[str, str],
    jobs: int = 1,
    *,
    planned: Collection[str] = (),
    units: UnitIndex | None = None,
) -> list[LayerCheck]:
    """`check_layer` of each layer, at most `jobs` at once and never two that must run apart
    (`planned`: the layers a plan follows, initialised in full), plus whether its `order`
    respects its units' dependencies (as Terragrunt reports them, `units` when the caller
    has the report already, or the HCL says without the binary)."""

    def one(layer: Layer) -> LayerCheck:
        return check_layer(config, layer, env, full_init=layer.name in planned)

    # Side by side as plans run: a Terragrunt init copies trees another layer's init writes in.
    checks = each_layer(layers, one, jobs=jobs, apart=apart_layers(config) if layers else {})
    problems = dependency_order(config, env, units)
    return [
        replace(c, error=c.error or problems[c.layer]) if c.layer in problems else c for c in checks
    ]


def dependency_order(
    config: Config, env: Mapping[str, str], units: UnitIndex | None = None
) -> dict[str, str]:
    """Per layer, why its `order` puts it before a layer its Terragrunt units depend on."""
    grunt = [layer for layer in config.ordered_layers if layer.engine is Engine.TERRAGRUNT]
    if not grunt:
        return {}
    # Only for Terragrunt layers: change detection's module loads the HCL parser (hcl2, lark),
    # which a repository of plain Terraform layers never needs, nor the units' reading.
    from ..adapters.terragrunt_units import unit_index
    from ..core.changes import LayerSpec
    from ..core.unit_order import order_conflicts

    if units is None:
        units = unit_index(config.root, [layer.path for layer in grunt], env)

    specs = [LayerSpec(layer.name, layer.path, layer.order) for layer in config.ordered_layers]
    return order_conflicts(specs, units)


def ci_verdict(checks: Sequence[LayerCheck]) -> tuple[bool, str]:
    """The CI Validate row of a PR's dashboard: whether every layer passed, and what to show
    (the first failure, or how many layers are valid)."""
    bad = [c for c in checks if not c.ok]
    if not bad:
        return True, f"{len(checks)} layers valid" if checks else "nothing to validate"
    first = bad[0]
    reason = (
        f"`{first.layer}`: not formatted: {', '.join(first.unformatted)}"
        if first.unformatted
        else f"`{first.layer}`: {first.error or first.diagnostics[0].summary}"
    )
    return False, reason


FMT, VALIDATE = "terraform fmt", "terraform validate"


def workflow_annotations(
    config: Config, checks: Sequence[LayerCheck], secrets: Iterable[str] = ()
) -> list[str]:
    """`::error file=…,line=…::` workflow commands, paths relative to the repo root
    (redacted and escaped by `core.outbound.annotation`)."""
    lines = []
    for check in checks:
        base = PurePosixPath(config.layers[check.layer].path)
        for name in check.unformatted:  # named from the layer (`../modules/x/main.tf`)
            where = posixpath.normpath(str(base / name))
            lines.append(
                annotation("error", "not formatted", title=FMT, file=where, secrets=secrets)
            )
        for diag in check.diagnostics:  # their files are named from the repository root
            where = diag.filename or ""
            text = f"{diag.summary}: {diag.detail}".replace("\n", " ")
            lines.append(
                annotation(
                    diag.severity, text, title=VALIDATE, file=where, line=diag.line, secrets=secrets
                )
            )
        if check.error:
            title = f"infra validate {check.layer}"
            first = check.error.splitlines()[0]
            lines.append(annotation("error", first, title=title, secrets=secrets))
    return lines


def run_validate(
    config: Config,
    layers: Sequence[Layer],
    *,
    env: Mapping[str, str],
    console: Console,
    jobs: int | None = None,
    planned: Collection[str] = (),
) -> tuple[ExitCode, list[LayerCheck]]:
    checks = check_layers(config, layers, env, jobs or config.jobs, planned=planned)
    from rich.markup import escape

    for check in checks:
        mark = "✅" if check.ok else "❌"
        console.print(f"{mark} [bold]{escape(check.layer)}[/]")
        for name in check.unformatted:
            console.print(f"   not formatted: {escape(name)} (run `terraform fmt`)")
        for diag in check.diagnostics:
            where = f"{diag.filename}:{diag.line}: " if diag.filename else ""
            console.print(f"   {diag.severity}: {escape(where + diag.summary)}")
        if check.error:
            console.print(f"   {escape(check.error)}")
    if in_actions(env):
        for line in workflow_annotations(config, checks, secrets_in_env(env)):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    code = ExitCode.OK if all(c.ok for c in checks) else ExitCode.FAILURE
    return code, checks
