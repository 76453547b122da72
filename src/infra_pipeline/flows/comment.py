"""`issue_comment` on a pull request: parse, 👀, authorize, run, then 🚀 or 😕.

Results go into the dashboard; refusals and errors get one short reply. Nothing from the
comment reaches a shell: the parser only hands over names from the configured lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from msgspec import Struct
from msgspec.structs import replace
from rich.console import Console

from ..adapters.actions_env import ActionsEnv
from ..adapters.base_config import policy_at
from ..adapters.github.client import GitHub
from ..config import Config, Role
from ..core.comment_parser import Command, CommandName, Ignore, Reply, help_text, parse_comment
from ..core.dashboard import steps as dash
from ..core.gate import Refusal, approve_refusal, authorize, check_base, check_open
from ..core.policy_check import failure_keys
from ..core.review_prompt import LayerSummary
from ..core.webhook_events import IssueCommentEvent
from ..errors import ExitCode, InfraError
from ..models import Outcome
from .force_unlock import force_unlock
from .job import Job
from .pr_apply import Asked, applied_reply, apply_pr, failure_reply, withheld_lines
from .pr_plan import touched_layers, validate_and_plan
from .session import Session


def handle_comment(job: Job, event: IssueCommentEvent) -> int:
    config, github, console = job.config, job.github, job.console
    comment = event.comment
    if not event.issue.is_pull_request:
        console.print("infra: comment on an issue, not a pull request: ignored")
        return ExitCode.OK
    user = comment.user.login
    parsed = parse_comment(
        comment.body or "",
        author=user,
        author_type=comment.user.type,
        layers=list(config.layers),
        suites=list(config.e2e),
        # Atlantis's `-d DIR` means DIR's default workspace: a layer of another workspace
        # of the same directory is named, not found by its path.
        layer_paths={
            name: layer.path
            for name, layer in config.layers.items()
            if layer.env.get("TF_WORKSPACE", "default") == "default"
        },
    )
    if isinstance(parsed, Ignore):
        console.print(f"infra: comment ignored ({parsed.reason})")
        return ExitCode.OK
    comment_id = comment.id
    # The first thing the commenter sees, so first; GitHub answers 404 for a comment deleted
    # before the job ran: a withdrawn command.
    withdrawn = isinstance(parsed, Command) and not github.add_reaction(comment_id, "eyes")
    pr = github.get_pull(event.issue.number)
    # Who may run what is decided by infra.yaml as merged, never by the PR's own copy.
    branch = event.repository.default_branch
    config = policy_at(
        config,
        github,
        branch,
        lambda line: console.print(line, markup=False),
        tip=pr.base_sha if pr.base_ref == branch else None,
    )
    s = Session(replace(job, config=config), pr)
    if isinstance(parsed, Command) and withdrawn:
        s.reply(
            f"🚫 The `{parsed.name.slash}` comment of @{user} was deleted before this job ran, "
            "so nothing was done."
        )
        s.record(user, parsed.name.value, parsed.layers, "refused: comment deleted")
        return ExitCode.FAILURE
    if isinstance(parsed, Command):
        refusal = check_open(pr, parsed.name.value)
        if refusal is not None:  # before the board: nothing is written but the reply
            s.react(comment_id, "confused")
            s.reply(f"🚫 {refusal.reason}")
            s.record(user, parsed.name.value, parsed.layers, f"refused: {refusal.reason}")
            return ExitCode.FAILURE
    if isinstance(parsed, Reply):
        s.react(comment_id, "confused")
        s.reply(parsed.text)
        name = parsed.command.value if parsed.command else "unknown"
        s.record(user, name, [], "refused: invalid command")
        return ExitCode.USAGE
    try:
        with s.board:
            code = _run(s, parsed, user, branch, comment_id, comment.body or "")
    except InfraError as exc:
        s.give_up_running_rows()
        s.react(comment_id, "confused")
        s.reply(
            f"❌ `{parsed.name.slash}` failed: {exc.message}"
            + (f"\n\n{exc.hint}" if exc.hint else "")
        )
        s.record(user, parsed.name.value, parsed.layers, f"error: {exc.message.splitlines()[0]}")
        raise
    except BaseException:
        s.give_up_running_rows()
        s.react(comment_id, "confused")
        raise
    s.react(comment_id, "rocket" if code == ExitCode.OK else "confused")
    return code


def _run(
    s: Session,
    cmd: Command,
    user: str,
    default_branch: str,
    comment_id: int | None = None,
    body: str = "",
) -> int:
    if cmd.name is CommandName.HELP:
        s.reply(help_text(list(s.config.layers), list(s.config.e2e), _permissions(s.config)))
        s.record(user, "help", [], "ok")
        return ExitCode.OK
    role = Role.of(s.github.get_permission(user))
    if cmd.name is CommandName.APPROVE_POLICIES:  # its role is `policies.approvers`
        return _approve_policies(s, user, role, comment_id)
    refusal = authorize(s.config, cmd.name.value, user, role, s.pr)
    if refusal is None and cmd.name is CommandName.APPLY:
        refusal = check_base(s.config, s.pr, default_branch)
    if refusal is not None:
        s.reply(f"🚫 {refusal.reason}")
        s.record(user, cmd.name.value, cmd.layers, f"refused: {refusal.reason}")
        return ExitCode.FAILURE
    if cmd.name is CommandName.APPLY:
        asked = Asked(comment_id, body) if comment_id is not None else None
        return _apply(s, cmd, user, role, asked)
    handler = _HANDLERS[cmd.name]
    return handler(s, cmd, user)


def _plan(s: Session, cmd: Command, user: str) -> int:
    if cmd.all_layers:
        layers = s.config.ordered_layers
    elif cmd.layers:
        layers = [s.config.layers[name] for name in cmd.layers]
        layers.sort(key=lambda layer: layer.order)
    else:
        layers = touched_layers(s)
    code, m = validate_and_plan(s, layers, validate=False)
    result = "ok" if code == ExitCode.OK else "failed"
    s.record(user, "plan", [layer.name for layer in layers], result, fingerprints(m))
    return code


def _apply(s: Session, cmd: Command, user: str, role: Role, asked: Asked | None) -> int:
    named = list(cmd.layers) if cmd.layers else []
    if cmd.all_layers:
        named = []  # `all` means every layer with reviewed changes, as a bare /apply does
    outcome = apply_pr(s, named, user, role, asked)
    layers = [r.layer for r in outcome.runs] or named
    skipped = ""
    if outcome.withheld:
        skipped = "\n\n⏭️ Not applied:\n" + withheld_lines(outcome.withheld)
        s.console.print(
            "infra: not applied: " + ", ".join(name for name, _ in outcome.withheld), markup=False
        )
    if outcome.nothing_to_do:
        s.reply(f"ℹ️ {outcome.nothing_to_do}{skipped}")
        s.record(user, "apply", layers, "ok: nothing to apply")
        return ExitCode.OK
    if outcome.refusal is not None:
        s.reply(f"🚫 {outcome.refusal.reason}")
        s.record(user, "apply", layers, f"refused: {outcome.refusal.reason}")
        return ExitCode.FAILURE
    fingerprints = {r.layer: r.plan.fingerprint for r in outcome.runs if r.plan is not None}
    # A new comment either way: an edited dashboard notifies no one. A held state lock means
    # nothing ran: that reply names the holder and what to do instead.
    locked = any(run.lock is not None for run in outcome.runs)
    s.reply((failure_reply(outcome) if locked else outcome.comment) + skipped)
    if not outcome.ok:
        s.record(user, "apply", layers, "failed", fingerprints)
        return ExitCode.FAILURE
    result = "ok"
    if outcome.withheld:
        result += "; not applied: " + ", ".join(name for name, _ in outcome.withheld)
    s.record(user, "apply", layers, result, fingerprints)
    if outcome.lagging:
        s.reply(applied_reply(outcome))
    if s.config.review.auto:
        _review(s, cmd, user)
    return ExitCode.OK


def _approve_policies(s: Session, user: str, role: Role, comment_id: int | None) -> int:
    """`/approve_policies`: the policy failures shown on this commit's dashboard may be
    applied. Audited; a new commit has a new dashboard, so it needs a new approval."""
    approvers = s.config.policies.approvers if s.config.policies else None
    refusal = approve_refusal(user, role, approvers)
    if refusal is not None:
        s.reply(f"🚫 {refusal.reason}")
        s.record(user, "approve_policies", [], f"refused: {refusal.reason}")
        return ExitCode.FAILURE
    sha7 = s.pr.head_sha[:7]
    m = s.board.load()
    # Every failure shown, blocked or not: approving again replaces an approval on record
    # (one `/apply` could not verify, or one of an earlier plan of this commit).
    failures = failure_keys(m.policy_results) if m is not None else ()
    if m is None or not failures:
        s.reply(f"ℹ️ Nothing to approve: no policy check failed on `{sha7}`.")
        s.record(user, "approve_policies", [], "ok: nothing to approve")
        return ExitCode.OK
    m = s.board.update(lambda m: dash.approve_policies(m, user, role.value, comment_id))
    s.publish(m)
    layers = [r.layer for r in m.policy_results if r.failures]
    listed = "\n".join(f"- {key}" for key in failures)
    s.reply(
        f"✅ @{user} (`{role}`) approved the policy failures of `{sha7}`:\n{listed}\n\n"
        "`/apply` may go ahead on this commit; a new push needs a new approval."
    )
    s.record(user, "approve_policies", layers, "ok: approved " + "; ".join(failures))
    return ExitCode.OK


class StageDone(Struct, frozen=True):
    """How a stage (health, e2e, review) ended, for its dashboard row, reply and audit line."""

    status: dash.Status
    detail: str  # the dashboard row's few words
    reply: str | None  # the PR reply, or None when the stage speaks for itself
    command: str  # as the audit trail names it: `health`, `e2e smoke`, `review`
    result: str  # the audit result: ok, failed, skipped
    exit_code: int


def run_stage(
    s: Session, stage: dash.Stage, user: str, run: Callable[[dash.Dashboard], StageDone]
) -> int:
    """The one shape of /health, /e2e and /review: ⏳ on the dashboard, run, the row's result,
    the reply, the audit line. `run` gets the dashboard as it stood when the stage started."""
    m = s.board.update(lambda m: dash.start_stage(m, stage, s.run_id, s.clock()))
    done = run(m)
    s.board.update(
        lambda m: dash.finish_stage(m, stage, done.status, s.run_id, s.clock(), done.detail)
    )
    if done.reply is not None:
        s.reply(done.reply)
    s.record(user, done.command, [], done.result)
    return done.exit_code


def _health(s: Session, cmd: Command, user: str) -> int:
    from .health import dashboard_cell, render_markdown, run_health

    def run(_: dash.Dashboard) -> StageDone:
        report = run_health(s.config, env=s.env, console=s.console)
        result = "ok" if report.ok else "failed"
        reply = render_markdown(report)
        return StageDone(*dashboard_cell(report), reply, "health", result, report.exit_code)

    return run_stage(s, dash.Stage.HEALTH, user, run)


def _e2e(s: Session, cmd: Command, user: str) -> int:
    from .e2e import dashboard_cell, render_markdown, run_e2e

    def run(_: dash.Dashboard) -> StageDone:
        report = run_e2e(s.config, cmd.suite, env=s.env, console=s.console)
        status, detail = dashboard_cell(report)
        result = "ok" if report.ok else "failed"
        command = f"e2e {report.suite}"
        reply = render_markdown(report)
        return StageDone(status, detail, reply, command, result, report.exit_code)

    return run_stage(s, dash.Stage.E2E, user, run)


def _review(s: Session, cmd: Command | None, user: str) -> int:
    from .review import dashboard_cell, render_markdown, run_review

    def run(m: dash.Dashboard) -> StageDone:
        summaries = [
            LayerSummary(
                name=layer.name,
                counts_short=layer.record.counts.short(),
                destructive=tuple(
                    [f"delete {a}" for a in layer.record.destroys]
                    + [f"replace {a}" for a in layer.record.replaces]
                ),
                plan_excerpt=layer.record.text,
            )
            for layer in m.layers
            if layer.record is not None and layer.record.has_changes
        ]
        result = run_review(
            s.config,
            pr_number=s.pr.number,
            title=s.pr.title,
            layers=summaries,
            touched_layers=[layer.name for layer in m.layers if layer.record is not None],
            github=s.github,
            env=s.env,
            console=s.console,
        )
        status, detail = dashboard_cell(result)
        reply = render_markdown(result) if result.outcome is not Outcome.OK else None
        return StageDone(status, detail, reply, "review", result.outcome.value, result.exit_code)

    return run_stage(s, dash.Stage.REVIEW, user, run)


def review_pr(
    config: Config,
    number: int,
    *,
    env: Mapping[str, str],
    actions: ActionsEnv,
    console: Console,
) -> int:
    """`infra review --pr N`: the same review as `/review`, run by hand or from a workflow."""
    with GitHub.from_env(env) as github:
        pr = github.get_pull(number)
        s = Session(Job(config, env, actions, github, console), pr)
        with s.board:
            return _review(s, None, github.repository)


def _unlock(s: Session, cmd: Command, user: str) -> int:
    locks = s.locks
    if cmd.layers and not cmd.all_layers:
        released = [name for name in cmd.layers if locks.release(name, s.pr.number)]
    else:
        released = locks.release_all(s.pr.number)
    if released:
        s.board.update(lambda m: _clear_locks(m, released))
    if released:
        s.reply("🔓 Released " + ", ".join(f"`{n}`" for n in released) + ".")
    else:
        s.reply("ℹ️ This pull request holds no lock on those layers.")
    s.record(user, "unlock", released, "ok")
    return ExitCode.OK


def _force_unlock(s: Session, cmd: Command, user: str) -> int:
    layer, lock_id = cmd.layers[0], cmd.lock_id or ""
    result = force_unlock(s.config, layer, lock_id, env=s.env, github=s.github)
    if isinstance(result, Refusal):
        s.reply(f"🚫 {result.reason}")
        s.record(user, "force-unlock", [layer], f"refused: {result.reason}")
        return ExitCode.FAILURE
    held = f", which was {result.describe()}" if result.who else f" `{lock_id}`"
    s.reply(
        f"🔓 Released the Terraform state lock of `{layer}`{held}. Comment `/plan {layer}` to "
        "see what the state holds now: an apply that was cut off may have left it half done."
    )
    s.record(user, "force-unlock", [layer], f"ok: released lock {lock_id}{held}")
    return ExitCode.OK


_HANDLERS: Mapping[CommandName, Callable[[Session, Command, str], int]] = {
    CommandName.PLAN: _plan,
    CommandName.HEALTH: _health,
    CommandName.E2E: _e2e,
    CommandName.REVIEW: _review,
    CommandName.UNLOCK: _unlock,
    CommandName.FORCE_UNLOCK: _force_unlock,
}


def _clear_locks(m: dash.Dashboard, layers: list[str]) -> dash.Dashboard:
    for name in layers:
        m = dash.set_lock(m, name, "")
    return m


def _permissions(config: Config) -> dict[str, str]:
    names = ("plan", "apply", "health", "e2e", "review", "unlock", "force-unlock", "help")
    roles = {name: config.role_for(name).value for name in names}
    if config.policies is not None:
        roles["approve_policies"] = config.policies.approvers.value
    return roles


def fingerprints(m: dash.Dashboard) -> dict[str, str]:
    return {layer.name: layer.record.fingerprint for layer in m.layers if layer.record}
