"""What a migration says about each setting it read: translated, or not carried and why."""

from __future__ import annotations

from msgspec import Struct

REPOSITORY = "repository"  # the subject of notes about repo-level settings


class Note(Struct, frozen=True):
    subject: str  # REPOSITORY, or a project's name
    setting: str  # the Atlantis setting, e.g. "workspace: staging"
    outcome: str  # what infra does instead, or why nothing does
    equivalent: bool  # True: translated; False: no equivalent


class Notes(list[Note]):
    def same(self, subject: str, setting: str, outcome: str) -> None:
        self.append(Note(subject, setting, outcome, equivalent=True))

    def lost(self, subject: str, setting: str, why: str) -> None:
        self.append(Note(subject, setting, why, equivalent=False))
