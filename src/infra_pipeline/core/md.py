"""Small, safe pieces of GitHub-flavoured Markdown for PR replies."""

from __future__ import annotations

import html
import re


def cell(text: str) -> str:
    """`text` as one table cell: one line, `|` escaped (GFM splits on it even inside code)."""
    return html.escape(" ".join(text.split()), quote=False).replace("|", "\\|")


def code(text: str) -> str:
    """An inline code span that survives backticks inside `text`."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fenced(text: str, lang: str = "") -> str:
    """A fenced code block longer than any backtick run inside `text`."""
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def details(summary: str, body: str) -> str:
    return f"<details><summary>{html.escape(summary)}</summary>\n\n{body}\n\n</details>"
