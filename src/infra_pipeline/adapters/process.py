"""The one way this package runs a subprocess: streamed, time-limited, and cancellable.

Terraform must get SIGINT (not SIGKILL) on cancellation so that it can release its state lock,
so every child runs in its own process group and `cancel_all()` (called from the CLI's signal
handler) forwards SIGINT to each group. A child that outlives its timeout gets SIGINT, then
SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from msgspec import Struct

from ..errors import InfraError

LineSink = Callable[[str], None]

_GRACE_SECONDS = 30.0
_active: set[subprocess.Popen[bytes]] = set()
_active_lock = threading.Lock()
cancelled = threading.Event()
# Set once a child runs: what is needed only after the children's work may load from then on,
# beside it, instead of before the first one or after the last (entry.py).
first_child = threading.Event()


class ProcessResult(Struct, frozen=True):
    """A finished command: its argv, exit code and output."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False
    cancelled: bool = False

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        """One line naming the command and how it ended, for error messages."""
        how = (
            "was cancelled"
            if self.cancelled
            else "timed out"
            if self.timed_out
            else f"exited with code {self.returncode}"
        )
        return f"`{' '.join(self.argv)}` {how}"


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    on_line: LineSink | None = None,
    grace: float = _GRACE_SECONDS,
) -> ProcessResult:
    """Run `argv` (never through a shell), streaming stdout and stderr lines to `on_line`."""
    if cancelled.is_set():
        return ProcessResult(tuple(argv), 130, "", "", 0.0, cancelled=True)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise InfraError(
            f"cannot start `{argv[0]}`: {exc.strerror}",
            "check that it is installed and on PATH (or set `binary:` for the layer)",
        ) from exc
    first_child.set()
    with _active_lock:
        _active.add(proc)
    out: list[str] = []
    err: list[str] = []
    readers = [
        threading.Thread(target=_pump, args=(proc.stdout, out, on_line), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, err, on_line), daemon=True),
    ]
    for reader in readers:
        reader.start()
    exited, expired = threading.Event(), threading.Event()

    def expire() -> None:
        expired.set()
        _interrupt(proc)
        if not exited.wait(grace):
            _kill(proc)

    # A timer enforces the timeout so that `wait()` can block: `wait(timeout)` polls, and
    # noticed each exit up to 50 ms late, which a layer's init, plan and show paid each.
    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        proc.wait()
    finally:
        exited.set()
        timer.cancel()
        with _active_lock:
            _active.discard(proc)
    timed_out = expired.is_set()
    if timed_out:
        # Children that ignore SIGINT (a shell script's background jobs do) outlive the leader;
        # a timed-out command must not leave any of its group running.
        _kill(proc)
    for reader in readers:
        reader.join(timeout=5)
    return ProcessResult(
        tuple(argv),
        proc.returncode,
        "".join(out),
        "".join(err),
        time.monotonic() - started,
        timed_out=timed_out,
        cancelled=cancelled.is_set(),
    )


def cancel_all() -> None:
    """Ask every running child to stop (SIGINT to its group); later `run` calls return at once."""
    cancelled.set()
    with _active_lock:
        procs = list(_active)
    for proc in procs:
        _interrupt(proc)


def _pump(stream: object, sink: list[str], on_line: LineSink | None) -> None:
    assert stream is not None
    for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
        line = raw.decode("utf-8", errors="replace")
        sink.append(line)
        if on_line is not None:
            on_line(line.rstrip("\n"))


def _interrupt(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGINT)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
