"""Health probes: http, tcp, dns, kubernetes and command checks declared in `infra.yaml`.

All probes run at once (asyncio); each attempt has the probe's timeout and a failed attempt is
retried `retries` times with a short backoff. `${VAR}` references in URLs and headers come
from the environment passed in; their values, and every secret-looking value in the
environment, are masked in every detail we report.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

import httpx
from msgspec import Struct

from ..config_checks import CommandProbe, DnsProbe, HttpProbe, KubernetesProbe, Probe, TcpProbe
from ..core.redact import redact, secrets_in_env
from ..errors import ExitCode, InfraError
from . import kubeconfig
from .usercmd import run_user_command, tail

MAX_BODY_BYTES = 1 << 20
BACKOFF_SECONDS = 0.25
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_T = TypeVar("_T")


class ProbeKind(StrEnum):
    HTTP = "http"
    TCP = "tcp"
    DNS = "dns"
    KUBERNETES = "kubernetes"
    COMMAND = "command"


class ProbeResult(Struct, frozen=True):
    name: str
    kind: ProbeKind
    ok: bool
    latency_ms: float  # of the last attempt
    detail: str  # secrets already masked
    attempts: int


class HealthReport(Struct, frozen=True):
    results: tuple[ProbeResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> tuple[ProbeResult, ...]:
        return tuple(r for r in self.results if not r.ok)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.ok else ExitCode.FAILURE


class _Failed(Exception):
    """One attempt failed; `retry` is False when trying again cannot help (a config error)."""

    def __init__(self, detail: str, *, retry: bool = True):
        super().__init__(detail)
        self.detail = detail
        self.retry = retry


def check_health(
    probes: Mapping[str, Probe], *, env: Mapping[str, str], root: Path
) -> HealthReport:
    """Run every probe concurrently and return their results in declaration order."""
    return asyncio.run(run_probes(probes, env=env, root=root))


async def run_probes(
    probes: Mapping[str, Probe], *, env: Mapping[str, str], root: Path
) -> HealthReport:
    results = await asyncio.gather(
        *(_run_probe(name, probe, env=env, root=root) for name, probe in probes.items())
    )
    return HealthReport(tuple(results))


def kind_of(probe: Probe) -> ProbeKind:
    kinds: dict[type[object], ProbeKind] = {
        HttpProbe: ProbeKind.HTTP,
        TcpProbe: ProbeKind.TCP,
        DnsProbe: ProbeKind.DNS,
        KubernetesProbe: ProbeKind.KUBERNETES,
        CommandProbe: ProbeKind.COMMAND,
    }
    return kinds[type(probe)]


async def _run_probe(name: str, probe: Probe, *, env: Mapping[str, str], root: Path) -> ProbeResult:
    secrets = set(secrets_in_env(env))
    attempts = probe.retries + 1
    for attempt in range(1, attempts + 1):
        started = time.monotonic()
        try:
            detail, ok = await _attempt(probe, env=env, root=root, secrets=secrets), True
        except _Failed as failure:
            detail, ok = failure.detail, False
            if not failure.retry:
                attempts = attempt
        latency = (time.monotonic() - started) * 1000
        if ok or attempt >= attempts:
            return ProbeResult(
                name, kind_of(probe), ok, round(latency, 1), redact(detail, secrets), attempt
            )
        await asyncio.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
    raise AssertionError("unreachable: the last attempt always returns")


async def _attempt(probe: Probe, *, env: Mapping[str, str], root: Path, secrets: set[str]) -> str:
    if isinstance(probe, CommandProbe):
        # run_in_group enforces the timeout itself, killing the process group.
        return await _command(probe, env=env, root=root)
    try:
        async with asyncio.timeout(probe.timeout):
            if isinstance(probe, HttpProbe):
                return await _http(probe, env=env, secrets=secrets)
            if isinstance(probe, TcpProbe):
                return await _tcp(probe.tcp)
            if isinstance(probe, DnsProbe):
                return await _dns(probe.dns)
            return await _kubernetes(probe, env=env, root=root, secrets=secrets)
    except TimeoutError:
        raise _Failed(f"timed out after {probe.timeout:g}s") from None


def expand(value: str, env: Mapping[str, str], secrets: set[str]) -> str:
    """Replace `${VAR}` from `env`, remembering each value as a secret to mask."""

    def sub(match: re.Match[str]) -> str:
        var = match.group(1)
        if var not in env:
            raise _Failed(f"environment variable {var} is not set", retry=False)
        secrets.add(env[var])
        return env[var]

    return _VAR.sub(sub, value)


async def _http(probe: HttpProbe, *, env: Mapping[str, str], secrets: set[str]) -> str:
    url = expand(probe.http, env, secrets)
    headers = {k: expand(v, env, secrets) for k, v in probe.headers.items()}
    try:
        status, body = await _get(url, headers=headers, timeout=probe.timeout)
    except httpx.HTTPError as exc:
        raise _Failed(f"{type(exc).__name__}: {exc}") from None
    if status != probe.expect_status:
        raise _Failed(f"expected HTTP {probe.expect_status}, got {status}")
    if probe.contains is not None and probe.contains not in body:
        raise _Failed(f"HTTP {status} but the body lacks {probe.contains!r}: {body[:80]!r}")
    return f"HTTP {status}"


async def _get(
    url: str,
    *,
    headers: Mapping[str, str],
    timeout: float,
    verify: ssl.SSLContext | bool = True,
) -> tuple[int, str]:
    """GET `url`; read at most MAX_BODY_BYTES of the body (a health page is small)."""
    async with (
        httpx.AsyncClient(timeout=timeout, verify=verify) as client,
        client.stream("GET", url, headers=dict(headers)) as response,
    ):
        body = b""
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) >= MAX_BODY_BYTES:
                break
        return response.status_code, body.decode("utf-8", errors="replace")


async def _tcp(target: str) -> str:
    host, port = _host_port(target)
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        raise _Failed(f"cannot connect to {target}: {exc.strerror or exc}") from None
    writer.close()
    # The peer may reset a connection that sends nothing; it was open, which is enough.
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return f"connected to {target}"


def _host_port(target: str) -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise _Failed(f"{target!r} is not host:port", retry=False)
    return host.strip("[]"), int(port)


async def _dns(name: str) -> str:
    try:
        infos = await _in_daemon_thread(lambda: socket.getaddrinfo(name, None))
    except OSError as exc:
        raise _Failed(f"{name} does not resolve: {exc.strerror or exc}") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    return f"{name} → {', '.join(addresses[:3])}" + (" …" if len(addresses) > 3 else "")


async def _kubernetes(
    probe: KubernetesProbe, *, env: Mapping[str, str], root: Path, secrets: set[str]
) -> str:
    try:
        target = await _in_daemon_thread(
            lambda: kubeconfig.load_target(probe.kubernetes, env=env, root=root)
        )
    except InfraError as exc:
        raise _Failed(exc.message, retry=False) from None
    secrets.update(target.secrets)
    headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
    try:
        verify = target.ssl_context() if target.server.startswith("https") else True
        status, body = await _get(
            f"{target.server}/readyz", headers=headers, timeout=probe.timeout, verify=verify
        )
    except (httpx.HTTPError, OSError) as exc:
        raise _Failed(f"{target.server}: {type(exc).__name__}: {exc}") from None
    if status != 200 or body.strip() != "ok":
        raise _Failed(f"{target.server}/readyz: HTTP {status}: {body.strip()[:200]!r}")
    return f"{target.server} ready"


async def _command(probe: CommandProbe, *, env: Mapping[str, str], root: Path) -> str:
    try:
        result = await _in_daemon_thread(
            lambda: run_user_command(probe.command, cwd=root, env=env, timeout=probe.timeout)
        )
    except InfraError as exc:
        raise _Failed(exc.message, retry=False) from None
    last = tail(result.output, 3)
    if result.timed_out or result.returncode != 0:
        what = (
            f"timed out after {probe.timeout:g}s"
            if result.timed_out
            else f"exit {result.returncode}"
        )
        raise _Failed(f"{what}: {last}" if last else what)
    return tail(result.output, 1) or "exit 0"


async def _in_daemon_thread(fn: Callable[[], _T]) -> _T:
    """Run blocking `fn` in a daemon thread: unlike the default executor, a call that outlives
    its timeout (a hung getaddrinfo) cannot hold up the interpreter's exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()

    def deliver(value: _T | None, error: BaseException | None) -> None:
        if future.done():
            return  # the caller gave up (timeout)
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)  # type: ignore[arg-type]

    def work() -> None:
        value: _T | None = None
        error: BaseException | None = None
        try:
            value = fn()
        except BaseException as exc:  # handed to the awaiting coroutine
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(deliver, value, error)

    threading.Thread(target=work, daemon=True).start()
    return await future
