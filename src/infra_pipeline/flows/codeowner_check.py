"""`codeowners: true` at `/apply`: which target layers lack an approval by a code owner of
their directory. CODEOWNERS comes from the pull request's base commit (the PR's own copy could
name its author), read once per `/apply`, from the checkout when it has that commit; the rules
are `core/codeowners`."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from ..adapters.base_config import checkout_path, repo_path
from ..adapters.codeowners import TeamMembers, read_codeowners
from ..config import CONFIG_NAME, Role
from ..core import codeowners as co
from ..core.gate import Refusal
from ..core.github_models import PullRequest, Review
from ..core.unit_reads import repo_path as normalised
from .session import Session

_WRITE = Role.WRITE.rank


def codeowner_refusals(
    s: Session, pr: PullRequest, reviews: Sequence[Review], targets: Sequence[str]
) -> dict[str, Refusal]:
    """Each target that needs a code owner's approval and has none, with why."""
    wanted = [name for name in targets if s.config.codeowners_for(name)]
    if not wanted:
        return {}
    checkout = checkout_path(s.config.source or s.config.root / CONFIG_NAME)[0]
    codeowners = read_codeowners(s.github, pr.base_sha, checkout)
    if codeowners is not None:
        for skipped in codeowners.skipped:
            s.console.print(f"infra: {codeowners.path}: skipped {skipped}", markup=False)
    approved_by = co.approvers(reviews, pr)
    # GitHub counts a code owner's approval only from someone who may write to the repository.
    readers = [u for u in approved_by if Role.of(s.github.get_permission(u)).rank < _WRITE]
    writers = [login for login in approved_by if login not in readers]
    teams = TeamMembers(s.github)
    refused: dict[str, Refusal] = {}
    for name in wanted:
        directory = _directory(s, name)
        rule = None if codeowners is None else co.rule_for(codeowners, directory)
        verdict = None
        if rule is not None and rule.owners:
            # Teams are asked for only when a user owner's approval does not already do.
            verdict = co.decide(rule, writers, {})
            if not verdict.met and co.teams_of(rule):
                verdict = co.decide(rule, writers, teams.resolve(co.teams_of(rule)))
            if verdict.met:
                s.console.print(
                    f"infra: `{name}`: approved by code owner {verdict.by}", markup=False
                )
                continue
        shown = directory or "."
        text = co.refusal_text(
            name,
            shown,
            codeowners,
            rule,
            verdict,
            approved_by,
            base_sha=pr.base_sha,
            head_sha=pr.head_sha,
            readers=readers,
        )
        refused[name] = Refusal(text)
    return refused


def _directory(s: Session, layer: str) -> str:
    """The layer's directory from the repository root ("" for the root itself)."""
    source = s.config.source or s.config.root / CONFIG_NAME
    prefix = posixpath.dirname(repo_path(source))
    joined = posixpath.join(prefix, s.config.layers[layer].path)
    return normalised(joined) or ""
