"""Plan text for Markdown: cleaned, shortened to a budget, and shown as a `diff` block.

A `diff` block gets GitHub's red/green highlighting from the first character of each line, while
Terraform indents its `+`/`~`/`-` markers. `to_diff` moves a line's Terraform symbol to the
front and leaves a space in its place (`      + id` becomes `+        id`; `~` shows as `!`,
which GitHub colours as a change), so each line shows one marker; any other line gets a blank
first column. So every line moves one column right and the plan keeps Terraform's alignment: a
closing brace stays under its `resource`, an unchanged attribute beside the changed ones. The
conversion is exactly reversible (`from_diff`), which is what lets the dashboard keep plan text
in the visible details only, not a second time in its state. (Dashboards of state v2 moved the
symbol into its indentation, so only the symbol lines kept their columns: `from_diff_v2`; state
v1 put a marker column in front of every line: `from_diff_v1`.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

# Terraform's action symbols at the start of a (indented) line, longest first.
_SYMBOL: Final = re.compile(r"\s*(-/\+|\+/-|<=|[-+~])(?: |$)")
_MARKERS: Final = {"+": "+", "-": "-", "~": "!", "-/+": "-", "+/-": "-", "<=": " "}
MARKERS: Final = frozenset("+-! ")
_ANSI: Final = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BACKTICKS: Final = re.compile(r"`+")


def clean(text: str) -> str:
    """Plan output as a comment can hold it: one kind of newline, no colour codes, no control
    characters (GitHub would mangle `\\r`, and a NUL ends some renderers' input)."""
    text = _ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def one_line(text: str, limit: int) -> str:
    """`text` squeezed onto one line of at most `limit` characters."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def size(text: str) -> int:
    """Length as GitHub counts it for its comment limit, erring high: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


# A symbol line that moves exactly: spaces, the symbol, then nothing or one space and text.
_MOVABLE: Final = re.compile(r"( *)(-/\+|\+/-|[-+~])((?: \S.*)?)", re.DOTALL)
# What each symbol shows as, as wide as the symbol; `~` as `!`, which GitHub colours.
_SHOWN: Final = {"-/+": "-/+", "+/-": "+/-", "+": "+", "-": "-", "~": "!"}
_SHOWN_BACK: Final = {shown: symbol for symbol, shown in _SHOWN.items()}


def to_diff(text: str) -> list[str]:
    """The lines of `text` for a `diff` block, each with one marker (see the module doc)."""
    lines = []
    for line in text.split("\n"):
        match = _MOVABLE.fullmatch(line)
        if match is None:
            lines.append(" " + line)
        else:
            indent, symbol, rest = match.groups()
            lines.append(_SHOWN[symbol] + indent + " " + rest)
    return lines


def from_diff(lines: list[str]) -> str:
    """The inverse of `to_diff`; ValueError for a line `to_diff` cannot have written."""
    return _back(lines, _line_back)


def from_diff_v2(lines: list[str]) -> str:
    """The inverse of state v2's `to_diff`, which left no space where the symbol was."""
    return _back(lines, _line_back_v2)


def _back(lines: list[str], line_back: Callable[[str], str]) -> str:
    if not lines:
        raise ValueError("not a plan block: no lines")
    return "\n".join(line_back(line) for line in lines)


def _split(line: str) -> tuple[str, str, int]:
    """A marked line as (Terraform's symbol, what follows the marker, its leading spaces)."""
    shown = line[:3] if line[:3] in ("-/+", "+/-") else line[:1]
    if shown not in _SHOWN_BACK:
        raise ValueError("not a plan block: every line starts with one of + - ! or a space")
    body = line[len(shown) :]  # the symbol's indentation, its place, then its text
    return _SHOWN_BACK[shown], body, len(body) - len(body.lstrip(" "))


def _line_back(line: str) -> str:
    if line.startswith(" "):
        return line[1:]
    symbol, body, spaces = _split(line)
    if spaces == len(body) and spaces:  # the symbol alone on its line
        return body[:-1] + symbol
    if spaces < 2:
        raise ValueError("not a plan block: a marker stuck to its text")
    return body[: spaces - 2] + symbol + body[spaces - 1 :]


def _line_back_v2(line: str) -> str:
    if line.startswith(" "):
        return line[1:]
    symbol, body, spaces = _split(line)
    if spaces == len(body):
        return body + symbol
    if spaces == 0:
        raise ValueError("not a plan block: a marker stuck to its text")
    return body[: spaces - 1] + symbol + body[spaces - 1 :]


def from_diff_v1(lines: list[str]) -> str:
    """The inverse of state v1's encoding: a marker column in front of every whole line."""
    if not lines or any(not line or line[0] not in MARKERS for line in lines):
        raise ValueError("not a plan block: every line starts with one of + - ! or a space")
    return "\n".join(line[1:] for line in lines)


def fence_for(lines: list[str]) -> str:
    """A backtick fence longer than any backtick run inside, so no line can close it."""
    longest = max((len(run) for line in lines for run in _BACKTICKS.findall(line)), default=0)
    return "`" * max(3, longest + 1)


def diff_cost(text: str) -> int:
    """Characters `text` takes as a diff block's lines (marker and newline included)."""
    return size(text) + 2 * (text.count("\n") + 1)


def trim(text: str, budget: int, where: str = "the job summary") -> str:
    """`text` cut to at most `budget` (as `diff_cost` counts) by keeping its head and tail
    around one line saying how much was left out and where the full output is."""
    if diff_cost(text) <= budget:
        return text
    lines = text.split("\n")
    half = max(budget - 120, 0) // 2
    head: list[str] = []
    used = 0
    for line in lines:
        cost = size(line) + 2
        if used + cost > half:
            if not head:  # one huge first line: keep its start
                head.append(_cut(line, max(half - 3, 0)))
            break
        head.append(line)
        used += cost
    tail: list[str] = []
    used = 0
    for line in reversed(lines[len(head) :]):
        cost = size(line) + 2
        if used + cost > half:
            break
        tail.append(line)
        used += cost
    tail.reverse()
    omitted = len(lines) - len(head) - len(tail)
    what = f"{omitted:,} lines omitted" if omitted else "shortened"
    note = f"… {what}: full output in {where} …"
    return "\n".join([*head, note, *tail])


_CUT_NOTE: Final = re.compile(r"… (?:[\d,]+ lines omitted|shortened): full output in .+ …")


def is_cut_of(shown: str, full: str) -> bool:
    """Whether `shown` is `full`, or what `trim` makes of it: a head and a tail of its lines
    around one "… omitted …" note (the head's last line possibly cut short with "…")."""
    if shown == full:
        return True
    lines, whole = shown.split("\n"), full.split("\n")
    notes = [i for i, line in enumerate(lines) if _CUT_NOTE.fullmatch(line)]
    if len(notes) != 1:
        return False
    head, tail = lines[: notes[0]], lines[notes[0] + 1 :]
    if len(head) + len(tail) > len(whole) or (tail and whole[-len(tail) :] != tail):
        return False
    if head and head[-1].endswith("…") and not whole[len(head) - 1].startswith(head[-1][:-1]):
        return False
    exact = head[:-1] if head and head[-1].endswith("…") else head
    return whole[: len(exact)] == exact


def _cut(line: str, limit: int) -> str:
    out = []
    used = 0
    for char in line:
        used += size(char)
        if used > limit:
            break
        out.append(char)
    return "".join(out) + "…"
