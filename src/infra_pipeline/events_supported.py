"""The GitHub events `infra event` acts on, shared by its dispatcher and the shipped workflows.

`templates/ci.yml` triggers on exactly these (a test holds the two together), so a workflow
never wakes a runner for an event the CLI would only log as ignored, and the CLI never waits
for an event the workflow does not send.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Event name → the activity types (`action` in the payload) handled; () means the event has
# no activity types and every occurrence is handled.
HANDLED_EVENTS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "pull_request": ("opened", "synchronize", "reopened", "ready_for_review", "closed"),
        "issue_comment": ("created",),
        "merge_group": ("checks_requested",),
        "push": (),
        "schedule": (),
        "workflow_dispatch": (),
    }
)

# The `command` choices of the workflow_dispatch trigger (its other input is `layer`).
DISPATCH_COMMANDS: tuple[str, ...] = ("plan", "apply", "verify", "health", "e2e", "review")
DISPATCH_INPUTS: tuple[str, ...] = ("command", "layer")


def is_handled(event_name: str, action: str | None) -> bool:
    """Whether `infra event` acts on this event (with this payload `action`, when it has one)."""
    if event_name not in HANDLED_EVENTS:
        return False
    actions = HANDLED_EVENTS[event_name]
    return not actions or action in actions
