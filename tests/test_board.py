"""The dashboard on a GitHub stand-in: one comment per commit, concurrent writers, dead runs,
faults, statuses and superseded commits, all through the real client over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dashboard_html import page_of
from infra_pipeline.adapters.board import Board
from infra_pipeline.adapters.github.client import GitHub
from infra_pipeline.core.dashboard import steps as d
from infra_pipeline.core.dashboard.steps import Dashboard, Stage, State, Status
from infra_pipeline.models import ChangeKind, Outcome, PlanCounts, PlanResult, ResourceChange
from standin import GitHubStandIn

HEAD, BASE, NEXT = "a1b2c3d" + "0" * 33, "b" * 40, "c0ffee1" + "1" * 33
LAYERS = ["bootstrap", "platform", "data-staging", "data-prod"]
RUN = 4242
NOW = datetime(2026, 3, 4, 12, 34, tzinfo=UTC)
PR = 7
# The settle delay the racing jobs below are given; what they wait for is `Settle`.
SETTLE = 0.3


def plan(layer: str, changes: int = 0, text: str = "") -> PlanResult:
    resources = tuple(
        ResourceChange(f"null_resource.r{i}", ChangeKind.CREATE, ("create",))
        for i in range(changes)
    )
    return PlanResult(
        layer, PlanCounts(add=changes), resources, (), (), (), f"fp-{layer}-{changes}", text or "x"
    )


@pytest.fixture
def make(standin: GitHubStandIn, gh_env: dict[str, str]) -> Iterator[Callable[..., Board]]:
    """Boards on the stand-in, each with its own client (as separate jobs would have)."""
    clients: list[GitHub] = []
    standin.add_pull(PR, head_sha=HEAD, base_sha=BASE)

    def build(
        head: str = HEAD, run_id: int = RUN, clock: Callable[[], datetime] = lambda: NOW, **kw: Any
    ) -> Board:
        github = GitHub.from_env(gh_env, sleep=lambda seconds: None)
        clients.append(github)
        kw.setdefault("settle_delay", 0.0)
        kw.setdefault("sleep", lambda seconds: None)
        return Board(
            github,
            "acme/infra",
            PR,
            head,
            run_id,
            gh_env["GITHUB_SERVER_URL"],
            clock,
            base_sha=BASE,
            layers=LAYERS,
            **kw,
        )

    yield build
    for github in clients:
        github.close()


def dashboards(standin: GitHubStandIn, head: str = HEAD) -> list[Any]:
    return [c for c in standin.comments(PR) if c.body.startswith(d.marker(head))]


def run_plan(board: Board, *plans: PlanResult, run_id: int = RUN) -> Dashboard:
    """What `infra event` does on a PR event: CI, then a plan of the touched layers."""
    board.update(lambda m: d.start_stage(m, Stage.CI, run_id, NOW))
    board.update(lambda m: d.finish_stage(m, Stage.CI, Status.OK, run_id, NOW))
    board.update(lambda m: d.start_plan(m, [p.layer for p in plans], run_id, NOW))

    def finish(m: Dashboard) -> Dashboard:
        for p in plans:
            m = d.finish_plan(m, p, run_id, NOW, base_sha=BASE)
        return m

    board.update(finish)
    final = board.flush()
    assert final is not None
    return final


# -- the story ------------------------------------------------------------------------------------


def test_full_plan_makes_one_dashboard_and_sets_statuses(
    standin: GitHubStandIn, make: Callable[..., Board]
) -> None:
    board = make()
    plans = [plan("bootstrap"), plan("platform", 3), plan("data-staging"), plan("data-prod", 1)]
    final = run_plan(board, *plans)

    (comment,) = dashboards(standin)
    assert d.parse(comment.body) == final
    assert final.state is State.PLAN_DIFF
    assert d.next_step(final) == (
        "Plan shows changes in `platform` (3 to add) and `data-prod` (1 to add): review them, "
        "then comment `/apply`"
    )
    statuses = standin.latest_statuses(HEAD)
    assert (statuses["infra/plan"].state, statuses["infra/plan"].description) == (
        "success",
        "4 layers planned, 2 with changes",
    )
    assert (statuses["infra/apply"].state, statuses["infra/apply"].description) == (
        "pending",
        "2 layers with changes to /apply",
    )
    assert statuses["infra/plan"].target_url == board.comment_url
    assert f"#issuecomment-{comment.id}" in (board.comment_url or "")

    # The request budget of a full plan (list, create, CI with the creation check folded in,
    # plan start, plan results, read back).
    requests = board.github.requests
    assert sum(requests.values()) == 13, requests  # 9 for the comment, 4 statuses
    assert requests[("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments")] == 1


def test_apply_then_no_changes_plan_turns_infra_apply_green(
    standin: GitHubStandIn, make: Callable[..., Board]
) -> None:
    board = make()
    run_plan(board, plan("platform", 2))
    board.update(lambda m: d.start_apply(m, ["platform"], RUN, NOW))
    assert standin.latest_statuses(HEAD)["infra/apply"].description == "applying..."
    board.update(lambda m: d.finish_apply(m, {"platform": Outcome.OK}, RUN, NOW))
    board.flush()
    assert standin.latest_statuses(HEAD)["infra/apply"].state == "success"

    other = make(head=NEXT)
    run_plan(other, plan("platform"))
    assert standin.latest_statuses(NEXT)["infra/apply"].description == "no changes to apply"


def test_apply_in_a_new_job_does_not_post_the_unchanged_plan_status_again(
    standin: GitHubStandIn, make: Callable[..., Board]
) -> None:
    run_plan(make(), plan("platform", 2))
    posted = len(standin.statuses(HEAD))

    applying = make(run_id=RUN + 1)  # the /apply job: nothing in memory but the comment
    applying.update(lambda m: d.start_apply(m, ["platform"], RUN + 1, NOW))
    applying.update(lambda m: d.finish_apply(m, {"platform": Outcome.OK}, RUN + 1, NOW))
    applying.flush()

    new = standin.statuses(HEAD)[posted:]
    assert [(s.context, s.state) for s in new] == [
        ("infra/apply", "pending"),
        ("infra/apply", "success"),
    ]
    assert standin.latest_statuses(HEAD)["infra/plan"].state == "success"


def test_a_pending_status_is_never_taken_as_posted(
    standin: GitHubStandIn, make: Callable[..., Board]
) -> None:
    board = make()
    board.update(lambda m: d.start_stage(m, Stage.CI, RUN, NOW))
    board.update(lambda m: d.finish_stage(m, Stage.CI, Status.OK, RUN, NOW))
    board.update(lambda m: d.start_plan(m, ["platform"], RUN, NOW))
    # That job died after writing the dashboard, before GitHub had its statuses.
    for status in list(standin.repo().statuses):
        standin.repo().statuses.remove(status)

    later = make(run_id=RUN + 1)
    later.update(lambda m: d.finish_plan(m, plan("platform", 1), RUN, NOW, base_sha=BASE))

    assert standin.latest_statuses(HEAD)["infra/plan"].state == "success"
    assert standin.latest_statuses(HEAD)["infra/apply"].state == "pending"


def test_a_fresh_process_recovers_the_state_from_the_comment_alone(
    standin: GitHubStandIn, make: Callable[..., Board]
) -> None:
    first = make()
    final = run_plan(first, plan("platform", 2, text='  + resource "x" "y" {}\n|`</details>`|'))

    later = make(run_id=RUN + 1)  # a new job: nothing in memory but the comment
    assert later.load() == final
    applied = later.update(lambda m: d.start_apply(m, ["platform"], RUN + 1, NOW))
    assert applied.state is State.APPLY_RUNNING
    assert applied.layer("platform").record == final.layer("platform").record
    assert len(dashboards(standin)) == 1


def test_no_dashboard_yet_means_load_returns_none(make: Callable[..., Board]) -> None:
    assert make().load() is None


# -- concurrency -----------------------------------------------------------------------------------


def _together(*jobs: Callable[[], object]) -> None:
    """Run `jobs` in threads that start at the same instant; re-raise the first failure."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job: Callable[[], object]) -> None:
        barrier.wait()
        try:
            job()
        except BaseException as exc:  # handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]


class Settle:
    """The settle wait of jobs racing each other: it ends once every other job's updates have
    returned, where production waits a fixed time. A fixed time is what a loaded machine
    outruns: another job's read-to-write window took longer than the 0.3 s these tests once
    slept, its write landed after this job had checked its own, and the test failed now and
    then. What is tested here is that the board converges once the writes are in."""

    def __init__(self, jobs: int) -> None:
        self._updated = [threading.Event() for _ in range(jobs)]
        self.waited: set[int] = set()

    def sleep_of(self, job: int) -> Callable[[float], None]:
        def sleep(seconds: float) -> None:
            self.waited.add(job)
            for other, updated in enumerate(self._updated):
                if other != job:
                    assert updated.wait(timeout=60), f"job {other} never finished its updates"

        return sleep

    def updated(self, job: int) -> None:
        self._updated[job].set()


COMMENTS = "/repos/{owner}/{repo}/issues/{issue_number}/comments"


@pytest.mark.parametrize("round_", range(3))
def test_two_jobs_creating_at_once_leave_one_dashboard_with_both_results(
    standin: GitHubStandIn, make: Callable[..., Board], round_: int
) -> None:
    for run_id in (RUN, RUN + 1):
        standin.add_workflow_run(run_id, "in_progress")
    settle, created = Settle(2), threading.Barrier(2, timeout=60)
    a = make(settle_delay=SETTLE, sleep=settle.sleep_of(0))
    b = make(run_id=RUN + 1, settle_delay=SETTLE, sleep=settle.sleep_of(1))
    # Both list the comments before either creates one: both find none, both create.
    standin.hold("GET", COMMENTS, 2)

    def job(board: Board, stage: Stage, run_id: int, number: int) -> None:
        with board:
            board.update(lambda m: d.start_stage(m, stage, run_id, NOW))
            created.wait()
            board.update(lambda m: d.finish_stage(m, stage, Status.OK, run_id, NOW, stage.label))
            settle.updated(number)

    _together(lambda: job(a, Stage.HEALTH, RUN, 0), lambda: job(b, Stage.E2E, RUN + 1, 1))

    created_twice = [r for r in standin.log if r.method == "POST" and r.route == COMMENTS]
    assert len(created_twice) == 2
    (comment,) = dashboards(standin)
    final = d.parse(comment.body)
    assert final.health is not None and final.health.status is Status.OK
    assert final.e2e is not None and final.e2e.status is Status.OK
    assert "| Health | ✅ |" in comment.body and "| E2E | ✅ |" in comment.body
    # The job whose dashboard lost (the later one: it deletes its own) always reads back
    # after its writes. The winner does only when it saw the loser's writes land between two of
    # its own reads; a loaded machine may run the loser to its end before the winner's first
    # read, and then the loser's result is already in what the winner writes.
    first = d.parse(created_twice[0].body["body"])
    loser = 1 if first.health is not None else 0  # job 0 started the Health row
    assert loser in settle.waited


@pytest.mark.parametrize("round_", range(3))
def test_matrix_jobs_finishing_at_once_both_land(
    standin: GitHubStandIn, make: Callable[..., Board], round_: int
) -> None:
    setup = make()
    setup.update(lambda m: d.start_stage(m, Stage.CI, RUN, NOW))
    setup.update(lambda m: d.finish_stage(m, Stage.CI, Status.OK, RUN, NOW))
    setup.update(lambda m: d.start_plan(m, ["bootstrap", "platform"], RUN, NOW))
    setup.flush()
    settle = Settle(2)
    jobs = [make(settle_delay=SETTLE, sleep=settle.sleep_of(n)) for n in range(2)]

    def finish(board: Board, result: PlanResult, number: int) -> None:
        with board:
            board.update(lambda m: d.finish_plan(m, result, RUN, NOW, base_sha=BASE))
            settle.updated(number)

    _together(
        lambda: finish(jobs[0], plan("bootstrap"), 0),
        lambda: finish(jobs[1], plan("platform", 1), 1),
    )

    (comment,) = dashboards(standin)
    final = d.parse(comment.body)
    assert final.layer("bootstrap").record is not None
    assert final.layer("platform").record is not None
    assert final.state is State.PLAN_DIFF
    assert standin.latest_statuses(HEAD)["infra/plan"].state == "success"


def test_a_write_lost_to_another_job_is_made_again(
    standin: GitHubStandIn, make: Callable[..., Board]
) -> None:
    setup = make()
    setup.update(lambda m: d.start_stage(m, Stage.CI, RUN, NOW))
    setup.flush()
    (comment,) = dashboards(standin)
    before = comment.body

    mine = make(run_id=RUN + 1)
    mine.update(lambda m: d.finish_stage(m, Stage.HEALTH, Status.OK, RUN + 1, NOW))
    # Another job read the dashboard before our write and wrote after it: ours is gone.
    theirs = d.finish_stage(d.parse(before), Stage.E2E, Status.FAILED, RUN + 2, NOW)
    comment.body = d.render(theirs)

    final = mine.flush()
    assert final is not None and final.health is not None and final.e2e is not None
    assert d.parse(dashboards(standin)[0].body) == final


def test_a_job_that_saw_no_other_writer_reads_back_without_waiting(
    standin: GitHubStandIn, make: Callable[..., Board]
) -> None:
    waits: list[float] = []
    board = make(settle_delay=1.0, sleep=waits.append)

    final = run_plan(board, plan("platform", 2))

    assert waits == []  # the job was alone: nothing in flight to wait for
    assert d.parse(dashboards(standin)[0].body) == final
    gets = board.github.requests[("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}")]
    assert gets == 3  # before the plan's two writes, and the read back


def test_a_write_landing_while_we_wait_is_caught_when_another_job_is_running(
    standin: GitHubStandIn, make: Callable[..., Board]
) -> None:
    standin.add_workflow_run(RUN + 1, "in_progress")
    other = make(run_id=RUN + 1)
    other.update(lambda m: d.start_stage(m, Stage.E2E, RUN + 1, NOW))  # still running
    (comment,) = dashboards(standin)
    seen_by_other = comment.body  # what the other job read before our write

    def other_job_writes_now(seconds: float) -> None:
        # The other job's write, based on its read before ours, lands while we wait (once).
        waits.append(seconds)
        if len(waits) > 1:
            return
        finished = d.finish_stage(d.parse(seen_by_other), Stage.E2E, Status.OK, RUN + 1, NOW)
        dashboards(standin)[0].body = d.render(finished)

    waits: list[float] = []
    mine = make(settle_delay=1.0, sleep=other_job_writes_now)
    mine.update(lambda m: d.finish_stage(m, Stage.HEALTH, Status.OK, RUN, NOW))
    final = mine.flush()

    assert waits == [1.0, 1.0]  # then once more after writing ours again
    assert final is not None and final.health is not None and final.e2e is not None
    assert final.health.status is Status.OK and final.e2e.status is Status.OK
    assert d.parse(dashboards(standin)[0].body) == final


@pytest.mark.parametrize("round_", range(3))
def test_two_writers_of_a_new_pull_request_at_once_converge(
    standin: GitHubStandIn, make: Callable[..., Board], round_: int
) -> None:
    """The PR-opened job creates the dashboard without listing first, while a `/plan` job of
    the same commit starts: one dashboard, both jobs' results."""
    for run_id in (RUN, RUN + 1):
        standin.add_workflow_run(run_id, "in_progress")
    settle, started = Settle(2), threading.Barrier(2, timeout=60)
    opened = make(new_pull=True, settle_delay=SETTLE, sleep=settle.sleep_of(0))
    comment = make(run_id=RUN + 1, settle_delay=SETTLE, sleep=settle.sleep_of(1))

    def job(board: Board, stage: Stage, run_id: int, number: int) -> None:
        with board:
            board.update(lambda m: d.start_stage(m, stage, run_id, NOW))
            started.wait()
            board.update(lambda m: d.finish_stage(m, stage, Status.OK, run_id, NOW, stage.label))
            settle.updated(number)

    _together(
        lambda: job(opened, Stage.HEALTH, RUN, 0), lambda: job(comment, Stage.E2E, RUN + 1, 1)
    )

    (only,) = dashboards(standin)
    final = d.parse(only.body)
    assert final.health is not None and final.health.status is Status.OK
    assert final.e2e is not None and final.e2e.status is Status.OK


def test_a_new_pull_request_s_first_request_creates_its_dashboard(
    standin: GitHubStandIn, make: Callable[..., Board]
) -> None:
    board = make(new_pull=True)
    before = len(standin.log)

    board.update(lambda m: d.start_stage(m, Stage.CI, RUN, NOW))

    first = standin.log[before]
    assert (first.method, first.route) == (
        "POST",
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
    )
    assert len(dashboards(standin)) == 1


def test_a_duplicate_left_by_a_dead_job_is_removed(
    standin: GitHubStandIn, make: Callable[..., Board]
) -> None:
    board = make()
    board.update(lambda m: d.start_stage(m, Stage.CI, RUN, NOW))
    body = dashboards(standin)[0].body
    standin.add_comment(PR, body, user="github-actions[bot]", user_type="Bot")
    assert len(dashboards(standin)) == 2
    make(run_id=RUN + 1).load()
    assert len(dashboards(standin)) == 1


def test_a_dashboard_written_by_a_person_is_not_trusted(
    standin: GitHubStandIn, make: Callable[..., Board]
) -> None:
    forged = d.render(
        d.new_dashboard(
            repo="acme/infra",
            pr=PR,
            head_sha=HEAD,
            base_sha=BASE,
            layers=LAYERS,
            server_url="https://github.com",
        )
    )
    standin.add_comment(PR, forged, user="mallory")
    board = make()
    assert board.load() is None
    board.update(lambda m: d.start_stage(m, Stage.CI, RUN, NOW))
    assert [c.user.login for c in dashboards(standin)] == ["mallory", "github-actions[bot]"]


# -- dead runs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("run_status", "stale"),
    [("completed", True), (None, True), ("in_progress", False), ("queued", False)],
)
def test_a_run_that_died_shows_as_a_warning(
    standin: GitHubStandIn, make: Callable[..., Board], run_status: str | None, stale: bool
) -> None:
    dead = make(run_id=100)
    dead.update(lambda m: d.start_stage(m, Stage.CI, 100, NOW))
    dead.update(lambda m: d.finish_stage(m, Stage.CI, Status.OK, 100, NOW))
    dead.update(lambda m: d.start_plan(m, ["platform"], 100, NOW))
    if run_status is not None:  # None: GitHub no longer knows the run (404)
        standin.add_workflow_run(
            100, run_status, "cancelled" if run_status == "completed" else None
        )

    assert make(run_id=100).load().layer("platform").plan.status is Status.RUNNING  # type: ignore[union-attr]
    later = make(run_id=200, clock=lambda: NOW + timedelta(minutes=5))
    seen = later.load()
    assert seen is not None
    expected = Status.STALE if stale else Status.RUNNING
    assert seen.layer("platform").plan.status is expected
    if stale:
        assert seen.state is State.PLAN_FAILED
        written = later.update(lambda m: d.start_plan(m, ["platform"], 200, NOW))
        assert written.state is State.PLAN_RUNNING
        assert written.layer("platform").plan.run_id == 200


def test_a_run_past_the_timeout_is_stale_without_asking_github(
    standin: GitHubStandIn, make: Callable[..., Board]
) -> None:
    make(run_id=100).update(lambda m: d.start_stage(m, Stage.CI, 100, NOW))
    standin.add_workflow_run(100, "in_progress")
    later = make(run_id=200, clock=lambda: NOW + timedelta(hours=4))
    body = d.render(later.load())  # type: ignore[arg-type]
    url = f"{standin.url}/acme/infra/actions/runs/100"
    assert page_of(body).rows()["CI Validate"][:2] == ["❔", "run stopped without reporting · Log"]
    assert ("Log", url) in page_of(body).links
    assert later.github.requests[("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}")] == 0


# -- faults --------------------------------------------------------------------------------------


def test_5xx_and_rate_limits_are_survived_without_duplicates(
    standin: GitHubStandIn, make: Callable[..., Board]
) -> None:
    comments = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
    standin.inject("POST", comments, 502, after_write=True)  # created, then "failed"
    standin.inject("GET", comments, 503, times=2)
    standin.secondary_rate_limit("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
    standin.primary_rate_limit("POST", "/repos/{owner}/{repo}/statuses/{sha}", reset_in=1)
    standin.inject("POST", "/graphql", 502)
    board = make()
    final = run_plan(board, plan("platform", 1), plan("bootstrap"))

    (comment,) = dashboards(standin)
    assert d.parse(comment.body) == final
    assert set(standin.latest_statuses(HEAD)) == {"infra/plan", "infra/apply"}
    assert sum(board.github.retries.values()) >= 4


# -- superseding -----------------------------------------------------------------------------------


def test_a_new_commit_supersedes_the_previous_dashboard(
    standin: GitHubStandIn, make: Callable[..., Board]
) -> None:
    run_plan(make(), plan("platform", 1))
    run_plan(make(head=NEXT), plan("platform"))

    (old,) = dashboards(standin, HEAD)
    assert "↪️ Superseded by `c0ffee1`: see that commit's dashboard" in old.body
    assert d.parse(old.body).superseded_by == NEXT
    assert old.minimized
    (new,) = dashboards(standin, NEXT)
    assert not new.minimized and "Superseded" not in new.body


def test_superseding_is_best_effort(standin: GitHubStandIn, make: Callable[..., Board]) -> None:
    run_plan(make(), plan("platform", 1))
    standin.inject("POST", "/graphql", 500, times=10)
    standin.inject("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}", 500, times=10)
    newer = make(head=NEXT)
    newer.update(lambda m: d.start_stage(m, Stage.CI, RUN, NOW))  # does not raise
    assert len(dashboards(standin, NEXT)) == 1
    assert not dashboards(standin, HEAD)[0].minimized
