"""A plan read back from Terraform's human output, for `infra plan` printing to a terminal or
a log: one Terraform process per layer (`plan -out`, whose output is the text people read),
where a plan with changes took two (its `-json` lines gave the changes, a `show` of the
planfile the text).

What is read is what `read_plan_from_ui` reads from the `-json` lines, from the lines
Terraform's renderer writes (the same in OpenTofu):

    # terraform_data.a will be created             # terraform_data.b must be replaced
    + resource "terraform_data" "a" {            -/+ resource "terraform_data" "b" {

a header per resource instance (its address, then what happens to it; a second `# (...)`
line says where it moved or was imported from), the symbol of the line after a replace's
header (`-/+` or `+/-`: which half comes first), the `Changes to Outputs:` lines, and the
`Note: Objects have changed outside of ...` section. That section lists the drift that bears
on the plan, as Terraform chose to print it; the `-json` lines list all of it (`infra verify`
reads those).

This output is written for people, so the reading checks itself: the counts it read must be
the ones of Terraform's own `Plan: ...` line, and a plan with changes must show some. When
they are not, `read_human_plan` gives None and the caller reads the planfile's JSON instead.
"""

from __future__ import annotations

import re
from typing import Any, Final

from msgspec.structs import replace

from ..models import Diagnostic, PlanCounts, PlanResult
from .plan_landmarks import SUMMARY
from .plan_reader import RULE, SENSITIVE, read_plan

_ENGINE: Final = r"(?:Terraform|OpenTofu)"
# Terraform and OpenTofu word a `removed` block's `destroy = false` each their own way.
_FORGOTTEN: Final = (
    rf"will no longer be managed by {_ENGINE}(?:, but will not be destroyed)?"
    rf"|will be removed from the {_ENGINE} state but will not be destroyed"
)
_FORGOTTEN_WHAT: Final = re.compile(_FORGOTTEN)
# A resource instance's address: names and dots, and index keys in brackets, whose strings
# (quoted, escaped) may hold anything, the renderer's own words included.
_ADDRESS: Final = r'(?:[^\s\["]|\[(?:\d+|"(?:[^"\\]|\\.)*")\])+'
_HEADER: Final = re.compile(
    rf" {{0,2}}# (?P<address>{_ADDRESS})(?: \(deposed object \w+\))? (?P<what>"
    r"will be created|will be destroyed|will be updated in-place|must be replaced"
    r"|is tainted, so (?:it )?must be replaced|will be replaced, as requested"
    r"|will be read during apply|will be imported"
    rf"|{_FORGOTTEN}"
    rf"|has moved to (?P<moved_to>{_ADDRESS})|has changed|has been deleted)"
)
# The second comment line of a header: where the object was, or what it was imported from.
_MOVED_FROM: Final = re.compile(rf" {{0,2}}# \(moved from (?P<address>{_ADDRESS})\)")
_IMPORTED: Final = re.compile(r" {0,2}# \(imported from .+\)")
_REPLACE_SYMBOL: Final = re.compile(r"(?P<symbol>-/\+|\+/-) ")
_OUTPUT: Final = re.compile(r"  (?P<symbol>[-+~]) (?P<name>[^\s=]+)\s*=(?P<value>.*)")
_DRIFT_START: Final = re.compile(rf"Note: Objects have changed outside of {_ENGINE}")
_CHANGES_START: Final = re.compile(rf"{_ENGINE} will perform the following actions:")
_ACTIONS: Final = {
    "will be created": ["create"],
    "will be destroyed": ["delete"],
    "will be updated in-place": ["update"],
    "will be read during apply": ["read"],
    "will be imported": ["no-op"],
    "has changed": ["update"],
    "has been deleted": ["delete"],
}
_REPLACED: Final = {"-/+": ["delete", "create"], "+/-": ["create", "delete"]}
_OUTPUT_ACTIONS: Final = {"+": ["create"], "~": ["update"], "-": ["delete"]}


class _Unreadable(Exception):
    """The output does not read as the renderer writes a plan."""


def read_human_plan(
    layer: str,
    output: str,
    *,
    text: str,
    diagnostics: tuple[Diagnostic, ...] = (),
    changes: bool = True,
) -> PlanResult | None:
    """The PlanResult of a plan from its human output (no colour codes): equal to what
    `read_plan_from_ui` (`changes`) or `read_plan_without_changes` (not `changes`, as
    `-detailed-exitcode` said) read from the same plan's `-json` lines, but for the drift and
    the fingerprint (see the module doc); None when the output does not read as such a plan."""
    try:
        shown = _Reading().read(output.splitlines())
    except _Unreadable:
        return None
    plan = replace(read_plan(layer, shown, text=text, diagnostics=diagnostics), fingerprint="")
    if not changes:
        return None if plan.has_changes else plan
    summary = SUMMARY.search(output)
    if summary is None:
        # Terraform leaves the line out only when no resource changes: outputs alone.
        readable = not plan.resource_changes and bool(plan.output_changes)
    else:
        counted = _terraform_counts(summary) == _counts_as_terraform(plan.counts)
        readable = counted and plan.has_changes
    return plan if readable else None


class _Reading:
    """One pass over the lines, into the `show -json` shape of what they say (addresses and
    actions, no values), so that `read_plan` reads it as it reads Terraform's JSON."""

    def __init__(self) -> None:
        self.changes: list[dict[str, Any]] = []
        self.drift: list[dict[str, Any]] = []
        self.outputs: dict[str, dict[str, Any]] = {}
        self.section = ""
        self.entry: dict[str, Any] | None = None  # the resource a next line may complete

    def read(self, lines: list[str]) -> dict[str, Any]:
        for line in lines:
            self._line(line)
        return {
            "resource_changes": self.changes,
            "output_changes": self.outputs,
            "resource_drift": self.drift,
        }

    def _line(self, line: str) -> None:
        if self.entry is None and line.startswith("    "):
            return  # inside a block: most of a large plan's lines, and nothing to read
        if _DRIFT_START.match(line):
            self.section, self.entry = "drift", None
        elif _CHANGES_START.match(line):
            self.section, self.entry = "changes", None
        elif line == "Changes to Outputs:":
            self.section, self.entry = "outputs", None
        elif RULE.match(line) or SUMMARY.match(line):
            self.section, self.entry = "", None
        elif self.section == "outputs":
            self._output(line)
        elif self.section == "changes":
            self._resource(line, self.changes)
        elif self.section == "drift":
            self._resource(line, self.drift)

    def _output(self, line: str) -> None:
        if line and not line.startswith(" "):
            self.section = ""  # the section ends where Terraform's next paragraph starts
            return
        found = _OUTPUT.fullmatch(line)
        if found is not None:
            sensitive = found["value"].strip().startswith(SENSITIVE)
            actions = _OUTPUT_ACTIONS[found["symbol"]]
            self.outputs[found["name"]] = {"actions": actions, "after_sensitive": sensitive}

    def _resource(self, line: str, into: list[dict[str, Any]]) -> None:
        header = _HEADER.fullmatch(line)
        if header is not None:
            self.entry = _entry(header)
            into.append(self.entry)
            return
        entry, self.entry = self.entry, None
        if entry is None:
            return
        if (moved := _MOVED_FROM.fullmatch(line)) is not None:
            entry["previous_address"] = moved["address"]
            self.entry = entry
        elif _IMPORTED.fullmatch(line):
            entry["change"]["importing"] = {}
            self.entry = entry
        elif line.lstrip().startswith("# ("):
            self.entry = entry  # another note on the object, such as why it is destroyed
        elif not entry["change"]["actions"]:
            # A replace: the symbol that opens its block says which half comes first.
            symbol = _REPLACE_SYMBOL.match(line)
            if symbol is None:
                raise _Unreadable(line)
            entry["change"]["actions"] = list(_REPLACED[symbol["symbol"]])


def _entry(header: re.Match[str]) -> dict[str, Any]:
    what = header["what"]
    change: dict[str, Any] = {"actions": list(_ACTIONS.get(what, []))}
    if header["moved_to"] is not None:
        change["actions"] = ["no-op"]
        return {
            "address": header["moved_to"],
            "previous_address": header["address"],
            "change": change,
        }
    if _FORGOTTEN_WHAT.fullmatch(what):
        change["actions"] = ["forget"]
    if what == "will be imported":
        change["importing"] = {}
    return {"address": header["address"], "change": change}


def _terraform_counts(summary: re.Match[str]) -> tuple[int, int, int, int]:
    return (
        int(summary["import"] or 0),
        int(summary["add"]),
        int(summary["change"]),
        int(summary["destroy"]),
    )


def _counts_as_terraform(counts: PlanCounts) -> tuple[int, int, int, int]:
    """Our counts as Terraform's `Plan:` line counts: a replace is an add and a destroy."""
    return (
        counts.import_,
        counts.add + counts.replace,
        counts.change,
        counts.destroy + counts.replace,
    )
