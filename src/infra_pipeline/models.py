"""Typed records that travel between modules: plan results, per-layer outcomes, state locks."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from msgspec import Struct

from .config import Stage
from .records import compared, shown


class ChangeKind(StrEnum):
    """One resource's planned action, collapsed from Terraform's `actions` list."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"
    READ = "read"
    NOOP = "no-op"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]


_SYMBOLS = {
    ChangeKind.CREATE: "+",
    ChangeKind.UPDATE: "~",
    ChangeKind.DELETE: "-",
    ChangeKind.REPLACE: "-/+",
    ChangeKind.READ: "<=",
    ChangeKind.NOOP: " ",
}


class ResourceChange(Struct, frozen=True):
    """One resource's change in a plan: its address, kind and Terraform's actions."""

    address: str
    kind: ChangeKind
    actions: tuple[str, ...]
    importing: bool = False
    moved_from: str | None = None


class OutputChange(Struct, frozen=True):
    """One output's change in a plan."""

    name: str
    kind: ChangeKind
    sensitive: bool


class Diagnostic(Struct, frozen=True):
    """One of Terraform's own error or warning messages, from its `-json` output.

    `filename` is relative to the repository root (never a runner's path), so the same record
    becomes a dashboard line and a `::error file=…,line=…::` annotation."""

    severity: str  # "error" | "warning", as Terraform reports it
    summary: str
    detail: str = ""
    filename: str | None = None
    line: int | None = None
    address: str | None = None  # the resource the diagnostic is about, when Terraform says

    @property
    def location(self) -> str:
        """`platform/main.tf:12`, or "" when Terraform gave no source range."""
        if not self.filename:
            return ""
        return f"{self.filename}:{self.line}" if self.line else self.filename


class PlanCounts(Struct, frozen=True):
    """How many resources a plan adds, changes, destroys, replaces, imports and moves."""

    add: int = 0
    change: int = 0
    destroy: int = 0
    replace: int = 0
    import_: int = 0
    move: int = 0

    @property
    def total(self) -> int:
        return self.add + self.change + self.destroy + self.replace + self.import_ + self.move

    def words(self) -> str:
        """What will happen in plain words, leaving out what will not: "2 to add, 1 to
        replace, 1 to destroy"; a replace is a replace, not an add and a destroy."""
        parts = [
            f"{n} to {verb}"
            for n, verb in (
                (self.add, "add"),
                (self.change, "change"),
                (self.replace, "replace"),
                (self.destroy, "destroy"),
                (self.import_, "import"),
                (self.move, "move"),
            )
            if n
        ]
        return ", ".join(parts) or "no resource changes"

    def short(self) -> str:
        """`+2 ~1 -0`, with replacements counted on both sides as Terraform's summary does."""
        return f"+{self.add + self.replace} ~{self.change} -{self.destroy + self.replace}"


class PlanResult(Struct, frozen=True):
    """What one `terraform plan` of one layer found."""

    layer: str
    counts: PlanCounts
    resource_changes: tuple[ResourceChange, ...]
    output_changes: tuple[OutputChange, ...]
    drift: tuple[ResourceChange, ...]  # changed outside Terraform (`resource_drift`)
    diagnostics: tuple[Diagnostic, ...]
    # "" when the caller read no values (`PlanReads.values`: `infra plan`/`verify` output)
    fingerprint: str
    # The human-readable plan, sensitive values already masked by Terraform; for a plan with
    # changes, as the caller asked (`PlanReads.text`): "" for none, or in Terraform's colours.
    text: str
    planfile: Path | None = None
    seal: str = ""  # keyed digest incl. sensitive values (core/plan_reader.py); "" without a key
    sensitive: bool = False  # the changes carry sensitive values
    # The plan as `terraform show -json` printed it, for the policy check: in memory only, never
    # written or posted (it holds sensitive values in clear).
    # Kept out of repr and equality (`__repr__`, `__eq__`).
    document: Mapping[str, Any] | None = None

    def __repr__(self) -> str:
        return shown(self, "document")

    def __eq__(self, other: object) -> bool:
        if type(other) is not PlanResult:
            return NotImplemented
        return compared(self, "document") == compared(other, "document")

    def __hash__(self) -> int:
        return hash(compared(self, "document"))

    @property
    def has_changes(self) -> bool:
        return bool(self.resource_changes) or bool(self.output_changes)

    @property
    def destructive(self) -> tuple[ResourceChange, ...]:
        return tuple(
            c for c in self.resource_changes if c.kind in (ChangeKind.DELETE, ChangeKind.REPLACE)
        )


class StateLock(Struct, frozen=True):
    """A state lock that stopped (or is holding up) a plan or apply of `layer`."""

    layer: str
    backend: str  # "pg", "s3", "gcs", "azurerm", "local", ...
    lock_id: str  # what `infra force-unlock LAYER LOCK_ID` takes
    who: str = ""
    operation: str = ""  # "plan", "apply", or Terraform's "OperationTypeApply"
    created: str = ""  # when it was taken, as the backend reports it
    path: str = ""
    version: str = ""
    info: str = ""
    run_id: int | None = None  # the workflow run holding it, when the holder says so
    message: str = ""  # Terraform's "Error message:" line

    def describe(self) -> str:
        """`held by infra run 101 (apply) since 2026-11-30 14:21:00 UTC, lock ID 1234`."""
        who = self.who or "an unknown holder"
        parts = [f"held by {who}"]
        if self.operation:
            parts.append(f"({self.operation.removeprefix('OperationType').lower()})")
        if self.created:
            parts.append(f"since {self.created}")
        return " ".join(parts) + f", lock ID `{self.lock_id}`"


class Outcome(StrEnum):
    """How one layer's step ended."""

    OK = "ok"  # planned with no changes, or applied
    CHANGES = "changes"  # planned, with changes
    FAILED = "failed"
    SKIPPED = "skipped"  # not run because an earlier layer failed (or not wanted)


class StepOutcome(StrEnum):
    """How one custom step (`steps:` in infra.yaml) ended."""

    PASSED = "passed"
    FAILED = "failed"  # exited non-zero, or could not be started
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"  # the job was cancelled while it ran


class StepResult(Struct, frozen=True):
    """One custom step's run: what the dashboard shows of it. `tail` is the end of its
    output, already redacted and capped (core/custom_steps.py)."""

    stage: Stage
    name: str
    outcome: StepOutcome
    blocking: bool = True
    exit_code: int | None = None
    seconds: float = 0.0
    timeout: str = ""  # as infra.yaml wrote it, for "timed out after 10m"
    tail: str = ""


class LayerRun(Struct, frozen=True):
    """The outcome of planning or applying one layer."""

    layer: str
    outcome: Outcome
    duration: float = 0.0
    plan: PlanResult | None = None
    error: str = ""
    log: str = ""  # kept out of repr (`__repr__`): a whole Terraform log
    lock: StateLock | None = None  # the state lock that stopped it
    # Terraform's own messages when the plan or apply failed (and its warnings).
    diagnostics: tuple[Diagnostic, ...] = ()
    # Terraform's closing line of an apply: "Apply complete! Resources: 2 added, ...".
    summary: str = ""
    steps: tuple[StepResult, ...] = ()  # the custom steps this plan or apply ran, in order

    def __repr__(self) -> str:
        return shown(self, "log")
