"""One pull-request job: the `Job` (config with the base's policy, Actions environment, GitHub,
terminal, clock), the PR, its dashboard and the layer locks."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from rich.console import Console
from rich.markup import escape

from ..adapters.actions_env import ActionsEnv
from ..adapters.audit import AuditRecord, emit
from ..adapters.board import Board
from ..adapters.github.client import GitHub
from ..adapters.locks import Locks, lock_keys, now_iso
from ..adapters.terragrunt_units import terragrunt_units
from ..config import Config, Engine
from ..core.dashboard import steps as dash
from ..core.github_models import PullRequest, ReactionContent
from ..core.unit_reads import UnitIndex
from ..models import StateLock
from .job import Job

REPLY_MARKER = "<!-- infra-pipeline -->"


class Session:
    def __init__(self, job: Job, pr: PullRequest, *, new_pull: bool = False) -> None:
        self.job = job  # its config has the policy of the PR's base commit
        self.pr = pr
        self.new_pull = new_pull  # the event says the PR was just opened: it has no dashboard yet
        self.board = Board.for_run(
            job.github,
            job.config,
            job.actions,
            pr_number=pr.number,
            head_sha=pr.head_sha,
            base_sha=pr.base_sha,
            clock=job.clock,
            new_pull=new_pull,
        )
        # Engines report lock waits from their own threads, several layers at once: one write
        # at a time (the board is not thread-safe; the job's own thread waits for the layers).
        self._waits = threading.Lock()

    @property
    def config(self) -> Config:
        return self.job.config

    @property
    def env(self) -> Mapping[str, str]:
        return self.job.env

    @property
    def actions(self) -> ActionsEnv:
        return self.job.actions

    @property
    def github(self) -> GitHub:
        return self.job.github

    @property
    def console(self) -> Console:
        return self.job.console

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.job.clock

    @functools.cached_property
    def units(self) -> UnitIndex | None:
        """The repository's Terragrunt units as the `terragrunt` binary reports them, asked
        once per job (change detection and CI Validate's order check both read it); None
        without the binary or without Terragrunt layers (the HCL is read instead)."""
        if not any(layer.engine is Engine.TERRAGRUNT for layer in self.config.ordered_layers):
            return None
        return terragrunt_units(self.config.root, self.env)

    @property
    def run_id(self) -> int:
        return int(self.actions.run_id) if self.actions.run_id.isdigit() else 0

    @property
    def locks(self) -> Locks:
        return Locks(self.github, self._pr_is_open, lock_keys(self.config))

    def _pr_is_open(self, number: int) -> bool:
        return self.github.get_pull(number).state == "open"

    def reply(self, text: str) -> None:
        """One short reply on the PR; the marker keeps the parser from reading it as a command."""
        self.github.create_issue_comment(self.pr.number, f"{REPLY_MARKER}\n{text}")
        self.console.print(f"replied on #{self.pr.number}: {escape(text.splitlines()[0])}")

    def react(self, comment_id: int | None, content: ReactionContent) -> None:
        if comment_id is not None:
            self.github.add_reaction(comment_id, content)  # False: deleted meanwhile; no matter

    def record(
        self,
        who: str,
        command: str,
        layers: Sequence[str],
        result: str,
        fingerprints: Mapping[str, str] | None = None,
    ) -> None:
        """The audit line of one command, accepted or refused: job log and job summary."""
        entry = AuditRecord(
            who=who,
            command=command,
            layers=tuple(layers),
            head_sha=self.pr.head_sha,
            pr=self.pr.number,
            run_url=self.actions.run_url,
            result=result,
            time=now_iso(self.clock()),
            fingerprints=dict(fingerprints or {}),
            event=self.actions.event_name,
        )
        emit(entry, console=self.console, summary=self.actions.append_summary)

    def give_up_running_rows(self) -> None:
        """After a crash or a cancellation: no row this run started may stay ⏳."""
        this_run = self.run_id
        timeout = timedelta(minutes=self.config.stale_run_minutes)
        try:
            self.board.update(
                lambda m: dash.mark_stale(m, lambda run: run != this_run, self.clock(), timeout)
            )
        except Exception as exc:  # best effort on the way out; the original error matters more
            self.console.print(f"could not update the dashboard: {escape(str(exc))}")

    def show_lock_wait(self, lock: StateLock) -> None:
        """The layer's running row says whose state lock it waits for (Terraform's
        `-lock-timeout`): one dashboard write per wait, from the engine's thread. Its result
        replaces the note as usual; a failed write costs the plan or apply nothing."""
        run_id = self.run_id
        with self._waits:
            try:
                self.board.update(lambda m: dash.wait_for_lock(m, lock, run_id))
            # Best effort from the engine's output thread: GitHub being down must not stop
            # the plan, which reports its result through the usual writes.
            except Exception as exc:
                said = escape(str(exc))
                self.console.print(f"could not show the lock wait on the dashboard: {said}")

    def publish(self, m: dash.Dashboard) -> None:
        """The job summary: the dashboard as it now stands (the board sets the statuses),
        without the plans' folds: the job summary shows each plan once, in full."""
        self.actions.append_summary(dash.render_for_summary(m))
