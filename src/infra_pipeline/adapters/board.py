"""The dashboard on GitHub: find it, change it with a pure step, write it back, and keep the
commit statuses in line with it.

GitHub has no compare-and-set for comments, so two jobs of one commit (a matrix of layers, a
`/plan` racing the automatic plan) can both read the dashboard and both write it, the second
write dropping the first one's change. `Board` makes that survivable:

- **One dashboard per commit.** The dashboard is the comment with the lowest id whose first line
  is the commit's marker. A job that creates one lists the comments again at its next read
  (instead of reading its own comment back); if a lower one exists, it deletes its own and
  applies its changes to that one instead.
- **No lost updates.** Every write stamps the model with `(writer, seq)`; writers keep each
  other's stamps. The next read (the next `update`, or `flush` at the end) checks that our last
  stamp is still there. If another job wrote over it, our steps since the last confirmed write
  are applied again on top of what is there now. Steps are pure functions of the model, so
  this is safe.
- **Waiting only when another writer is about.** GitHub has no compare-and-set, so the job
  whose write is lost is the only one that can notice, by reading after the other job's write
  has landed. `flush` reads the dashboard back at the end of every job; it first waits
  `settle_delay`, so that a write in flight lands, only when this job saw signs of another
  writer: another writer's stamp changed between two of our reads, two dashboards were
  created at once, one of our writes was lost, or the dashboard still shows work running
  (another job's, or a matrix sibling's) when we are done. The shipped workflows run one job
  per pull request at a time (`concurrency:`), where the wait bought nothing but a second per
  job. Not covered without the wait: a job that starts just as we finish, whose first read
  comes before our last write and whose first write lands between that write and our read
  back (one round trip). Our rows then stay ⏳ under our ended run, which the next reader
  shows as ⚠️ "stopped without reporting", and `infra/plan` stays pending: visible, fixed by
  the next `/plan`, never a false ✅.
- **Statuses follow the dashboard**, posted after each write for the checks that changed. A
  job's first read takes the checks the dashboard calls `success` as already posted (its
  writer posted them right after writing it), so `/apply` does not post `infra/plan` again.
  Only `success` is taken on trust: if that writer died before posting, the status stays
  behind (pending) until the next change of the check, which blocks a merge, never allows one.
- **Dead runs.** Before a step is applied, rows still ⏳ under another run that has ended (or
  that started more than `stale_after` ago) become ⚠️ "run stopped without reporting".
- **Heads come back.** A force-push back to an older commit makes its dashboard, marked as
  superseded, current again: a job that finds its commit's dashboard superseded asks GitHub
  whether the commit is the PR's head again and, if it is, revives it (and its statuses) and
  marks the other dashboards as superseded by it.

Only comments written by `author` (the login the job's token posts as, `bot_login` in
infra.yaml), or by any bot when none is given, count as dashboards, so a commenter or another
App cannot plant a forged one. That is not relied on alone: any workflow in the repository can
post as `github-actions[bot]`, so `/apply` also re-derives what a dashboard shows from the
fresh plan (`shown`, `core/reviewed.py`).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from msgspec.structs import replace

from infra_pipeline.adapters.actions_env import ActionsEnv
from infra_pipeline.config import Config
from infra_pipeline.core.dashboard.render import MARKER
from infra_pipeline.core.dashboard.steps import (
    Check,
    CheckState,
    Dashboard,
    DashboardError,
    Revision,
    commit_statuses,
    mark_stale,
    marker,
    new_dashboard,
    parse,
    render,
    revive,
    running_runs,
    supersede,
)
from infra_pipeline.core.github_models import Comment, PullRequest, StatusState, WorkflowRun
from infra_pipeline.core.reviewed import Shown
from infra_pipeline.errors import InfraError

log = logging.getLogger(__name__)

Step = Callable[[Dashboard], Dashboard]
ATTEMPTS: Final = 5
MAX_WRITERS: Final = 64  # stamps kept; more distinct writers on one commit than this is absurd
ALIVE_FOR: Final = timedelta(seconds=60)  # how long "that run is still going" is believed
_STATUS_STATES: Final[Mapping[CheckState, StatusState]] = {
    CheckState.PENDING: "pending",
    CheckState.SUCCESS: "success",
    CheckState.FAILURE: "failure",
}


def _lf(body: str) -> str:
    """`body` with the CRLF line ends a browser edit leaves made LF again."""
    if body.split("\n", 1)[0].endswith("\r"):
        return body.replace("\r\n", "\n")
    return body


class DashboardApi(Protocol):
    """The part of `adapters.github.client.GitHub` a board uses: the pull request's comments,
    its head, the commit statuses, and the runs that wrote rows."""

    @property
    def repository(self) -> str: ...

    def list_issue_comments(self, number: int) -> list[Comment]: ...
    def get_issue_comment(self, comment_id: int) -> Comment: ...
    def create_issue_comment(self, number: int, body: str) -> Comment: ...
    def update_issue_comment(self, comment_id: int, body: str) -> Comment: ...
    def delete_issue_comment(self, comment_id: int) -> bool: ...
    def minimize_comment(self, node_id: str) -> bool: ...
    def unminimize_comment(self, node_id: str) -> bool: ...
    def get_pull(self, number: int) -> PullRequest: ...
    def get_workflow_run(self, run_id: int) -> WorkflowRun | None: ...
    def create_status(
        self,
        sha: str,
        context: str,
        state: StatusState,
        description: str,
        target_url: str | None = None,
    ) -> None: ...


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Board:
    """The dashboard of one pull request's head commit, as seen by one job (not shared
    between threads: each job, or thread, has its own `Board` and `GitHub`)."""

    def __init__(
        self,
        github: DashboardApi,
        repo: str,
        pr_number: int,
        head_sha: str,
        run_id: int,
        server_url: str,
        clock: Callable[[], datetime] = utc_now,
        *,
        base_sha: str,
        layers: Sequence[str],
        stale_after: timedelta = timedelta(minutes=180),
        author: str | None = None,
        settle_delay: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        new_pull: bool = False,
    ) -> None:
        self.github = github
        self.repo, self.pr_number, self.head_sha = repo, pr_number, head_sha
        self.base_sha, self.layers = base_sha, tuple(layers)
        self.run_id, self.server_url = run_id, server_url
        self._clock, self._sleep = clock, sleep
        self._stale_after, self._settle_delay = stale_after, settle_delay
        self._author = author
        self._marker = marker(head_sha)
        self._writer = f"{run_id}.{secrets.token_hex(4)}"
        self._seq = 0
        self._comment: Comment | None = None  # the dashboard comment, once known
        self._unconfirmed: list[Step] = []  # steps since our last write known to have stuck
        self._written: Dashboard | None = None  # our last write
        self._created_unchecked = False  # we created the comment and have not listed since
        self._others: dict[str, int] | None = None  # other writers' stamps at our last read
        self._contended = False  # seen another writer at work on this dashboard
        self._listed: Sequence[Comment] = ()  # the PR's comments, as last listed
        # A pull request just opened has no dashboard yet: the first write creates one without
        # listing first (one that another job made meanwhile is found as in a creation race).
        self._create_blind = new_pull
        self._supersede_due = False
        self._posted: dict[str, Check] = {}
        self._alive: dict[int, tuple[bool, datetime]] = {}
        self._is_head: bool | None = None  # asked only of a superseded dashboard

    @classmethod
    def for_run(
        cls,
        github: DashboardApi,
        config: Config,
        actions: ActionsEnv,
        *,
        pr_number: int,
        head_sha: str,
        base_sha: str,
        clock: Callable[[], datetime],
        new_pull: bool = False,
    ) -> Board:
        """A board for the Actions run `actions` describes (its run id and server), with the
        layers and stale-run timeout of `config`."""
        return cls(
            github,
            github.repository,
            pr_number,
            head_sha,
            int(actions.run_id) if actions.run_id.isdigit() else 0,
            actions.server_url,
            clock,
            base_sha=base_sha,
            layers=[layer.name for layer in config.ordered_layers],
            stale_after=timedelta(minutes=config.stale_run_minutes),
            author=config.bot_login,
            new_pull=new_pull,
        )

    @property
    def comment_url(self) -> str | None:
        if self._comment is None:
            return None
        fallback = f"{self.server_url}/{self.repo}/pull/{self.pr_number}"
        return self._comment.html_url or f"{fallback}#issuecomment-{self._comment.id}"

    @property
    def posted_at(self) -> datetime | None:
        """When GitHub says this commit's dashboard was created (once read or written)."""
        return None if self._comment is None else self._comment.created_at

    # -- reading -----------------------------------------------------------------------------------

    def load(self) -> Dashboard | None:
        """The commit's dashboard as it stands (dead runs shown as such), or None."""
        found = self._read()
        return None if found is None else self._fresh(found[1])

    def shown(self) -> list[Shown]:
        """Every dashboard comment of the head commit by the trusted author, as GitHub has it
        now: what `/apply` checks against the fresh plan."""
        comments = self._dashboards(self.github.list_issue_comments(self.pr_number))
        return [Shown(c.id, _lf(c.body)) for c in comments]

    # -- writing -----------------------------------------------------------------------------------

    def update(self, step: Step) -> Dashboard:
        """Apply `step` to the current dashboard (a new one if the commit has none), write it,
        and set the commit statuses that changed. Returns the model as written."""
        if self._create_blind:
            self._create_blind = False
            if self._comment is None:
                return self._create(step, None)
        for _ in range(ATTEMPTS):
            found = self._read()
            if found is not None and self._look_up_runs(found[1]):
                found = self._read()  # keep the read-to-write window free of other requests
            if found is None:
                return self._create(step, self._listed)
            comment, model = found
            current = self._revived(self._fresh(self._replay(model)))
            new = step(current)
            if new == model:  # nothing to write, so nothing that could be lost
                self._post_statuses(model)
                return model
            written = self._write(comment, new)
            self._unconfirmed.append(step)
            if model.superseded_by is not None and written.superseded_by is None:
                # Current again (a force-push back): shown unfolded, the others folded.
                self.github.unminimize_comment(comment.node_id)
                self._supersede_others(self.github.list_issue_comments(self.pr_number))
            return written
        raise InfraError(
            f"could not write the dashboard of {self.head_sha[:7]} after {ATTEMPTS} attempts",
            "other jobs keep replacing it: re-run this job",
        )

    def flush(self) -> Dashboard | None:
        """Confirm that our last write is still in the dashboard, writing our changes again
        if a concurrent job wrote over them, then set the statuses the final dashboard calls
        for. Call it once at the end of a run (leaving a `with Board(...)` block does)."""
        if not self._unconfirmed:
            return None
        for attempt in range(ATTEMPTS):
            if attempt or self._may_be_overwritten():
                self._sleep(self._settle_delay)
            found = self._read()
            if found is None:
                log.warning(
                    "the dashboard of %s was deleted; the next run makes a new one",
                    self.head_sha[:7],
                )
                self._unconfirmed.clear()
                return None
            comment, model = found
            if self._included(model):
                self._unconfirmed.clear()
                self._post_statuses(model)
                return model
            self._write(comment, self._fresh(self._replay(model)))
        raise InfraError(
            f"could not keep the dashboard of {self.head_sha[:7]} up to date",
            "other jobs keep replacing it: re-run this job",
        )

    def __enter__(self) -> Board:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            self.flush()
        except InfraError as exc:
            if exc_type is None:
                raise
            log.warning("could not confirm the dashboard write: %s", exc)

    # -- internals ---------------------------------------------------------------------------------

    def _may_be_overwritten(self) -> bool:
        """Whether another writer may be writing over our last write right now (see the
        module docstring): only then does `flush` wait before reading back."""
        if self._created_unchecked or self._contended or self._written is None:
            return True
        return bool(running_runs(self._written))

    def _read(self) -> tuple[Comment, Dashboard] | None:
        found = self._read_comment()
        if found is not None:
            others = {r.writer: r.seq for r in found[1].revisions if r.writer != self._writer}
            if self._others is None:  # this job's first read
                if not self._posted:
                    self._posted = {
                        check.context: check
                        for check in commit_statuses(found[1])
                        if check.state is CheckState.SUCCESS
                    }
            elif others != self._others:
                self._contended = True  # someone else wrote between two of our reads
            self._others = others
        return found

    def _read_comment(self) -> tuple[Comment, Dashboard] | None:
        if self._created_unchecked:
            # Our own comment's duplicate check, folded into this read: list, not get.
            created = self._comment
            self._created_unchecked = False
            found = self._find()
            if found is None or created is None or found[0].id != created.id:
                self._contended = True  # another job's dashboard won (ours is deleted)
            elif self._supersede_due:
                self._supersede_others(self._listed)
            self._supersede_due = False
            return found
        if self._comment is not None:
            try:
                comment = self.github.get_issue_comment(self._comment.id)
            except InfraError:  # deleted (by hand?): look for the dashboard again
                comment = None
            if comment is not None and self._is_ours(comment):
                self._comment = comment
                return comment, self._parse(comment)
        return self._find()

    def _find(self) -> tuple[Comment, Dashboard] | None:
        self._listed = self.github.list_issue_comments(self.pr_number)
        dashboards = self._dashboards(self._listed)
        if not dashboards:
            self._comment = None
            return None
        winner, *duplicates = dashboards
        for duplicate in duplicates:  # a job that lost a creation race, or died before it knew
            self._contended = True
            self.github.delete_issue_comment(duplicate.id)
        self._comment = winner
        return winner, self._parse(winner)

    def _create(self, step: Step, comments: Sequence[Comment] | None) -> Dashboard:
        """A new dashboard holding `step`; `comments`: the PR's comments as listed just
        before (None: not listed, so older dashboards are superseded at the next read)."""
        fresh = new_dashboard(
            repo=self.repo,
            pr=self.pr_number,
            head_sha=self.head_sha,
            base_sha=self.base_sha,
            layers=self.layers,
            server_url=self.server_url,
        )
        model = self._stamp(step(fresh))
        created = self.github.create_issue_comment(self.pr_number, render(model))
        self._seq += 1
        # Whether another job created one at the same moment is seen at our next read, which
        # lists the comments (`_read_comment`): if it won, ours is deleted and our steps are
        # applied to its dashboard, as after any lost write.
        self._comment, self._created_unchecked = created, True
        self._unconfirmed = [step]
        self._written = model
        if comments is None:
            self._supersede_due = True
        else:
            self._supersede_others(comments)
        self._post_statuses(model)
        return model

    def _write(self, comment: Comment, model: Dashboard) -> Dashboard:
        model = self._stamp(model)
        self._comment = self.github.update_issue_comment(comment.id, render(model))
        self._seq += 1  # only once GitHub has it: `_included` looks for this number
        self._written = model
        self._post_statuses(model)
        return model

    def _parse(self, comment: Comment) -> Dashboard:
        model = parse(_lf(comment.body))
        if model.head_sha != self.head_sha:
            raise DashboardError(f"comment {comment.id} belongs to commit {model.head_sha}")
        return model

    def _dashboards(self, comments: Sequence[Comment]) -> list[Comment]:
        return sorted((c for c in comments if self._is_ours(c)), key=lambda c: c.id)

    def _is_ours(self, comment: Comment) -> bool:
        first = comment.body.split("\n", 1)[0].rstrip("\r")
        return first == self._marker and self._trusted(comment)

    def _trusted(self, comment: Comment) -> bool:
        return comment.user == self._author if self._author else comment.is_bot

    def _stamp(self, model: Dashboard) -> Dashboard:
        """`model` carrying our next write's stamp (other writers' stamps kept)."""
        others = tuple(r for r in model.revisions if r.writer != self._writer)
        revisions = (*others, Revision(self._writer, self._seq + 1))[-MAX_WRITERS:]
        return replace(model, revisions=revisions)

    def _included(self, model: Dashboard) -> bool:
        return any(r.writer == self._writer and r.seq >= self._seq for r in model.revisions)

    def _replay(self, model: Dashboard) -> Dashboard:
        """`model` with our unconfirmed steps applied again if our last write was lost."""
        if not self._unconfirmed:
            return model
        if self._included(model):
            self._unconfirmed.clear()
            return model
        log.warning("a concurrent job overwrote the dashboard; applying our changes again")
        self._contended = True
        for step in self._unconfirmed:
            model = step(model)
        return model

    def _revived(self, model: Dashboard) -> Dashboard:
        """`model`, no longer superseded if its commit is the PR's head again (a force-push
        back to it); a job of a commit that really was superseded leaves it as it is."""
        if model.superseded_by is None:
            return model
        if self._is_head is None:
            self._is_head = self.github.get_pull(self.pr_number).head_sha == self.head_sha
        return revive(model) if self._is_head else model

    def _fresh(self, model: Dashboard) -> Dashboard:
        now = self._clock()
        return mark_stale(model, self._is_alive, now, self._stale_after, current_run_id=self.run_id)

    def _look_up_runs(self, model: Dashboard) -> bool:
        """Ask GitHub about the other runs `model` shows as running; whether it had to."""
        asked = False
        for run_id in running_runs(model) - {self.run_id}:
            if self._known(run_id) is None:
                self._is_alive(run_id)
                asked = True
        return asked

    def _known(self, run_id: int) -> bool | None:
        known = self._alive.get(run_id)
        if known is not None and (not known[0] or self._clock() - known[1] < ALIVE_FOR):
            return known[0]
        return None

    def _is_alive(self, run_id: int) -> bool:
        known = self._known(run_id)
        if known is not None:
            return known
        now = self._clock()
        run = self.github.get_workflow_run(run_id)
        alive = run is not None and run.status != "completed"
        self._alive[run_id] = (alive, now)
        return alive

    def _post_statuses(self, model: Dashboard) -> None:
        for check in commit_statuses(model):
            if self._posted.get(check.context) == check:
                continue
            state = _STATUS_STATES[check.state]
            self.github.create_status(
                self.head_sha, check.context, state, check.description, self.comment_url
            )
            self._posted[check.context] = check

    def _supersede_others(self, comments: Sequence[Comment]) -> None:
        """Point the PR's older dashboards at this commit's and fold them away. Cosmetic, so
        a failure is logged, never raised."""
        for comment in comments:
            head = MARKER.fullmatch(comment.body.split("\n", 1)[0].rstrip("\r"))
            if head is None or head.group(1) == self.head_sha[:7] or not self._trusted(comment):
                continue
            try:
                old = parse(comment.body)
                if old.superseded_by is not None:
                    continue
                self.github.update_issue_comment(comment.id, render(supersede(old, self.head_sha)))
            except InfraError as exc:
                log.warning("could not mark dashboard %s as superseded: %s", comment.id, exc)
            self.github.minimize_comment(comment.node_id)
