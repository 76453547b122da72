"""What `infra plan|apply|verify --json` print: one JSON document on stdout, for scripts.

The shape is versioned by `schema_version`: a field may be added within a version, never
removed or changed in meaning; anything else is a new version. The JSON Schema, generated
from these models, is on the Commands page of the docs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .models import LayerRun, Outcome

SCHEMA_VERSION = 1
Command = Literal["plan", "apply", "verify"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Counts(_Record):
    """Terraform's summary: resources to add, change, destroy; replacements on their own."""

    add: int
    change: int
    destroy: int
    replace: int
    import_: int = Field(alias="import")
    move: int


class ResourceChange(_Record):
    address: str
    action: Literal["create", "update", "delete", "replace", "read", "no-op"]
    actions: list[str] = Field(description="Terraform's own actions list, e.g. [delete, create].")


class LayerResult(_Record):
    layer: str
    outcome: Literal["ok", "changes", "failed", "skipped"] = Field(
        description="ok: no changes (plan, verify) or applied (apply); changes: planned "
        "changes or drift; failed; skipped: not run because an earlier layer failed."
    )
    duration_seconds: float
    counts: Counts | None = Field(description="None when the layer did not get to a plan.")
    resource_changes: list[ResourceChange]
    changed_outside_terraform: list[str] = Field(
        description="Addresses Terraform found changed outside it (drift)."
    )
    output_changes: list[str]
    fingerprint: str | None = Field(description="sha256 of the plan's changes.")
    error: str | None


class Report(_Record):
    schema_version: Literal[1] = 1  # SCHEMA_VERSION
    command: Command
    exit_code: int
    changed: bool = Field(
        description="plan/verify: a layer has changes or drift; apply: a layer was changed."
    )
    layers: list[LayerResult]


def build(command: Command, runs: Sequence[LayerRun], exit_code: int) -> Report:
    layers = [_layer(run) for run in runs]
    changed = any(
        run.plan is not None
        and run.plan.has_changes
        and run.outcome in (Outcome.OK, Outcome.CHANGES)
        for run in runs
    )
    return Report(command=command, exit_code=int(exit_code), changed=changed, layers=layers)


def _layer(run: LayerRun) -> LayerResult:
    plan = run.plan
    counts = None
    if plan is not None:
        c = plan.counts
        counts = Counts.model_validate(
            {
                "add": c.add,
                "change": c.change,
                "destroy": c.destroy,
                "replace": c.replace,
                "import": c.import_,
                "move": c.move,
            }
        )
    return LayerResult(
        layer=run.layer,
        outcome=run.outcome.value,
        duration_seconds=round(run.duration, 3),
        counts=counts,
        resource_changes=[
            ResourceChange(address=c.address, action=c.kind.value, actions=list(c.actions))
            for c in (plan.resource_changes if plan else ())
        ],
        changed_outside_terraform=[c.address for c in (plan.drift if plan else ())],
        output_changes=[o.name for o in (plan.output_changes if plan else ())],
        fingerprint=plan.fingerprint if plan else None,
        error=run.error or None,
    )


def to_json(report: Report) -> str:
    return report.model_dump_json(by_alias=True, indent=2)


def json_schema() -> dict[str, Any]:
    schema = Report.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"infra --json output, schema_version {SCHEMA_VERSION}"
    return schema
