"""`codeowners: true`: an `/apply` of a layer needs an approval by a code owner of its path.

Pure: the caller fetches CODEOWNERS from the pull request's base commit (never the PR's own
copy, which its author could rewrite to name themselves), the reviews, and the members of
the teams named. This module reads the file as GitHub does and decides.

GitHub's rules, kept here: the file is the first of `.github/CODEOWNERS`, `CODEOWNERS`,
`docs/CODEOWNERS`; each line is a gitignore-style pattern and its owners; the *last* line
whose pattern matches wins, and a matching line with no owners means "no owner". Owners are
`@login`, `@org/team` or an email address, and an owner's approval counts only when they may
write to the repository. GitHub itself rejects `!` negations and `[ ]` ranges; such lines are
skipped here and named.

The layer's path is matched as a directory (`data/prod/`), so a line naming files (`*.tf`,
`/data/prod/*`) does not decide a layer's owners: a layer is owned by a directory pattern.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Final

import pathspec
from msgspec import Struct

from .github_models import PullRequest, Review

LOCATIONS: Final = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
_TEAM = re.compile(r"^@([A-Za-z0-9][A-Za-z0-9-]*)/([A-Za-z0-9_.-]+)$")
_USER = re.compile(r"^@([A-Za-z0-9][A-Za-z0-9-]*(?:\[bot\])?)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class OwnerKind(StrEnum):
    USER = "user"
    TEAM = "team"
    EMAIL = "email"


class Owner(Struct, frozen=True):
    text: str  # as written: @login, @org/team or an email
    kind: OwnerKind

    @property
    def login(self) -> str:
        return self.text.removeprefix("@").lower()

    @property
    def team(self) -> tuple[str, str]:
        """(org, slug) of a team owner."""
        org, slug = self.text.removeprefix("@").split("/", 1)
        return org, slug


class Rule(Struct, frozen=True):
    line: int
    pattern: str
    owners: tuple[Owner, ...]


class CodeOwners(Struct, frozen=True):
    path: str  # where in the repository it was read, e.g. ".github/CODEOWNERS"
    rules: tuple[Rule, ...]
    skipped: tuple[str, ...] = ()  # lines GitHub would reject, each with why


def parse(text: str, path: str) -> CodeOwners:
    """The rules of a CODEOWNERS file, in file order."""
    rules: list[Rule] = []
    skipped: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _uncomment(raw).strip()
        if not line:
            continue
        pattern, *words = _split(line)
        if pattern.startswith("!") or "[" in pattern.replace("\\[", ""):
            skipped.append(f"line {number} `{pattern}`: GitHub does not support `!` or `[ ]`")
            continue
        owners: list[Owner] = []
        for word in words:
            owner = _owner(word)
            if owner is None:
                skipped.append(f"line {number}: `{word}` is not an @login, @org/team or email")
            else:
                owners.append(owner)
        rules.append(Rule(number, pattern, tuple(owners)))
    return CodeOwners(path, tuple(rules), tuple(skipped))


def _uncomment(line: str) -> str:
    """The line up to an unescaped `#` (`\\#` is a literal `#` in a pattern)."""
    out = []
    escaped = False
    for char in line:
        if char == "#" and not escaped:
            break
        escaped = char == "\\" and not escaped
        out.append(char)
    return "".join(out)


def _split(line: str) -> list[str]:
    """Words split on unescaped whitespace (`\\ ` keeps a space in a pattern)."""
    return [w.replace("\\ ", " ") for w in re.split(r"(?<!\\)\s+", line) if w]


def _owner(word: str) -> Owner | None:
    if _TEAM.match(word):
        return Owner(word, OwnerKind.TEAM)
    if _USER.match(word):
        return Owner(word, OwnerKind.USER)
    if _EMAIL.match(word):
        return Owner(word, OwnerKind.EMAIL)
    return None


def rule_for(codeowners: CodeOwners, directory: str) -> Rule | None:
    """The last rule whose pattern matches `directory` (repository-relative; "." is the
    root), or None when no line does."""
    path = "" if directory in ("", ".") else directory.strip("/") + "/"
    found = None
    for rule in codeowners.rules:
        # A pattern is gitignore's: `apps/` is any apps directory, `/apps/` the top one.
        pattern = rule.pattern.replace("\\#", "#")
        if path == "":
            matches = pattern in ("*", "/", "/*", "**", "/**")
        else:
            matches = pathspec.GitIgnoreSpec.from_lines([pattern]).match_file(path)
        if matches:
            found = rule
    return found


def approvers(reviews: Sequence[Review], pr: PullRequest) -> list[str]:
    """Who approves the pull request's current head: each reviewer's latest decisive review
    (as the `approved` requirement reads them) is APPROVED and was given on the head commit.
    The author cannot approve their own pull request."""
    latest: dict[str, Review] = {}
    for review in reviews:
        if review.user != pr.author and review.state in (
            "APPROVED",
            "CHANGES_REQUESTED",
            "DISMISSED",
        ):
            latest[review.user.lower()] = review
    return sorted(
        login
        for login, review in latest.items()
        if review.state == "APPROVED" and review.commit_id == pr.head_sha
    )


class Verdict(Struct, frozen=True):
    met: bool
    by: str = ""  # the owner whose approval counts ("@carol", or "@bob (@acme/dba)")
    unchecked: tuple[str, ...] = ()  # owners that cannot be checked, each with why


def decide(
    rule: Rule,
    approved_by: Sequence[str],
    members: Mapping[tuple[str, str], frozenset[str] | None],
) -> Verdict:
    """Whether one of `approved_by` (logins) owns the path by `rule`. `members` holds each
    team's members (lower-case logins), or None for a team the token cannot read."""
    logins = {login.lower() for login in approved_by}
    unchecked: list[str] = []
    for owner in rule.owners:
        if owner.kind is OwnerKind.USER and owner.login in logins:
            return Verdict(True, f"@{owner.login}")
        if owner.kind is OwnerKind.TEAM:
            team = members.get(owner.team)
            if team is None:
                unchecked.append(
                    f"{owner.text} (a team the workflow's token cannot read: give its "
                    "GitHub App the organization's `members: read`, or list its people)"
                )
                continue
            inside = sorted(logins & team)
            if inside:
                return Verdict(True, f"@{inside[0]} ({owner.text})")
        if owner.kind is OwnerKind.EMAIL:
            unchecked.append(
                f"{owner.text} (an email: GitHub's API does not say whose account it is; "
                "write the @login instead)"
            )
    return Verdict(False, unchecked=tuple(unchecked))


def teams_of(rule: Rule) -> list[tuple[str, str]]:
    return [owner.team for owner in rule.owners if owner.kind is OwnerKind.TEAM]


def refusal_text(
    layer: str,
    directory: str,
    codeowners: CodeOwners | None,
    rule: Rule | None,
    verdict: Verdict | None,
    approved_by: Sequence[str],
    *,
    base_sha: str,
    head_sha: str,
    readers: Sequence[str] = (),
) -> str:
    """Why `layer`'s `codeowners` requirement is not met, and what to do (Markdown)."""
    key = f"`{layer}` requires an approval by a code owner of `{directory}/` (`codeowners`)"
    at = f"at the base commit `{base_sha[:7]}`"
    if codeowners is None:
        return (
            f"{key}, but there is no CODEOWNERS file ({', '.join(LOCATIONS)}) {at}, so no one "
            "can meet it. Add one to the default branch naming the layer's owners "
            f"(e.g. `/{directory}/ @org/team`), or remove `codeowners` from infra.yaml."
        )
    if rule is None or not rule.owners:
        which = (
            f"no line of `{codeowners.path}` {at} matches it"
            if rule is None
            else f"line {rule.line} of `{codeowners.path}` {at} (`{rule.pattern}`) names no owner"
        )
        return (
            f"{key}, but {which}: the layer has no code owner, so no one can meet it. Add a "
            f"line such as `/{directory}/ @org/team` to `{codeowners.path}` on the default "
            "branch (a pattern naming files, such as `*.tf`, does not match a directory), or "
            "remove `codeowners` for this layer."
        )
    owners = ", ".join(owner.text for owner in rule.owners)
    seen = ", ".join(f"@{login}" for login in approved_by) or "none"
    text = (
        f"{key}: its owners by line {rule.line} of `{codeowners.path}` {at} are {owners}. "
        f"Approvals of the head commit `{head_sha[:7]}`: {seen}; none counts as an owner's. Ask an "
        "owner to approve the pull request, then `/apply` again."
    )
    if readers:
        text += (
            f" Not counted: {', '.join(f'@{login}' for login in readers)} (no write access to "
            "the repository; GitHub does not count such a code owner either)."
        )
    if verdict is not None and verdict.unchecked:
        text += " Cannot be checked: " + "; ".join(verdict.unchecked) + "."
    return text
