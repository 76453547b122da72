"""Pure checks that stand between a comment and Terraform: who may run what, and whether an
`/apply` would apply exactly what was reviewed. Each returns refusals as values (an expected
"no" is not an error); the caller turns them into one reply."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from msgspec import Struct

from ..config import Config, Role
from .comment_parser import Command, CommandName, parse_comment
from .dashboard.model import Dashboard
from .github_models import Comment, PullRequest, Review
from .policy_check import Approval


class Refusal(Struct, frozen=True):
    reason: str  # Markdown, one or two sentences: what is wrong and what to do


def authorize(
    config: Config, command: str, user: str, role: Role, pr: PullRequest | None
) -> Refusal | None:
    """Permission on the repository, then the fork rule (a plan runs the PR's code with the
    job's secrets, so a fork's PR must not be planned unless the config allows it). A command
    some layer lets a weaker role run passes here with that role; `layer_refusal` then checks
    each layer."""
    needed = config.least_role_for(command)
    if role.rank < needed.rank:
        return Refusal(
            f"@{user} needs the `{needed}` role on this repository to run `/{command}` "
            f"(has `{role}`). Ask a maintainer to run it, or to grant the role."
        )
    if pr is not None and pr.is_fork and not config.allow_forks and command != "help":
        return Refusal(
            f"`/{command}` is refused on pull requests from forks: it would run the fork's code "
            "with this repository's secrets. A maintainer can push the branch to this "
            "repository, or set `allow_forks: true` in infra.yaml."
        )
    return None


def layer_refusal(
    config: Config, command: str, user: str, role: Role, layer: str
) -> Refusal | None:
    """Whether `role` may run `command` on `layer` (its own `permissions`, else the global)."""
    needed = config.role_for_layer(command, layer)
    if role.rank >= needed.rank:
        return None
    own = layer in config.layers and command in config.layers[layer].permissions
    why = f" (`layers.{layer}.permissions`)" if own else ""
    return Refusal(
        f"@{user} needs the `{needed}` role on this repository to run `/{command} {layer}`"
        f"{why} (has `{role}`). Ask someone with that role to run it."
    )


def permitted(
    config: Config, command: str, user: str, role: Role, layers: Sequence[str]
) -> tuple[list[str], dict[str, Refusal]]:
    """`layers` split into those `role` may run `command` on and the refusals of the rest."""
    allowed: list[str] = []
    refused: dict[str, Refusal] = {}
    for name in layers:
        refusal = layer_refusal(config, command, user, role, name)
        if refusal is None:
            allowed.append(name)
        else:
            refused[name] = refusal
    return allowed, refused


def check_open(pr: PullRequest, command: str) -> Refusal | None:
    """Commands act only on open pull requests: on a merged or closed one a lock, a status or
    a deployment would be about code that is not under review any more."""
    if pr.state == "open" or command == "help":
        return None
    what = "merged" if pr.merged else "closed"
    return Refusal(
        f"#{pr.number} is {what}: `/{command}` acts only on open pull requests, so nothing was "
        "done. Open a new pull request for further changes."
    )


def check_base(config: Config, pr: PullRequest, default_branch: str) -> Refusal | None:
    """`/apply` runs for pull requests into the default branch, or a base `apply_bases` (read
    from the default branch) lists: a PR into a branch of the writer's own must not deploy."""
    if pr.base_ref == default_branch or pr.base_ref in config.apply_bases:
        return None
    return Refusal(
        f"`/apply` runs only on pull requests into `{default_branch}`; this one is into "
        f"`{pr.base_ref}`. Retarget it, or list `{pr.base_ref}` in `apply_bases` in "
        f"infra.yaml on `{default_branch}`."
    )


def apply_targets(m: Dashboard | None, named: Sequence[str]) -> list[str]:
    """The layers an `/apply` means: those named, else every layer with reviewed changes."""
    if named:
        return list(named)
    if m is None:
        return []
    return [layer.name for layer in m.pending_changes]


def check_reviewed(m: Dashboard | None, layers: Sequence[str], pr: PullRequest) -> Refusal | None:
    """Every layer must have a successful plan at the PR's current head and base commits."""
    sha7 = pr.head_sha[:7]
    if m is None:
        return Refusal(
            f"There is no plan for the head commit `{sha7}` yet (was a new commit pushed?). "
            "Comment `/plan` and review it first."
        )
    for name in layers:
        record = m.layer(name).record
        if record is None:
            return Refusal(
                f"`{name}` has no successful plan at the head commit `{sha7}`. "
                f"Comment `/plan {name}`, review it, then `/apply {name}`."
            )
        if record.head_sha != pr.head_sha:
            return Refusal(
                f"The plan shown for `{name}` was made at `{record.head_sha[:7]}`, not at the "
                f"head commit `{sha7}`. Comment `/plan {name}` and review it first."
            )
        if record.base_sha != pr.base_sha:
            return Refusal(
                f"The base branch moved since `{name}` was planned (planned against "
                f"`{record.base_sha[:7]}`, now `{pr.base_sha[:7]}`). Comment `/plan` again."
            )
    return None


def check_asked(
    asked: Comment | None,
    sent: str,
    m: Dashboard,
    layers: Sequence[str],
    posted_at: datetime | None,
) -> Refusal | None:
    """Whether the `/apply` comment (`asked`, as GitHub has it now; None when it is gone) can
    have meant the plans about to be applied: a comment only approves what was on the
    dashboard when it was written.

    A job starts seconds or minutes after its comment (a queue, the concurrency group, a
    re-run of an old run); in between a writer may push a new head, whose plan the pipeline
    then shows, or re-plan the same head. So the head's dashboard must have been posted
    (GitHub's clock) and each layer's plan finished (the runner's clock, to the second)
    before the comment was written; and the comment must still exist and say what it said
    (`sent`, the event's copy): a deleted or reworded `/apply` is withdrawn."""
    if asked is None:
        return Refusal(
            "The `/apply` comment was deleted before this job ran, so nothing was applied. "
            "Comment `/apply` again to apply."
        )
    if _lf(asked.body) != _lf(sent):
        return Refusal(
            "The `/apply` comment was edited before this job ran, so nothing was applied: "
            "a command runs as it was written and as it reads now. Comment `/apply` again."
        )
    when = asked.created_at
    sha7 = m.sha7
    if posted_at is not None and posted_at > when:
        return Refusal(
            f"The dashboard of the head commit `{sha7}` was posted after the `/apply` comment "
            f"({_hms(posted_at)} > {_hms(when)}): a new commit was pushed since, and its plan "
            "was not what the comment approved. Review its plan, then comment `/apply` again."
        )
    for name in layers:
        finished = m.layer(name).plan.finished_at
        if finished is not None and _second(finished) > when:
            return Refusal(
                f"The plan of `{name}` at `{sha7}` finished after the `/apply` comment "
                f"({_hms(finished)} > {_hms(when)}), so the comment cannot have approved it. "
                f"Review the plan now shown, then comment `/apply` again."
            )
    return None


def _second(when: datetime) -> datetime:
    """`when` to GitHub's precision (timestamps in whole seconds)."""
    return when - timedelta(microseconds=when.microsecond)


def _hms(when: datetime) -> str:
    return (when if when.tzinfo is None else when.astimezone(UTC)).strftime("%H:%M:%S UTC")


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").strip()


def check_merge_queue(config: Config) -> Refusal | None:
    """With a merge queue that applies after merge, a pull request never applies itself: the
    queue may still drop it, and then live infrastructure would run code `main` never had."""
    if config.merge_queue.enabled and not config.merge_queue.apply_before_merge:
        return Refusal(
            "This repository merges through GitHub's merge queue and applies after merge "
            "(`merge_queue.apply_before_merge: false`): add the pull request to the queue; the "
            "push it makes to the default branch applies the changes."
        )
    return None


def check_requirements(
    config: Config, pr: PullRequest, reviews: Sequence[Review] | None, layer: str | None = None
) -> Refusal | None:
    """`apply_requirements` from infra.yaml: `approved` and/or `mergeable`; with `layer`, only
    those that layer adds to the top-level ones."""
    if layer is None:
        required = config.apply_requirements
        key, who = "apply_requirements", "This repository requires"
    else:
        own = config.apply_requirements_for(layer)
        required = tuple(r for r in own if r not in config.apply_requirements)
        key, who = f"layers.{layer}.apply_requirements", f"`{layer}` requires"
    if "approved" in required:
        latest: dict[str, str] = {}
        for review in reviews or ():
            if review.user != pr.author and review.state in (
                "APPROVED",
                "CHANGES_REQUESTED",
                "DISMISSED",
            ):
                latest[review.user] = review.state
        if "APPROVED" not in latest.values() or "CHANGES_REQUESTED" in latest.values():
            return Refusal(
                f"{who} an approving review before `/apply` "
                f"(`{key}: [approved]`), with no changes requested."
            )
    if "mergeable" in required and pr.mergeable is not True:
        return Refusal(
            f"{who} the pull request to be mergeable before `/apply` "
            f"(`{key}: [mergeable]`): resolve conflicts and failing checks first."
        )
    return None


def check_policies(m: Dashboard | None, layers: Sequence[str], approvers: Role) -> Refusal | None:
    """A plan that failed a policy (`policies:`) is applied only once someone with the
    `approvers` role approved the failures shown on this commit's dashboard."""
    if m is None:
        return None
    blocked = m.policy_blocked(layers)
    if not blocked:
        return None
    shown = "\n".join(f"- {key}" for key in blocked[:10])
    more = f"\n- … and {len(blocked) - 10} more" if len(blocked) > 10 else ""
    return Refusal(
        f"The policy check failed on this commit:\n{shown}{more}\n\nPush a fix, or someone "
        f"with the `{approvers}` role (`policies.approvers`) comments `/approve_policies`; "
        "then `/apply` again."
    )


def approve_refusal(user: str, role: Role, approvers: Role | None) -> Refusal | None:
    """Whether `role` may comment `/approve_policies` (`policies.approvers`)."""
    if approvers is None:
        return Refusal(
            "This repository has no policy checks (`policies` in infra.yaml on the default "
            "branch), so there is nothing to approve."
        )
    if role.rank >= approvers.rank:
        return None
    return Refusal(
        f"@{user} needs the `{approvers}` role on this repository to run `/approve_policies` "
        f"(`policies.approvers`; has `{role}`). Ask someone with that role to approve."
    )


def check_approval(
    approval: Approval,
    comment: Comment | None,
    role: Role,
    approvers: Role,
    pr: int,
    since: datetime | None,
) -> Refusal | None:
    """Whether the `/approve_policies` a dashboard records is one GitHub vouches for: the
    dashboard is a comment a writer can rewrite, so `/apply` re-reads the approving comment
    (on this pull request, by the approver, saying `/approve_policies`) and the approver's
    role today.

    `since` is when this commit's dashboard was posted: an approval written before it was
    for an earlier commit. A comment edited after it was posted is not trusted either, since
    GitHub lets any writer edit anyone's comment (an old comment of a maintainer could be
    rewritten to say `/approve_policies`)."""
    why = ""
    if comment is None:
        why = "its comment is gone"
    elif comment.user.casefold() != approval.login.casefold():
        why = f"its comment is by @{comment.user}, not @{approval.login}"
    elif f"/pull/{pr}#issuecomment-" not in comment.html_url:
        why = "its comment is not on this pull request"
    elif comment.updated_at > comment.created_at:
        why = "its comment was edited after it was posted"
    elif since is not None and comment.created_at < since:
        why = "its comment is older than this commit's dashboard, so it approved an earlier commit"
    elif not _approves(comment):
        why = "its comment does not say `/approve_policies`"
    elif role.rank < approvers.rank:
        why = f"@{approval.login} no longer has the `{approvers}` role (has `{role}`)"
    if not why:
        return None
    return Refusal(
        f"The policy approval on the dashboard cannot be verified ({why}). Someone with the "
        f"`{approvers}` role comments `/approve_policies` again; then `/apply`."
    )


def _approves(comment: Comment) -> bool:
    parsed = parse_comment(
        comment.body, author=comment.user, author_type="User", layers=(), suites=()
    )
    return isinstance(parsed, Command) and parsed.name is CommandName.APPROVE_POLICIES
