"""The I/O half of `codeowners: true` (the rules are `core/codeowners`): CODEOWNERS read from
the pull request's base commit (from the checkout's object store when it has that commit,
else through the contents API), and team members through GitHub's teams API, each team read
at most once per job."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..core.codeowners import LOCATIONS, CodeOwners, parse
from . import git_files
from .base_config import FilesAtRef


class _Teams(Protocol):
    def list_team_members(self, org: str, team_slug: str) -> list[str] | None: ...


def read_codeowners(
    github: FilesAtRef, ref: str, checkout: Path | None = None
) -> CodeOwners | None:
    """The CODEOWNERS GitHub uses at commit `ref`: the first of `LOCATIONS` that exists. Read
    from `checkout` (the root of a git checkout) when it has the commit, else from GitHub."""
    for path in LOCATIONS:
        local = None if checkout is None else git_files.file_at(checkout, ref, path)
        text = github.get_file(path, ref) if local is None else local.text
        if text is not None:
            return parse(text, path)
    return None


class TeamMembers:
    """Members of `org/slug` teams (lower-case logins), or None for a team the token cannot
    read; each team is asked for once."""

    def __init__(self, github: _Teams) -> None:
        self._github = github
        self._known: dict[tuple[str, str], frozenset[str] | None] = {}

    def resolve(self, teams: list[tuple[str, str]]) -> dict[tuple[str, str], frozenset[str] | None]:
        for org, slug in teams:
            key = (org.lower(), slug.lower())
            if key not in self._known:
                members = self._github.list_team_members(org, slug)
                self._known[key] = (
                    None if members is None else frozenset(m.lower() for m in members)
                )
        return {(org, slug): self._known[(org.lower(), slug.lower())] for org, slug in teams}
