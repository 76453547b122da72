"""The one gate every text passes on its way out of the job: secrets redacted, size capped.

Text leaves a job in two ways: through the GitHub API (comments, replies, reviews, issues,
commit and deployment statuses) and through the files and log lines GitHub Actions reads
(the job summary, `::error` annotations, `GITHUB_OUTPUT`). Each way has a size limit beyond
which GitHub rejects the write (a 422 for a 65,537-character comment) or drops it (a step
summary over 1 MiB), and each may carry a secret that a test message, a probe or Terraform
quoted. Rather than trusting every caller to remember both, the GitHub client's transport and
the Actions environment writer call `outbound` on every text they send, so no caller can skip
it. The function is pure: the destination says the limit and how to say that text was cut.

A cut keeps the head (where a verdict or a table starts) and says, on its own line, how much
was left out and where the full text is. A trailing HTML comment (the dashboard's
machine-readable state) is kept after the note, so a cut never destroys what the next job
reads back. For the same reason a JSON object inside an HTML comment is redacted value by
value and written back as JSON: masking by pattern over JSON text could unbalance its quotes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Final

from msgspec import Struct

from .plan_text import size
from .redact import redact


class Unit(StrEnum):
    CHARS = "characters"  # as GitHub counts them for comments: UTF-16 code units
    BYTES = "bytes"  # UTF-8, as files are measured


class Limit(Struct, frozen=True):
    """The most a destination takes of a text, in which unit, and where the rest is."""

    most: int
    unit: Unit
    where_full: str  # where the uncut text can be read, for the note; "" for one-line fields


class Destination(StrEnum):
    """Where a text goes; each has GitHub's limit for it."""

    COMMENT = "comment"  # issue/PR comment, reply, the dashboard, a PR review's body
    ISSUE_TITLE = "issue title"
    ISSUE_BODY = "issue body"
    STATUS = "commit status description"
    DEPLOYMENT = "deployment status description"
    SUMMARY = "job summary"
    ANNOTATION = "log annotation"
    OUTPUT = "step output"


LIMITS: Final[dict[Destination, Limit]] = {
    Destination.COMMENT: Limit(65_536, Unit.CHARS, "the job summary and log"),
    Destination.ISSUE_BODY: Limit(65_536, Unit.CHARS, "the job summary and log"),
    Destination.ISSUE_TITLE: Limit(256, Unit.CHARS, ""),
    Destination.STATUS: Limit(140, Unit.CHARS, ""),
    Destination.DEPLOYMENT: Limit(140, Unit.CHARS, ""),
    # GitHub drops a step summary over 1 MiB whole; a job may append several parts, each
    # bounded here, and `ActionsEnv` keeps the file as a whole under it.
    Destination.SUMMARY: Limit(1_024 * 1_024, Unit.BYTES, "the job log"),
    # No documented hard limit, but the checks UI shows little of a long one.
    Destination.ANNOTATION: Limit(4_096, Unit.CHARS, "the job log"),
    Destination.OUTPUT: Limit(1_024 * 1_024, Unit.BYTES, "the job log"),
}

_TRAILER: Final = re.compile(r"\n(<!--[^\n]*-->)\n?\Z")
_FENCE: Final = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.MULTILINE)
_JSON_COMMENT: Final = re.compile(r"(<!-- [^\s{}]+ )(\{[^\n]*\})( -->)")


def outbound(text: str, destination: Destination, secrets: Iterable[str] = ()) -> str:
    """`text` as it may leave the job for `destination`: every known secret value and every
    secret-shaped string masked, then cut to the destination's limit with an honest note."""
    return cap(redact_text(text, secrets), destination)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """`redact`, except that a JSON object in an HTML comment is redacted as JSON."""
    known = tuple(secrets)
    out: list[str] = []
    pos = 0
    for found in _JSON_COMMENT.finditer(text):
        out.append(redact(text[pos : found.start()], known))
        out.append(found.group(1) + _redact_json(found.group(2), known) + found.group(3))
        pos = found.end()
    out.append(redact(text[pos:], known))
    return "".join(out)


def redact_value(value: object, secrets: Iterable[str] = ()) -> object:
    """A JSON value with every string in it redacted (a link, a deployment's payload)."""
    return _walk(value, tuple(secrets))


def _redact_json(payload: str, known: tuple[str, ...]) -> str:
    try:
        data = json.loads(payload)
    except ValueError:
        return redact(payload, known)
    masked = _walk(data, known)
    if masked == data:
        return payload  # byte for byte as written
    text = json.dumps(masked, ensure_ascii=False, separators=(",", ":"))
    # As the writer did: no `<`, `>` or `&` in the payload, so nothing can end the comment.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _walk(value: object, known: tuple[str, ...]) -> object:
    if isinstance(value, str):
        return redact(value, known)
    if isinstance(value, list):
        return [_walk(item, known) for item in value]
    if isinstance(value, dict):
        return {key: _walk(item, known) for key, item in value.items()}
    return value


def annotation(
    level: str, message: str, secrets: Iterable[str] = (), **properties: str | int | None
) -> str:
    """A `::error file=…,line=…,title=…::message` workflow command with the message (and
    title) redacted, capped and escaped as GitHub Actions requires, so that a newline or `::`
    in a message can neither cut it short nor start another command."""
    known = tuple(secrets)
    message = outbound(message, Destination.ANNOTATION, known)
    props = ",".join(
        f"{name}={_escape(outbound(str(value), Destination.ANNOTATION, known), prop=True)}"
        for name, value in properties.items()
        if value is not None and value != ""
    )
    return f"::{level}{' ' + props if props else ''}::{_escape(message)}"


def _escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def cap_to(text: str, destination: Destination, room: int) -> str:
    """`cap`, within `room` instead of the destination's whole limit (what is left of a file
    several writes share, such as the job summary)."""
    limit = LIMITS[destination]
    if measure(text, limit.unit) <= min(room, limit.most):
        return text
    return _cap(text, destination, Limit(max(room, 0), limit.unit, limit.where_full))


def measure(text: str, unit: Unit) -> int:
    return size(text) if unit is Unit.CHARS else len(text.encode("utf-8"))


def cap(text: str, destination: Destination) -> str:
    """`text` cut to `destination`'s limit (unchanged when it fits)."""
    return _cap(text, destination, LIMITS[destination])


def _cap(text: str, destination: Destination, limit: Limit) -> str:
    if measure(text, limit.unit) <= limit.most:
        return text
    if limit.most < 600:  # no room for a useful part and a note
        return _head(text, limit.most - 1, limit.unit) + "…" if limit.most > 0 else ""
    if not limit.where_full:  # a one-line field: no room for a note
        return _head(text, limit.most - 1, limit.unit) + "…"
    trailer = ""
    found = _TRAILER.search(text)
    if found is not None and measure(found.group(1), limit.unit) < limit.most // 2:
        trailer = "\n" + found.group(1)
        text = text[: found.start()]
    total = measure(text, limit.unit)
    # Room for the note and what closes a fence or <details> left open by the cut.
    budget = limit.most - measure(trailer, limit.unit) - 400
    kept = _head(text, budget, limit.unit)
    left_out = total - measure(kept, limit.unit)
    closing = _close_open_blocks(kept)
    note = (
        f"\n\n✂️ Cut: {left_out:,} of {total:,} {limit.unit} left out to stay within GitHub's "
        f"limit for a {destination}; the full output is in {limit.where_full}."
    )
    return kept + closing + note + trailer


def _head(text: str, budget: int, unit: Unit) -> str:
    """The longest start of `text` within `budget`, cut at a line end when one is near."""
    budget = max(budget, 0)
    if unit is Unit.CHARS:
        # UTF-16 units: a character outside the BMP counts twice.
        kept = text[:budget]
        while size(kept) > budget:
            kept = kept[: len(kept) - (size(kept) - budget + 1) // 2 - 1]
    else:
        kept = text.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    line_end = kept.rfind("\n")
    if line_end > len(kept) * 0.9:
        kept = kept[:line_end]
    return kept


def _close_open_blocks(kept: str) -> str:
    """What to append so a cut inside a code fence or a <details> block renders the note as
    text, not as part of the block."""
    closing = ""
    fences = [m.group(1) for m in _FENCE.finditer(kept)]
    opened: str | None = None
    for fence in fences:
        if opened is None:
            opened = fence
        elif fence[0] == opened[0] and len(fence) >= len(opened):
            opened = None
    if opened is not None:
        closing += "\n" + opened
    open_details = kept.count("<details") - kept.count("</details>")
    closing += "\n</details>" * max(open_details, 0)
    return closing
