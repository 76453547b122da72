"""Pure reading of Terraform's JSON plan (`terraform show -json PLANFILE`).

The fingerprint is what makes "apply exactly what was reviewed" checkable: a sha256 over the
canonical JSON of every change that would be made (resource and output changes: address,
actions, before, after, after_unknown), with sensitive values replaced by a marker so that
neither the fingerprint input nor anything printed ever carries a secret. Equal intended
changes give equal fingerprints; any other change gives another.

Sensitive values still count: `seal` is an HMAC, keyed with the repository secret
`INFRA_PLAN_KEY` (`core/plan_key.py`), over the layer, the fingerprint and the sensitive values
themselves. A change of a sensitive value (20 -> 500) changes the seal, and without the key
nobody can test guesses of a low-entropy value against it (a plain hash of "20" could be
brute-forced from the dashboard in microseconds). Without a key there is no seal, and
`sensitive` says whether the plan has any sensitive value that `/apply` would then be unable to
check (docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import posixpath
import re
from collections.abc import Mapping
from typing import Any

from msgspec import Struct
from msgspec.structs import replace

from ..models import (
    ChangeKind,
    Diagnostic,
    OutputChange,
    PlanCounts,
    PlanResult,
    ResourceChange,
)
from .plan_landmarks import NO_CHANGES_TEXT, starts_plan_text
from .plan_text import clean

SENSITIVE = "(sensitive value)"
# What `plan` prints after the plan: a rule, then where it saved the plan or that it did not.
_TEXT_END = re.compile(r"(?:Saved the plan to:|Note: You didn't use the -out option)")
# The rule Terraform draws between the parts of its output (the drift, the plan, the note).
RULE = re.compile(r"─{10,}")
_TAIL = 12  # that note is in the last lines of the output


def kind_of(actions: list[str]) -> ChangeKind:
    if sorted(actions) == ["create", "delete"]:
        return ChangeKind.REPLACE
    if len(actions) == 1:
        try:
            return ChangeKind(actions[0])
        except ValueError:
            pass
    return ChangeKind.NOOP


def mask(value: Any, sensitive: Any) -> Any:
    """`value` with every part that `sensitive` (Terraform's *_sensitive mirror) marks hidden."""
    if sensitive is True:
        return SENSITIVE
    if isinstance(value, dict) and isinstance(sensitive, dict):
        return {k: mask(v, sensitive.get(k, False)) for k, v in value.items()}
    if isinstance(value, list) and isinstance(sensitive, list):
        return [mask(v, sensitive[i] if i < len(sensitive) else False) for i, v in enumerate(value)]
    return value


def _masked_change(change: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "actions": change.get("actions", []),
        "before": mask(change.get("before"), change.get("before_sensitive", False)),
        "after": mask(change.get("after"), change.get("after_sensitive", False)),
        "after_unknown": change.get("after_unknown"),
        "importing": change.get("importing") is not None,
    }


def _sensitive_parts(value: Any, sensitive: Any, path: str) -> list[tuple[str, Any]]:
    """(path, value) of every part of `value` that `sensitive` marks, in a stable order."""
    if sensitive is True:
        return [(path, value)]
    found: list[tuple[str, Any]] = []
    if isinstance(value, dict) and isinstance(sensitive, dict):
        for key in sorted(value):
            found += _sensitive_parts(value[key], sensitive.get(key, False), f"{path}.{key}")
    elif isinstance(value, list) and isinstance(sensitive, list):
        for i, item in enumerate(value):
            found += _sensitive_parts(
                item, sensitive[i] if i < len(sensitive) else False, f"{path}[{i}]"
            )
    return found


def sensitive_values(plan_json: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Every sensitive value among the plan's effective changes, by where it sits: what
    `fingerprint` masks, and what `seal` covers."""
    found: list[tuple[str, Any]] = []
    entries = [
        (f"resource {e.get('address')}", e.get("change", {}))
        for e in plan_json.get("resource_changes") or []
        if _matters(_resource(e))
    ]
    entries += [
        (f"output {name}", change)
        for name, change in sorted((plan_json.get("output_changes") or {}).items())
        if kind_of(list(change.get("actions", []))) is not ChangeKind.NOOP
    ]
    for where, change in sorted(entries, key=lambda item: item[0]):
        for side in ("before", "after"):
            found += _sensitive_parts(
                change.get(side), change.get(f"{side}_sensitive", False), f"{where} {side}"
            )
    return found


def seal(layer: str, plan_json: Mapping[str, Any], key: bytes) -> str:
    """HMAC-SHA256 (keyed with `INFRA_PLAN_KEY`) of the layer, the fingerprint and every
    sensitive value: equal only for the same plan with the same secrets (see module doc)."""
    canonical = json.dumps(
        {
            "layer": layer,
            "fingerprint": fingerprint(plan_json),
            "sensitive": sensitive_values(plan_json),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        default=str,
    )
    return "hmac-sha256:" + hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def _resource(entry: Mapping[str, Any]) -> ResourceChange:
    change = entry.get("change", {})
    return ResourceChange(
        address=str(entry.get("address", "")),
        kind=kind_of(list(change.get("actions", []))),
        actions=tuple(change.get("actions", [])),
        importing=change.get("importing") is not None,
        moved_from=entry.get("previous_address"),
    )


def _matters(change: ResourceChange) -> bool:
    """A change that apply would make: anything but a no-op or a data read, or a move/import."""
    return (
        change.kind not in (ChangeKind.NOOP, ChangeKind.READ)
        or change.importing
        or change.moved_from is not None
    )


def fingerprint(plan_json: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the plan's effective changes (see module doc)."""
    resources = []
    for entry in plan_json.get("resource_changes") or []:
        if not _matters(_resource(entry)):
            continue
        item = {"address": entry.get("address"), "previous_address": entry.get("previous_address")}
        resources.append({**item, **_masked_change(entry.get("change", {}))})
    outputs = []
    for name, change in sorted((plan_json.get("output_changes") or {}).items()):
        if kind_of(list(change.get("actions", []))) is ChangeKind.NOOP:
            continue
        outputs.append({"name": name, **_masked_change(change)})
    resources.sort(key=lambda r: str(r["address"]))
    canonical = json.dumps(
        {"resources": resources, "outputs": outputs},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def count(changes: list[ResourceChange]) -> PlanCounts:
    kinds = [c.kind for c in changes]
    return PlanCounts(
        add=kinds.count(ChangeKind.CREATE),
        change=kinds.count(ChangeKind.UPDATE),
        destroy=kinds.count(ChangeKind.DELETE),
        replace=kinds.count(ChangeKind.REPLACE),
        import_=sum(c.importing for c in changes),
        move=sum(c.moved_from is not None for c in changes),
    )


def plan_text(stdout: str) -> str:
    """The part of `terraform plan` or `show` output a reviewer reads, in Terraform's colours
    if it has them: no refresh chatter before it, nor the note on the saved plan after it. A
    rule inside stays: it parts the drift Terraform found from the plan. (Lines are judged
    without their colour codes and kept with them; the end is looked for from the back, as a
    plan of 10,000 resources prints 10,000 refresh lines before and 140,000 lines in it.)"""
    lines = stdout.split("\n")
    start = next((i for i, line in enumerate(lines) if starts_plan_text(clean(line))), 0)
    end = len(lines)
    for i in range(len(lines) - 1, max(start, len(lines) - _TAIL) - 1, -1):
        if _TEXT_END.match(clean(lines[i])):
            end = i
            break
    while end > start:
        last = clean(lines[end - 1])
        if last.strip() and not RULE.fullmatch(last):
            break
        end -= 1
    while start < end and not clean(lines[start]).strip():
        start += 1
    return "\n".join(lines[start:end])


def read_plan(
    layer: str,
    plan_json: Mapping[str, Any],
    *,
    text: str,
    diagnostics: tuple[Diagnostic, ...] = (),
    key: bytes | None = None,
) -> PlanResult:
    """The typed PlanResult of one layer's JSON plan; `key` (INFRA_PLAN_KEY) seals it."""
    changes = [_resource(e) for e in plan_json.get("resource_changes") or []]
    effective = [c for c in changes if _matters(c)]
    outputs = tuple(
        OutputChange(
            name=name,
            kind=kind_of(list(change.get("actions", []))),
            sensitive=bool(change.get("before_sensitive") or change.get("after_sensitive")),
        )
        for name, change in sorted((plan_json.get("output_changes") or {}).items())
        if kind_of(list(change.get("actions", []))) is not ChangeKind.NOOP
    )
    drift = tuple(
        c for c in (_resource(e) for e in plan_json.get("resource_drift") or []) if _matters(c)
    )
    return PlanResult(
        layer=layer,
        counts=count(effective),
        resource_changes=tuple(effective),
        output_changes=outputs,
        drift=drift,
        diagnostics=diagnostics,
        fingerprint=fingerprint(plan_json),
        text=text,
        seal=seal(layer, plan_json, key) if key else "",
        sensitive=bool(sensitive_values(plan_json)),
    )


def read_diagnostics(validate_json: Mapping[str, Any]) -> tuple[Diagnostic, ...]:
    """Diagnostics of `terraform validate -json` as typed records."""
    return tuple(_diagnostic(diag) for diag in validate_json.get("diagnostics") or [])


def _diagnostic(diag: Mapping[str, Any]) -> Diagnostic:
    rng = diag.get("range") or {}
    address = diag.get("address")
    return Diagnostic(
        severity=str(diag.get("severity", "error")),
        summary=str(diag.get("summary", "")),
        detail=str(diag.get("detail", "")),
        filename=rng.get("filename"),
        line=(rng.get("start") or {}).get("line"),
        address=str(address) if address else None,
    )


class UiLog(Struct, frozen=True):
    """What a `terraform plan -json` / `apply -json` run said, read from its JSON lines."""

    messages: tuple[str, ...]  # every line's human `@message`, in order (the readable log)
    diagnostics: tuple[Diagnostic, ...]
    summary: str  # the change summary: "Apply complete! Resources: 2 added, 0 changed, ..."
    # Each `resource_drift` line as `show -json` writes its `resource_drift` entries.
    drift: tuple[dict[str, Any], ...] = ()
    # Each `planned_change` line as `show -json` writes its `resource_changes` entries, and
    # the `outputs` line's changes as its `output_changes` (actions and sensitivity; no values).
    changes: tuple[dict[str, Any], ...] = ()
    outputs: tuple[tuple[str, dict[str, Any]], ...] = ()

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def text(self) -> str:
        """The run's output as a person reads it (diagnostics with their whole detail)."""
        return "\n".join(self.messages)


def read_ui_lines(stdout: str) -> UiLog:
    """Terraform's machine-readable UI output (one JSON object a line, `-json`). A line that
    is not JSON (a wrapper such as terragrunt printing its own) is kept as a message."""
    messages: list[str] = []
    diagnostics: list[Diagnostic] = []
    drift: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    outputs: list[tuple[str, dict[str, Any]]] = []
    summary = ""
    for line in stdout.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            item = None
        if not isinstance(item, dict):
            if line.strip():
                messages.append(line)
            continue
        message = str(item.get("@message", ""))
        if item.get("type") == "diagnostic" and isinstance(item.get("diagnostic"), dict):
            diagnostics.append(_diagnostic(item["diagnostic"]))
            detail = diagnostics[-1].detail
            message = f"{message}\n{detail}" if detail else message
        elif item.get("type") == "change_summary":
            summary = message
        elif item.get("type") == "resource_drift" and isinstance(item.get("change"), dict):
            drift.append(_change_entry(item["change"]))
        elif item.get("type") == "planned_change" and isinstance(item.get("change"), dict):
            changes.append(_change_entry(item["change"]))
        elif item.get("type") == "outputs" and isinstance(item.get("outputs"), dict):
            outputs += _output_entries(item["outputs"])
        if message:
            messages.append(message)
    return UiLog(
        tuple(messages), tuple(diagnostics), summary, tuple(drift), tuple(changes), tuple(outputs)
    )


# A `-json` UI change's action as `show -json` spells its `actions` (views/json/change.go).
_UI_ACTIONS = {
    "replace": ["delete", "create"],
    "move": ["no-op"],
    "import": ["no-op"],
    "noop": ["no-op"],
    "remove": ["forget"],
}


def _change_entry(change: Mapping[str, Any]) -> dict[str, Any]:
    """A `resource_drift` or `planned_change` UI line's change in the shape of `show -json`'s
    `resource_drift` and `resource_changes` entries (address, previous address, actions,
    importing): what `read_plan` reads of them, values aside."""
    resource = change.get("resource") or {}
    previous = change.get("previous_resource") or {}
    action = str(change.get("action", ""))
    return {
        "address": resource.get("addr"),
        "previous_address": previous.get("addr"),
        "change": {
            "actions": _UI_ACTIONS.get(action, [action]),
            "importing": change.get("importing"),
        },
    }


def _output_entries(outputs: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The `outputs` UI line's entries in the shape of `show -json`'s `output_changes`: the
    actions and whether the value is sensitive, never the value (an apply's line has it)."""
    found = []
    for name, output in outputs.items():
        if isinstance(output, dict) and output.get("action"):
            action = str(output["action"])
            change = {
                "actions": _UI_ACTIONS.get(action, [action]),
                "after_sensitive": bool(output.get("sensitive")),
            }
            found.append((str(name), change))
    return found


def read_plan_from_ui(
    layer: str, log: UiLog, *, text: str, diagnostics: tuple[Diagnostic, ...] = ()
) -> PlanResult:
    """The PlanResult of a plan with changes from its `-json` UI lines alone, for a caller
    that reads no values (`infra plan` and `infra verify` printing to a terminal or a log):
    the changes, their counts, the output changes and the drift as `read_plan` reads them
    from `show -json`. The lines carry no values, so there is no fingerprint and no seal
    (both ""), and a replace's `actions` are delete, create whichever order Terraform takes."""
    shown = {
        "resource_changes": list(log.changes),
        "output_changes": dict(log.outputs),
        "resource_drift": list(log.drift),
    }
    plan = read_plan(layer, shown, text=text, diagnostics=diagnostics)
    return replace(plan, fingerprint="")


def read_plan_without_changes(
    layer: str,
    log: UiLog,
    *,
    diagnostics: tuple[Diagnostic, ...] = (),
    key: bytes | None = None,
) -> PlanResult:
    """The PlanResult of a plan that `-detailed-exitcode` says has no changes (exit 0), from
    its `-json` UI lines alone. Exit 0 means Terraform's change set is empty (no action but
    no-op, no move, no import, no root output change), so the JSON plan's resource and output
    changes hold nothing `read_plan` counts or fingerprints; its drift is what the UI lines
    report (both filter drifted resources alike). Equal to `read_plan` of `show -json`."""
    drift = {"resource_drift": list(log.drift)}
    return read_plan(layer, drift, text=NO_CHANGES_TEXT, diagnostics=diagnostics, key=key)


def in_repository(diag: Diagnostic, layer_path: str) -> Diagnostic:
    """`diag` with its file named from the repository root: Terraform names it relative to
    the layer's directory (`main.tf`, `../modules/x/main.tf`). A file outside the repository
    (a downloaded module, a runner's temporary directory) keeps its name only, never a path."""
    if not diag.filename:
        return diag
    name = diag.filename.replace("\\", "/")
    if posixpath.isabs(name):
        return _with_file(diag, posixpath.basename(name))
    joined = posixpath.normpath(posixpath.join(layer_path, name))
    if joined.startswith("../") or joined == "..":
        return _with_file(diag, posixpath.basename(name))
    return _with_file(diag, joined.removeprefix("./"))


def _with_file(diag: Diagnostic, filename: str) -> Diagnostic:
    return Diagnostic(diag.severity, diag.summary, diag.detail, filename, diag.line, diag.address)


def diagnostic_text(diag: Diagnostic) -> str:
    """A diagnostic as Terraform's own terminal output puts it, for logs and one-line errors:
    "Error: Resource precondition failed (platform/main.tf:12): the detail"."""
    head = f"{diag.severity.capitalize()}: {diag.summary}"
    if diag.location:
        head += f" ({diag.location})"
    return f"{head}: {diag.detail}" if diag.detail else head


def ui_line_text(line: str) -> str:
    """One `-json` UI line as a person reads it in the job log (its `@message`, and a
    diagnostic's detail); anything that is not a JSON object stays as it is."""
    try:
        item = json.loads(line)
    except ValueError:
        return line
    if not isinstance(item, dict):
        return line
    if item.get("type") == "diagnostic" and isinstance(item.get("diagnostic"), dict):
        return diagnostic_text(_diagnostic(item["diagnostic"]))
    return str(item.get("@message", line))
