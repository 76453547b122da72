"""Terminal output: a live progress view while Terraform works, and a result table per run.

In GitHub Actions the view writes workflow commands instead: each layer's log is a
`::group::` (one streams live; a layer planned alongside it is written whole when it ends),
a failed layer becomes `::error` annotations at the file and line Terraform names, and the
step outputs `layers` and `changed` are set when the view closes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..config import Layer
from ..models import LayerRun, Outcome
from . import actions_env as gha

if TYPE_CHECKING:
    # Imported where used: a log (no terminal) never draws the live view, and the tables
    # come after Terraform's work; rich's table, live view and spinner (with the `decimal`
    # and `fractions` they import) were a tenth of `infra plan`'s start.
    from rich.console import Console, Group
    from rich.live import Live
    from rich.table import Table

OUTCOME_STYLE = {
    Outcome.OK: ("✅", "green"),
    Outcome.CHANGES: ("📝", "yellow"),
    Outcome.FAILED: ("❌", "red"),
    Outcome.SKIPPED: ("⏭️", "dim"),
}


class Progress:
    """Shows each layer's state and latest Terraform line; in a log (no TTY) prints the lines."""

    def __init__(self, console: Console, verb: str, env: Mapping[str, str] | None = None) -> None:
        self._console = console
        self._verb = verb
        self._lock = threading.Lock()
        self._last: dict[str, str] = {}
        self._started: dict[str, float] = {}
        self._done: dict[str, LayerRun] = {}
        self._live: Live | None = None
        self._env: Mapping[str, str] = env or {}
        self._actions = gha.in_actions(self._env)
        self._paths: dict[str, str] = {}
        self._logs: dict[str, list[str]] = {}  # each layer's lines, for groups and annotations
        self._open: str | None = None  # the layer whose group streams now
        self._waiting: list[str] = []  # layers that ended while another group streamed

    def start(self, layer: Layer) -> None:
        with self._lock:
            self._started[layer.name] = time.monotonic()
            self._last[layer.name] = f"{self._verb}…"
            self._paths[layer.name] = layer.path
            self._logs[layer.name] = []
            if self._actions:
                if self._open is None:
                    self._open = layer.name
                    self._write(gha.group(f"{layer.name}: {self._verb}"))
                return
        if self._live is None and not self._console.is_terminal:
            # Written as it is, like the lines below: a layer name holds no markup, and rich's
            # print would load rich (and its emoji codes) before the first Terraform command
            # to write the same characters.
            self._write(f"{layer.name}: {self._verb}…")
        elif self._live is None:
            self._console.print(
                f"[bold]{layer.name}[/]: {self._verb}…", highlight=False, emoji=False
            )
        self._refresh()

    def line(self, layer: str, text: str) -> None:
        if self._actions:
            with self._lock:
                self._logs.setdefault(layer, []).append(text)
                if layer == self._open:
                    self._write(text)
            return
        if not text.strip():
            return
        with self._lock:
            self._last[layer] = text.strip()
        if self._live is None:
            # Written as it is: rich's print (markup, wrapping, a terminal check each time)
            # cost more CPU than `infra` itself on a 64-layer plan, with no colour in a log.
            with self._lock:
                self._console.file.write(f"{layer} │ {text}\n")
                self._console.file.flush()
        self._refresh()

    def done(self, run: LayerRun) -> None:
        with self._lock:
            self._done[run.layer] = run
            if self._actions:
                self._done_in_actions(run)
        self._refresh()

    def _done_in_actions(self, run: LayerRun) -> None:
        if run.layer != self._open:
            if run.layer in self._logs:
                self._waiting.append(run.layer)  # written whole when the open group ends
            else:
                self._ended(run)  # skipped before it started: one line, no group
            return
        self._write(gha.END_GROUP)
        self._ended(run)
        self._open = None
        for name in self._waiting:
            self._write(gha.group(f"{name}: {self._verb}"))
            self._write_lines(self._logs[name])
            self._write(gha.END_GROUP)
            self._ended(self._done[name])
        self._waiting.clear()
        running = [name for name in self._logs if name not in self._done]
        if running:
            self._open = running[0]
            self._write(gha.group(f"{self._open}: {self._verb}"))
            self._write_lines(self._logs[self._open])

    def _ended(self, run: LayerRun) -> None:
        """The layer's result outside its group, and its errors as annotations."""
        icon, _ = OUTCOME_STYLE[run.outcome]
        counts = f" {run.plan.counts.short()}" if run.plan else ""
        self._write(f"{icon} {run.layer}: {run.outcome.value}{counts}")
        if run.outcome is not Outcome.FAILED:
            return
        title = f"infra: {self._verb} {run.layer} failed"
        # Terraform's own diagnostics (`-json`), files already named from the repository root;
        # else read from the log (an engine that printed no JSON).
        base = self._paths.get(run.layer, "").rstrip("/")
        found = run.diagnostics
        if not found:
            from ..core.diagnostics import read_diagnostics  # a failure's only

            log = "\n".join(self._logs.get(run.layer, [])) or run.log or run.error
            found = read_diagnostics(log)
        else:
            base = ""
        for diag in found:
            message = f"{diag.summary}: {diag.detail}" if diag.detail else diag.summary
            path = f"{base}/{diag.filename}" if base and diag.filename else diag.filename
            self._write(gha.annotation("error", message, title=title, file=path, line=diag.line))
        if not found:
            reason = run.error.splitlines()[0] if run.error else "failed"
            self._write(gha.annotation("error", reason, title=title))

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Take the live view off the terminal while the user reads and answers."""
        live = self._live
        if live is not None:
            live.stop()
        try:
            yield
        finally:
            if live is not None:
                live.start()

    def finish(self) -> None:
        """GitHub Actions: close a group left open, and set the step outputs."""
        if not self._actions:
            return
        with self._lock:
            if self._open is not None:
                self._write(gha.END_GROUP)
                self._open = None
            names = [name for name in self._started if name in self._done]
            changed = any(
                run.plan is not None
                and run.plan.has_changes
                and run.outcome in (Outcome.OK, Outcome.CHANGES)
                for run in self._done.values()
            )
        actions = gha.ActionsEnv.from_env(self._env)
        actions.write_output("layers", json.dumps(names, separators=(",", ":")))
        actions.write_output("changed", "true" if changed else "false")

    def _write(self, text: str) -> None:
        self._console.file.write(f"{text}\n")
        self._console.file.flush()

    def _write_lines(self, lines: Sequence[str]) -> None:
        for text in lines:
            self._write(text)

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Group:
        from rich.console import Group
        from rich.markup import escape
        from rich.spinner import Spinner
        from rich.table import Table

        table = Table.grid(padding=(0, 1))
        with self._lock:
            for name, started in self._started.items():
                if name in self._done:
                    icon, style = OUTCOME_STYLE[self._done[name].outcome]
                    table.add_row(icon, f"[{style}]{escape(name)}[/]", "")
                else:
                    elapsed = f"{time.monotonic() - started:4.0f}s"
                    last = escape(self._last.get(name, "")[:100])
                    table.add_row(Spinner("dots"), f"[bold]{escape(name)}[/] {elapsed}", last)
        return Group(table)


@contextmanager
def progress(
    console: Console, verb: str, env: Mapping[str, str] | None = None
) -> Iterator[Progress]:
    """The view of one plan or apply run; `env` tells whether it runs in GitHub Actions."""
    view = Progress(console, verb, env)
    if not console.is_terminal or view._actions:
        try:
            yield view
        finally:
            view.finish()
        return
    from rich.live import Live

    with Live(view._render(), console=console, refresh_per_second=8, transient=True) as live:
        view._live = live
        try:
            yield view
        finally:
            view._live = None


def write_as_is(console: Console, text: str) -> None:
    """`text` straight to the console's file (a plan, with Terraform's colours if any): rich's
    print measures, wraps and styles every line, which for a 10,000-resource plan (3 MB)
    took longer than Terraform's own plan."""
    console.file.write(text if text.endswith("\n") else text + "\n")
    console.file.flush()


def terraform_colour(console: Console, env: Mapping[str, str]) -> bool:
    """Terraform's own colours: on a terminal, never in CI, never with NO_COLOR set."""
    in_ci = bool(env.get("CI")) or gha.in_actions(env)
    return console.is_terminal and not in_ci and "NO_COLOR" not in env


def results_table(runs: Sequence[LayerRun], title: str) -> Table:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("Layer")
    table.add_column("Result")
    table.add_column("+/~/-", justify="right")
    table.add_column("Duration", justify="right")
    table.add_column("Detail", overflow="fold")
    for run in runs:
        icon, style = OUTCOME_STYLE[run.outcome]
        counts = run.plan.counts.short() if run.plan else "-"
        detail = run.error.splitlines()[0] if run.error else _detail(run)
        table.add_row(
            escape(run.layer),
            f"{icon} [{style}]{run.outcome.value}[/]",
            counts,
            f"{run.duration:.1f}s" if run.duration else "-",
            escape(detail),
        )
    return table


def _detail(run: LayerRun) -> str:
    if run.summary:  # an apply: Terraform's own closing line, as `terraform apply` ends
        return run.summary
    if run.plan is None:
        return ""
    destructive = run.plan.destructive
    if destructive:
        return "⚠️ destroys/replaces: " + ", ".join(c.address for c in destructive[:3])
    if run.plan.drift:
        return f"{len(run.plan.drift)} changed outside Terraform"
    return ""
