"""The lines that mark the parts of Terraform's human plan output: where the part people read
starts, the `Plan:` summary, and what a plan without changes says.

The progress log goes by them while Terraform still prints (`Chatter`); the readers of the
finished output (`plan_reader`, `plan_human`) go by them too. They are a module of their own
so that the Terraform adapter can start its first command without importing those readers,
which it needs only once Terraform has printed a plan.
"""

from __future__ import annotations

import re
from typing import Final

from .plan_text import clean

NO_CHANGES_TEXT: Final = "No changes. Your infrastructure matches the configuration."
# OpenTofu says "OpenTofu" where Terraform says "Terraform".
_TEXT_START: Final = re.compile(
    r"(?:Terraform|OpenTofu) used the selected providers|(?:Terraform|OpenTofu) will perform"
    r"|Note: Objects have changed"
    r"|No changes\.|Changes to Outputs:"
)
SUMMARY: Final = re.compile(
    r"^Plan: (?:(?P<import>\d+) to import, )?(?P<add>\d+) to add, (?P<change>\d+) to change, "
    r"(?P<destroy>\d+) to destroy",
    re.MULTILINE,
)


def starts_plan_text(line: str) -> bool:
    """Whether `line` (no colour codes) is the first of what `plan_reader.plan_text` keeps."""
    return _TEXT_START.match(line) is not None


class Chatter:
    """Which lines of a plan's human output go to the progress log as they come: what comes
    before the plan (refreshing, reading, errors) and Terraform's `Plan:` line, not the plan
    itself, which is printed whole when it ends."""

    def __init__(self) -> None:
        self._in_plan = False

    def keep(self, line: str) -> bool:
        text = clean(line)
        if SUMMARY.match(text) or text.startswith("No changes."):
            return True
        if not self._in_plan and starts_plan_text(text):
            self._in_plan = True
        return not self._in_plan
