"""The `infra` console script: signals, exit codes, and the hot commands.

The commands a pipeline runs most, `infra plan`, `infra verify` and `infra validate`, reach
Terraform from here in their plain forms without importing the CLI framework: typer, and the
pydantic type adapters it coerces every option through, were about a quarter of the time from
process start to the first Terraform command. Every other argument list (`--help`, any other
option, a typo, an unusual spelling) goes to the typer app in `main`, which owns the CLI and
its help. Only argument lists that app parses to the very same call are taken here (`HotCall`),
and both paths run `run_hot`'s functions, so the behaviour is one: tests/test_cli_hot_path.py
runs each form both ways and compares.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, Final, cast

from msgspec import Struct

from .errors import ExitCode, InfraError

if TYPE_CHECKING:
    from rich.console import Console

_HOT: Final = ("plan", "verify", "validate")
LOADER: Final = "load-the-printing"  # the thread of `_load_the_printing`


class HotCall(Struct, frozen=True):
    """A plain `plan`, `verify` or `validate` command line, as the typer app would parse it."""

    command: str
    config_path: str | None = None
    layers: tuple[str, ...] = ()
    jobs: int | None = None
    detailed_exitcode: bool = False
    all_layers: bool = False


def parse_hot(argv: Sequence[str]) -> HotCall | None:
    """`argv` as a `HotCall`, or None when it is anything else (typer decides then)."""
    args = list(argv)
    config_path = None
    if args and args[0].startswith("--config="):
        config_path, args = args[0].removeprefix("--config="), args[1:]
    elif len(args) >= 2 and args[0] in ("-c", "--config"):
        config_path, args = args[1], args[2:]
    if config_path is not None and (not config_path or config_path.startswith("-")):
        return None
    if not args or args[0] not in _HOT:
        return None
    command, rest = args[0], args[1:]
    flags = {"--detailed-exitcode"} if command != "validate" else set()
    if command == "verify":
        flags.add("--all")
    layers: list[str] = []
    seen: set[str] = set()
    jobs = None
    index = 0
    while index < len(rest):
        arg = rest[index]
        index += 1
        if arg in ("--jobs", "-j") or arg.startswith("--jobs="):
            value = arg.removeprefix("--jobs=") if arg.startswith("--jobs=") else None
            if value is None and index < len(rest):
                value, index = rest[index], index + 1
            if value is None or not (value.isascii() and value.isdigit()) or "--jobs" in seen:
                return None
            jobs = int(value)
            seen.add("--jobs")
        elif arg in flags and arg not in seen:
            seen.add(arg)
        elif not arg or arg.startswith("-"):
            return None  # another option, `--`, or an option given twice: typer's to judge
        else:
            layers.append(arg)
    return HotCall(
        command,
        config_path,
        tuple(layers),
        jobs,
        "--detailed-exitcode" in seen,
        "--all" in seen,
    )


def run_hot(call: HotCall, env: Mapping[str, str], cwd: Path, console: Console) -> int:
    """Run `call` (what main's `plan`, `verify` and `validate` commands run) to an exit code."""
    with _without_pydantic_plugins():
        from .config import find_config, load_config

    config = load_config(find_config(cwd, call.config_path, env))
    threading.Thread(target=_load_the_printing, name=LOADER, daemon=True).start()
    layers = list(call.layers)
    if call.command == "plan":
        from .flows.plan import run_plan

        code, _ = run_plan(
            config,
            layers,
            env=env,
            console=console,
            jobs=call.jobs,
            detailed_exitcode=call.detailed_exitcode,
            values=False,
        )
        return int(code)
    if call.command == "verify":
        from .flows.verify import drift_table, scan

        report = scan(
            config,
            [] if call.all_layers else layers,
            env=env,
            console=console,
            jobs=call.jobs,
            values=False,
            text=False,
        )
        console.print(drift_table(report))
        return int(report.exit_code(detailed=call.detailed_exitcode))
    from .flows.pipeline import select_layers
    from .flows.validate import run_validate

    code, _ = run_validate(
        config, select_layers(config, layers), env=env, console=console, jobs=call.jobs
    )
    return int(code)


def _load_the_printing() -> None:
    """Import what prints the results (rich's console and table, about 30 ms) while Terraform
    works, once its first process runs: not before it, where it would delay that process,
    nor after the last, between Terraform's end and the table a user waits for. The garbage
    collector, if the console script turned it off for the start (`run`), is back on from
    then too, with what the start made frozen: it lives as long as the process."""
    from .adapters import process

    process.first_child.wait()
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
    import rich.console
    import rich.markup
    import rich.table  # noqa: F401


@contextmanager
def _without_pydantic_plugins() -> Iterator[None]:
    """While the config models are built: pydantic would otherwise look for plugins among the
    entry points of every installed distribution (importlib.metadata, ~10% of the start). The
    variable is put back at once, so that Terraform's environment does not carry it; typer
    does the same around its own models."""
    previous = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["PYDANTIC_DISABLE_PLUGINS"]
        else:
            os.environ["PYDANTIC_DISABLE_PLUGINS"] = previous


def outcome(body: Callable[[], int], env: Mapping[str, str]) -> int:
    """Run `body` and turn how it ended into the process's exit code: our `InfraError`s as
    their message and hint on stderr, a crash as a traceback in a log file."""
    try:
        return body()
    except SystemExit as exc:  # typer's standalone mode always ends this way
        code = exc.code
        return ExitCode.OK if code is None else code if isinstance(code, int) else 1
    except InfraError as exc:
        from rich.markup import escape

        error_console().print(f"[bold red]error:[/] {escape(exc.message)}")
        if exc.hint:
            error_console().print(f"  → {escape(exc.hint)}")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception:
        import tempfile  # a crash's imports only: they cost a start every time otherwise
        import traceback

        log = Path(env.get("RUNNER_TEMP") or tempfile.gettempdir()) / "infra-pipeline-crash.log"
        log.write_text(traceback.format_exc(), encoding="utf-8")
        error_console().print(
            f"[bold red]internal error[/] (a bug in infra-pipeline); traceback written to {log}"
        )
        return ExitCode.FAILURE


def error_console() -> Console:
    from rich.console import Console

    # soft_wrap: an error message is read (and grepped) whole, never re-wrapped.
    return Console(stderr=True, highlight=False, soft_wrap=True)


def terminal(env: Mapping[str, str]) -> Console:
    """The console commands print to: rich's, or on a stdout rich would find no terminal on (a
    log, a pipe) one that loads rich only when something is printed through it."""
    if _no_terminal(env):
        return cast("Console", _Log())
    from rich.console import Console

    return Console(highlight=False)


def _no_terminal(env: Mapping[str, str]) -> bool:
    """Whether stdout is certainly not a terminal to rich's `Console.is_terminal`: no TTY, and
    none of what makes rich take a pipe for one (FORCE_COLOR, TTY_COMPATIBLE) or look at it
    differently (an IPython shell). In any doubt, False: rich decides."""
    import builtins

    if "FORCE_COLOR" in env or "TTY_COMPATIBLE" in env or hasattr(builtins, "get_ipython"):
        return False
    isatty = getattr(sys.stdout, "isatty", None)
    try:
        return isatty is not None and not isatty()
    except ValueError:
        return False


class _Log:
    """rich's `Console` for a stdout that is no terminal, made on first use. Until a command
    prints through rich, which on `infra plan` is after Terraform's work (its results table),
    only `is_terminal` and `file` are asked (the progress view writes plain lines there), and
    rich's import and console, a fifth of the start, are not paid before the first Terraform
    command. Everything else is the console's own (`__getattr__`)."""

    is_terminal: Final = False

    def __init__(self) -> None:
        self._console: Console | None = None

    @property
    def file(self) -> IO[str]:
        return sys.stdout if self._console is None else self._console.file

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False)
        return getattr(self._console, name)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """First signal: pass SIGINT to Terraform and let the run wind down and report.
    Second: stop now."""
    from .adapters import process

    if process.cancelled.is_set():
        raise KeyboardInterrupt
    process.cancel_all()


def run(*args: Any) -> None:
    """The console script."""
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    call = parse_hot(sys.argv[1:])
    if call is not None:
        # The start makes modules, classes and functions that live as long as the process, and
        # next to no garbage: the collector's two dozen passes over them before Terraform's
        # first command (~4 ms) would free nothing (the console script has it off from before
        # this module's import: `__main__`). `_load_the_printing` turns it back on once that
        # command runs; a command that ends before any (a broken infra.yaml) ends as is.
        gc.disable()
        env = os.environ
        code = outcome(lambda: run_hot(call, env, Path.cwd(), terminal(env)), env)
    else:
        gc.enable()  # off while the console script imported this module (`__main__`)
        from .main import main

        code = main()
    # The interpreter's last collections walk every object the run made, to free what the
    # process's exit frees anyway: frozen, they are skipped (~13 ms of every exit).
    gc.freeze()
    raise SystemExit(code)
