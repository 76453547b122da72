"""`/apply`: apply exactly what was reviewed, one layer at a time, under the layers' locks."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from msgspec import Struct

from ..adapters.actions_env import require_workspace_at
from ..adapters.deployments import DeploymentRecorder
from ..adapters.locks import Holder, LockState, now_iso
from ..adapters.terminal_ui import progress, results_table
from ..adapters.terraform import TerraformEngine
from ..config import Layer, Role
from ..core.apply_report import apply_comment, apply_summary, stays_locked
from ..core.custom_steps import StepContext
from ..core.dashboard import steps as dash
from ..core.gate import (
    Refusal,
    apply_targets,
    check_approval,
    check_asked,
    check_merge_queue,
    check_policies,
    check_requirements,
    check_reviewed,
    permitted,
)
from ..core.plan_key import plan_key
from ..core.policy_check import unapproved
from ..core.reviewed import check_body, compare
from ..core.state_lock import what_to_do
from ..errors import InfraError
from ..models import LayerRun, Outcome, PlanResult
from .codeowner_check import codeowner_refusals
from .dependencies import layer_graph
from .pipeline import apply_layers, make_engine_factory
from .policy_check import PolicyCheck
from .session import Session


class Asked(Struct, frozen=True):
    """The comment that asked for the `/apply`, as the event carried it."""

    comment_id: int
    body: str


class ApplyOutcome(Struct, frozen=True):
    runs: tuple[LayerRun, ...] = ()
    refusal: Refusal | None = None
    nothing_to_do: str = ""
    # GitHub writes that failed after Terraform applied: the apply stands, the dashboard,
    # statuses or deployments lag until the next command reconciles them.
    lagging: tuple[str, ...] = ()
    comment: str = ""  # what the PR is told when the applies ran (`apply_report`)
    # Layers a bare `/apply` left out (the commenter's role, the layer's own requirements),
    # each with why, for the reply.
    withheld: tuple[tuple[str, Refusal], ...] = ()

    @property
    def ok(self) -> bool:
        return self.refusal is None and all(r.outcome is Outcome.OK for r in self.runs)


def apply_pr(
    s: Session, named: Sequence[str], user: str, role: Role, asked: Asked | None = None
) -> ApplyOutcome:
    """Check that each layer's reviewed plan is current, that the comment `asked` could have
    seen it, and that `role` may apply it; lock, re-plan, compare, apply. Layers named are all
    applied or none; a bare `/apply` leaves out the layers the commenter may not apply and
    says why."""
    # Read every dashboard of the head before `load`, which deletes all but the first.
    shown = _shown(s)
    if isinstance(shown, Refusal):
        return ApplyOutcome(refusal=shown)
    m = s.board.load()
    targets = apply_targets(m, named)
    if m is not None and not named and not targets:
        return ApplyOutcome(nothing_to_do="Nothing to apply: no layer has reviewed changes.")
    targets, withheld = permitted(s.config, "apply", user, role, targets)
    if named and withheld:  # the layers named are applied together or not at all
        return ApplyOutcome(refusal=_withheld_refusal(withheld))
    refusal = (
        _asked(s, asked, m, targets)
        or check_merge_queue(s.config)
        or check_reviewed(m, targets, s.pr)
        or _policies_passed(s, m, targets)
        or _requirements(s, targets, withheld)
    )
    if refusal is None and withheld:
        targets = [name for name in targets if name not in withheld]
        if named or not targets:
            refusal = _withheld_refusal(withheld)
    outcome = partial(ApplyOutcome, withheld=tuple(withheld.items()))
    if refusal is None and m is not None:
        unchanged = [n for n in targets if not m.layer(n).pending_changes]
        targets = [n for n in targets if n not in unchanged]
        if not targets:
            names = ", ".join(f"`{n}`" for n in unchanged)
            return outcome(
                nothing_to_do=f"Nothing to apply: {names} has no reviewed changes left to apply."
            )
    if refusal is None and m is not None:
        # Where the commit stands must allow an apply (no plan or CI running, no failed plan):
        # asked before any lock is taken, so a refusal leaves nothing behind.
        error = dash.start_refusal(m, dash.Event.APPLY_STARTED, s.run_id)
        if error is not None:
            refusal = Refusal(f"{error.message}: {error.hint}" if error.hint else error.message)
    if refusal is not None or m is None:
        return outcome(refusal=refusal)
    require_workspace_at(s.config.root, s.pr.head_sha)
    taken, refusal = _lock(s, targets, user)
    if refusal is not None:
        return outcome(refusal=refusal)
    layers = [s.config.layers[name] for name in targets]
    try:
        s.board.update(lambda m: dash.start_apply(m, targets, s.run_id, s.clock()))
    except BaseException:
        # Another job started something in between (or GitHub failed): nothing was applied,
        # so the locks this attempt took go back.
        for name in taken:
            s.locks.release(name, s.pr.number)
        raise
    lagging: list[str] = []
    runs = _apply(s, layers, shown, lagging, m)
    for run in runs:  # refused or skipped before Terraform applied anything: free the layer
        if run.plan is None and run.layer in taken:
            s.locks.release(run.layer, s.pr.number)
    outcomes = {run.layer: run.outcome for run in runs}
    detail = _detail(runs)
    skip_review = not s.config.review.auto and Outcome.FAILED not in outcomes.values()

    def finish(m: dash.Dashboard) -> dash.Dashboard:
        m = dash.finish_apply(m, outcomes, s.run_id, s.clock(), detail, runs)
        if skip_review:
            # The state machine passes through the review after an apply; without
            # `review.auto` the commit is ready to merge and the row says how to ask for one.
            m = dash.finish_stage(
                m,
                dash.Stage.REVIEW,
                dash.Status.SKIPPED,
                None,
                s.clock(),
                "review.auto is off: comment /review",
            )
        return m

    try:
        m = s.board.update(finish)
    except InfraError as exc:
        if not any(_applied(run) for run in runs):
            raise
        # Terraform applied: that is the truth to report, whatever GitHub said about the
        # dashboard. The next command reconciles it (`_already_applied`).
        lagging.append(f"the dashboard: {exc.message}")
    else:
        s.publish(m)
    s.actions.append_summary(apply_summary(runs))
    for what in lagging:
        s.console.print(f"::warning::applied, but a GitHub write failed: {what}", markup=False)
    comment = apply_comment(runs, m, s.actions.run_url)
    return outcome(runs=tuple(runs), lagging=tuple(lagging), comment=comment)


def _applied(run: LayerRun) -> bool:
    return run.outcome is Outcome.OK and run.plan is not None and run.plan.has_changes


def applied_reply(outcome: ApplyOutcome) -> str:
    """The reply of an apply that worked while GitHub lost some of what it was told."""
    names = ", ".join(f"`{run.layer}`" for run in outcome.runs if _applied(run))
    return (
        f"✅ Applied {names or 'the reviewed plans'}. Some GitHub writes failed afterwards ("
        + "; ".join(outcome.lagging)
        + "), so the dashboard and the `infra/apply` status may lag: the next command (e.g. "
        "`/plan`) brings them up to date from what it can verify."
    )


def _requirements(
    s: Session, targets: Sequence[str], withheld: dict[str, Refusal]
) -> Refusal | None:
    """The top-level `apply_requirements` (a refusal of the whole `/apply`), then each
    target's own and its `codeowners`, whose failures join `withheld`."""
    wanted = {r for name in targets for r in s.config.apply_requirements_for(name)}
    owned = any(s.config.codeowners_for(name) for name in targets)
    if not wanted and not owned:
        return None
    pr = s.github.get_pull(s.pr.number)  # fresh: `mergeable` is computed lazily by GitHub
    reviews = s.github.list_reviews(pr.number) if "approved" in wanted or owned else None
    refusal = check_requirements(s.config, pr, reviews)
    if refusal is not None:
        return refusal
    for name in targets:
        refusal = check_requirements(s.config, pr, reviews, name)
        if refusal is not None:
            withheld[name] = refusal
    if owned:
        unowned = [name for name in targets if name not in withheld]
        withheld.update(codeowner_refusals(s, pr, reviews or [], unowned))
    return None


def _withheld_refusal(withheld: dict[str, Refusal]) -> Refusal:
    if len(withheld) == 1:
        return next(iter(withheld.values()))
    return Refusal("Nothing was applied:\n" + withheld_lines(tuple(withheld.items())))


def withheld_lines(withheld: Sequence[tuple[str, Refusal]]) -> str:
    """One Markdown bullet per layer left out, with why."""
    return "\n".join(f"- `{name}`: {refusal.reason}" for name, refusal in withheld)


def _shown(s: Session) -> list[dash.Dashboard] | Refusal:
    """Every dashboard of the head, each one checked to show what its state says; `/apply`
    compares the fresh plan with all of them, so a second dashboard cannot show the reviewer
    something else than the one the pipeline reads."""
    models: list[dash.Dashboard] = []
    for shown in s.board.shown():
        checked = check_body(shown, s.pr.head_sha)
        if isinstance(checked, str):
            return Refusal(
                f"`/apply` cannot trust what the dashboard of `{s.pr.head_sha[:7]}` shows: "
                f"{checked}. Comment `/plan` to have the pipeline write it afresh, review it, "
                "then `/apply`."
            )
        models.append(checked)
    return models


def _asked(
    s: Session, asked: Asked | None, m: dash.Dashboard | None, targets: Sequence[str]
) -> Refusal | None:
    """`check_asked` on the comment as GitHub has it now (re-read: it may be gone or edited)."""
    if asked is None or m is None:
        return None
    comment = s.github.find_issue_comment(asked.comment_id)
    return check_asked(comment, asked.body, m, targets, s.board.posted_at)


def _lock(s: Session, targets: Sequence[str], user: str) -> tuple[list[str], Refusal | None]:
    """Take every target's lock or none: a refusal releases what this attempt took. Returns
    the layers this attempt newly locked."""
    holder = Holder(
        pr=s.pr.number,
        user=user,
        at=now_iso(s.clock()),
        run_url=s.actions.run_url,
        sha=s.pr.head_sha,
    )
    taken: list[str] = []
    locks = s.locks
    for name in targets:
        result = locks.acquire(name, holder, base_sha=s.pr.head_sha)
        if result.state is LockState.ACQUIRED:
            taken.append(name)
        if not result.ok:
            for layer in taken:
                locks.release(layer, s.pr.number)
            note = result.holder.short
            s.board.update(partial(_show_lock, layer=name, note=note))
            return [], Refusal(
                result.holder.describe(name)
                + ". Plans still run; `/apply` waits until that PR is merged or closed, "
                f"or until it comments `/unlock {name}`."
            )
    return taken, None


def _show_lock(m: dash.Dashboard, *, layer: str, note: str) -> dash.Dashboard:
    return dash.set_lock(m, layer, note)


def _policies_passed(
    s: Session, m: dash.Dashboard | None, targets: Sequence[str]
) -> Refusal | None:
    if s.config.policies is None:
        return None
    approvers = s.config.policies.approvers
    refusal = check_policies(m, targets, approvers)
    if refusal is not None or m is None or m.policy_approval is None:
        return refusal
    approval = m.policy_approval
    if not any(r.failures for r in m.policy_results if r.layer in targets):
        return None  # nothing the approval is needed for
    comment = None
    if approval.comment_id is not None:
        try:
            comment = s.github.get_issue_comment(approval.comment_id)
        except InfraError:
            comment = None
    role = _role(s.github.get_permission(approval.login))
    return check_approval(approval, comment, role, approvers, s.pr.number, s.board.posted_at)


def _apply(
    s: Session,
    layers: Sequence[Layer],
    shown: Sequence[dash.Dashboard],
    lagging: list[str],
    m: dash.Dashboard,
) -> list[LayerRun]:
    deployments = DeploymentRecorder(s.github, sha=s.pr.head_sha, run_url=s.actions.run_url)
    keyed = plan_key(s.env) is not None
    policies = PolicyCheck(s.config, s.github)

    def plan_for(layer: Layer, engine: TerraformEngine) -> PlanResult:
        fresh = engine.plan()
        record = dash.plan_record(fresh, head_sha=s.pr.head_sha, base_sha=s.pr.base_sha)
        diffs = [d for m in shown for d in compare(m, layer.name, record, keyed=keyed)]
        if diffs and _already_applied(s, layer.name, shown, fresh):
            s.console.print(
                f"infra: `{layer.name}` was already applied at {s.pr.head_sha[:7]} (its "
                "deployment exists and a fresh plan has no changes): the dashboard catches up",
                markup=False,
            )
            return fresh  # no changes: nothing is applied, the layer is recorded as applied
        if diffs:
            raise InfraError(
                f"the plan for `{layer.name}` changed since it was reviewed: "
                + "; ".join(dict.fromkeys(diffs)),
                f"comment `/plan {layer.name}`, review the new plan, then `/apply` again",
            )
        if policies.enabled:
            # The policies judge the plan about to be applied, not what the (editable)
            # dashboard says they found.
            verdict = dash.shown_policy(policies.check(fresh))
            blocked = unapproved([verdict], m.policy_approval)
            if blocked:
                raise InfraError(
                    f"the plan for `{layer.name}` fails the policy check: " + "; ".join(blocked),
                    "push a fix, or someone allowed by `policies.approvers` comments "
                    "`/approve_policies`; then `/apply` again",
                )
        deployments.start(layer.name, f"#{s.pr.number}: {fresh.counts.short()}")
        return fresh

    def done(run: LayerRun) -> None:
        view.done(run)
        try:
            deployments.finish(run)
        except InfraError as exc:  # Terraform is done: the record lags, the apply stands
            lagging.append(f"the deployment of `{run.layer}`: {exc.message}")

    with progress(s.console, "applying", s.env) as view:
        runs = apply_layers(
            layers,
            make_engine_factory(
                s.config,
                s.env,
                view.line,
                StepContext(pr=s.pr.number, sha=s.pr.head_sha),
                on_lock_wait=s.show_lock_wait,
            ),
            graph=layer_graph(s.config),
            on_failure=s.config.on_failure,
            parallelism=s.config.apply_parallelism,
            plan_for=plan_for,
            on_start=view.start,
            on_done=done,
        )
    s.console.print(results_table(runs, f"Apply of #{s.pr.number} at {s.pr.head_sha[:7]}"))
    return runs


def _already_applied(
    s: Session, layer: str, shown: Sequence[dash.Dashboard], fresh: PlanResult
) -> bool:
    """Whether the reviewed changes of `layer` are live because an `/apply` at this very
    commit applied them and a GitHub write lost the news: the fresh plan has nothing left to
    do, the dashboard still shows the reviewed changes, and a Deployment of this commit to the
    layer exists (one is recorded right before Terraform applies)."""
    if fresh.has_changes:
        return False
    if not all((r := m.layer(layer).record) is not None and r.has_changes for m in shown):
        return False
    try:
        deployments = s.github.list_deployments(environment=layer)
    except InfraError:
        return False
    return any(d.sha == s.pr.head_sha for d in deployments)


def _detail(runs: Sequence[LayerRun]) -> str:
    failed = [r for r in runs if r.outcome is Outcome.FAILED]
    if failed:
        first = failed[0].error.splitlines()[0] if failed[0].error else "failed"
        return f"{failed[0].layer}: {first}"
    return ", ".join(f"{r.layer}: {r.plan.counts.words()}" for r in runs if r.plan is not None)


def failure_reply(outcome: ApplyOutcome) -> str:
    """The one reply a failed apply gets (the dashboard has the details)."""
    lines = []
    locks = [run.lock for run in outcome.runs if run.lock is not None]
    for run in outcome.runs:
        if run.lock is not None:  # Terraform could not take the lock: nothing was applied
            lines.append(
                f"🔒 `/apply` of `{run.layer}` did not run: the Terraform state is locked, "
                f"{run.lock.describe()}."
            )
        elif run.outcome is Outcome.FAILED:
            lines.append(f"❌ `/apply` of `{run.layer}` failed: {run.error.splitlines()[0]}")
            if run.plan is not None:  # the apply itself ran, so it may have changed things
                lines.append(stays_locked(run))
        elif run.outcome is Outcome.SKIPPED:
            lines.append(f"⏭️ `{run.layer}` was not applied ({run.error}).")
    if locks:
        lines += ["", *what_to_do(locks, retry="/apply")]
    return "\n".join(lines) or "❌ `/apply` failed; see the dashboard."


def _role(name: str) -> Role:
    try:
        return Role(name)
    except ValueError:
        return Role.NONE
