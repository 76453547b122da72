"""Terminal output: a live progress view while Terraform works, and a result table per run."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.table import Table

from ..config import Layer
from ..models import LayerRun, Outcome

OUTCOME_STYLE = {
    Outcome.OK: ("✅", "green"),
    Outcome.CHANGES: ("📝", "yellow"),
    Outcome.FAILED: ("❌", "red"),
    Outcome.SKIPPED: ("⏭️", "dim"),
}


class Progress:
    """Shows each layer's state and latest Terraform line; in a log (no TTY) prints the lines."""

    def __init__(self, console: Console, verb: str) -> None:
        self._console = console
        self._verb = verb
        self._lock = threading.Lock()
        self._last: dict[str, str] = {}
        self._started: dict[str, float] = {}
        self._done: dict[str, LayerRun] = {}
        self._live: Live | None = None

    def start(self, layer: Layer) -> None:
        with self._lock:
            self._started[layer.name] = time.monotonic()
            self._last[layer.name] = f"{self._verb}…"
        if self._live is None:
            self._console.print(f"[bold]{layer.name}[/]: {self._verb}…", highlight=False)
        self._refresh()

    def line(self, layer: str, text: str) -> None:
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
        self._refresh()

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Group:
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
def progress(console: Console, verb: str) -> Iterator[Progress]:
    view = Progress(console, verb)
    if not console.is_terminal:
        yield view
        return
    with Live(view._render(), console=console, refresh_per_second=8, transient=True) as live:
        view._live = live
        try:
            yield view
        finally:
            view._live = None


def results_table(runs: Sequence[LayerRun], title: str) -> Table:
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
    if run.plan is None:
        return ""
    destructive = run.plan.destructive
    if destructive:
        return "⚠️ destroys/replaces: " + ", ".join(c.address for c in destructive[:3])
    if run.plan.drift:
        return f"{len(run.plan.drift)} changed outside Terraform"
    return ""
