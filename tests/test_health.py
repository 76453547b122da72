"""`infra health`: probes against real servers and processes on 127.0.0.1."""

from __future__ import annotations

import base64
import io
import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rich.console import Console

from infra_pipeline.adapters.probes import ProbeKind, check_health
from infra_pipeline.config import parse_config
from infra_pipeline.config_checks import (
    CommandProbe,
    DnsProbe,
    HttpProbe,
    KubernetesProbe,
    KubeSpec,
    TcpProbe,
)
from infra_pipeline.core.dashboard.model import Status
from infra_pipeline.errors import ExitCode, InfraError
from infra_pipeline.flows.health import (
    dashboard_cell,
    render_markdown,
    run_health,
)

SECRET = "s3cr3t-health-token-value"


@dataclass
class ServerState:
    barrier: threading.Barrier = field(default_factory=lambda: threading.Barrier(3, timeout=10))
    release: threading.Event = field(default_factory=threading.Event)
    flaky_hits: int = 0
    active: int = 0
    max_active: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    seen_auth: list[str] = field(default_factory=list)


def _handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def reply(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            auth = self.headers.get("Authorization", "")
            state.seen_auth.append(auth)
            if self.path == "/ok":
                self.reply(200, "status: ok")
            elif self.path == "/wrong-status":
                self.reply(503, "status: ok")
            elif self.path == "/wrong-body":
                self.reply(200, "status: degraded")
            elif self.path == "/slow":
                state.release.wait(10)
                self.reply(200, "status: ok")
            elif self.path == "/echo-auth":
                # A badly behaved service that echoes credentials back in its error page.
                self.reply(401, f"bad credentials: {auth}")
            elif self.path == "/flaky":
                with state.lock:
                    state.flaky_hits += 1
                    first = state.flaky_hits == 1
                self.reply(503 if first else 200, "status: ok")
            elif self.path == "/together":
                with state.lock:
                    state.active += 1
                    state.max_active = max(state.max_active, state.active)
                try:
                    # Only passes when all three probes are in flight at the same time.
                    state.barrier.wait()
                    self.reply(200, "ok")
                except threading.BrokenBarrierError:
                    self.reply(500, "probes did not overlap")
                finally:
                    with state.lock:
                        state.active -= 1
            elif self.path == "/readyz":
                ok = auth == f"Bearer {SECRET}"
                self.reply(200 if ok else 401, "ok" if ok else "Unauthorized")
            else:
                self.reply(404, "not found")

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, ServerState]]:
    state = ServerState()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    state.release.set()
    state.barrier.abort()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port nothing listens on. It stays bound (without `listen`) for the whole test, so a
    connection is refused and no other process (a parallel test's server) can take it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def check(probes: dict, tmp_path: Path, env: dict[str, str] | None = None):
    return check_health(probes, env=env or {}, root=tmp_path)


def test_http_probes_up_wrong_status_wrong_body_down(server, closed_port, tmp_path):
    url, _ = server
    report = check(
        {
            "up": HttpProbe(http=f"{url}/ok", contains="ok"),
            "status": HttpProbe(http=f"{url}/wrong-status", retries=0),
            "body": HttpProbe(http=f"{url}/wrong-body", contains="ok", retries=0),
            "down": HttpProbe(http=f"http://127.0.0.1:{closed_port}/", retries=0),
        },
        tmp_path,
    )
    by_name = {r.name: r for r in report.results}
    assert [r.name for r in report.results] == ["up", "status", "body", "down"]
    assert by_name["up"].ok and by_name["up"].detail == "HTTP 200"
    assert by_name["up"].kind is ProbeKind.HTTP
    assert not by_name["status"].ok and by_name["status"].detail == "expected HTTP 200, got 503"
    assert not by_name["body"].ok and "lacks 'ok'" in by_name["body"].detail
    assert not by_name["down"].ok and "ConnectError" in by_name["down"].detail
    assert report.exit_code is ExitCode.FAILURE
    assert dashboard_cell(report) == (Status.FAILED, "3/4 failed: status, body, down")


def test_slow_http_probe_times_out(server, tmp_path):
    url, _ = server
    report = check({"slow": HttpProbe(http=f"{url}/slow", timeout=0.3, retries=1)}, tmp_path)
    (result,) = report.results
    assert not result.ok
    assert result.detail == "timed out after 0.3s"
    assert result.attempts == 2


def test_a_failed_attempt_is_retried(server, tmp_path):
    url, state = server
    report = check({"flaky": HttpProbe(http=f"{url}/flaky", retries=2)}, tmp_path)
    (result,) = report.results
    assert result.ok and result.attempts == 2 and state.flaky_hits == 2
    assert "after 2 attempts" in render_markdown(report)


def test_probes_run_concurrently(server, tmp_path):
    url, state = server
    probes = {f"p{i}": HttpProbe(http=f"{url}/together", timeout=15, retries=0) for i in range(3)}
    report = check(probes, tmp_path)
    # The server's barrier lets a request through only once all three are in flight.
    assert report.ok, report.results
    assert state.max_active == 3


def test_secret_header_comes_from_env_and_is_never_printed(server, tmp_path):
    url, state = server
    (tmp_path / "layer").mkdir()
    config = parse_config(
        textwrap.dedent(
            f"""
            version: 1
            layers: {{app: {{path: layer, order: 1}}}}
            health:
              api:
                http: "{url}/echo-auth"
                headers: {{Authorization: "Bearer ${{API_TOKEN}}"}}
                retries: 0
            """
        ),
        tmp_path / "infra.yaml",
    )
    out = io.StringIO()
    report = run_health(config, env={"API_TOKEN": SECRET}, console=Console(file=out, width=200))
    assert state.seen_auth == [f"Bearer {SECRET}"]  # the service did get the token
    (result,) = report.results
    assert not result.ok and "got 401" in result.detail
    for text in (out.getvalue(), render_markdown(report), result.detail):
        assert SECRET not in text
    assert "api" in out.getvalue()


def test_unset_variable_fails_without_retrying(server, tmp_path):
    url, state = server
    probe = HttpProbe(http=f"{url}/ok", headers={"X-Key": "${MISSING}"}, retries=3)
    (result,) = check({"api": probe}, tmp_path).results
    assert not result.ok
    assert result.detail == "environment variable MISSING is not set"
    assert result.attempts == 1 and state.seen_auth == []


def test_tcp_probe_open_and_closed(closed_port, tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        report = check(
            {
                "db": TcpProbe(tcp=f"127.0.0.1:{port}"),
                "gone": TcpProbe(tcp=f"127.0.0.1:{closed_port}", retries=0),
                "bad": TcpProbe(tcp="no-port-here"),
            },
            tmp_path,
        )
    finally:
        listener.close()
    db, gone, bad = report.results
    assert db.ok and db.detail == f"connected to 127.0.0.1:{port}"
    assert not gone.ok and "cannot connect" in gone.detail
    assert not bad.ok and "is not host:port" in bad.detail and bad.attempts == 1


def test_dns_probe(tmp_path):
    report = check(
        {
            "local": DnsProbe(dns="localhost"),
            "nowhere": DnsProbe(dns="does-not-exist.invalid", timeout=1, retries=0),
        },
        tmp_path,
    )
    local, nowhere = report.results
    assert local.ok and local.detail.startswith("localhost → ")
    assert not nowhere.ok


def test_command_probe_ok_failing_and_hanging(tmp_path):
    (tmp_path / "check.py").write_text("import sys\nprint('all good')\n")
    report = check(
        {
            "ok": CommandProbe(command=("python", "check.py")),
            "bad": CommandProbe(
                command=("python", "-c", "print('disk full'); raise SystemExit(3)")
            ),
            "hang": CommandProbe(
                command=("python", "-c", "import time; time.sleep(60)"), timeout=0.5
            ),
            "missing": CommandProbe(command=("./no-such-script.sh",)),
        },
        tmp_path,
    )
    ok, bad, hang, missing = report.results
    assert ok.ok and ok.detail == "all good"
    assert not bad.ok and bad.detail == "exit 3: disk full"
    assert not hang.ok and hang.detail.startswith("timed out after 0.5s")
    assert not missing.ok and "cannot start" in missing.detail


def test_kubernetes_probe_uses_kubeconfig_token(server, tmp_path):
    url, state = server
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text(
        textwrap.dedent(
            f"""
            apiVersion: v1
            kind: Config
            current-context: ci
            contexts: [{{name: ci, context: {{cluster: homelab, user: robot}}}}]
            clusters: [{{name: homelab, cluster: {{server: "{url}"}}}}]
            users: [{{name: robot, user: {{token: {SECRET}}}}}]
            """
        )
    )
    report = check(
        {"cluster": KubernetesProbe(kubernetes=KubeSpec(kubeconfig="kubeconfig.yaml"))}, tmp_path
    )
    (result,) = report.results
    assert result.ok, result.detail
    assert state.seen_auth == [f"Bearer {SECRET}"]
    assert SECRET not in render_markdown(report)


def test_kubernetes_probe_reports_a_broken_kubeconfig(tmp_path):
    (tmp_path / "kc").write_text("current-context: nope\ncontexts: []\n")
    (result,) = check(
        {"cluster": KubernetesProbe(kubernetes=KubeSpec(kubeconfig="kc"), retries=3)}, tmp_path
    ).results
    assert not result.ok and "no context named 'nope'" in result.detail
    assert result.attempts == 1


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a test CA")
def test_kubernetes_probe_over_tls_with_ca_data_and_exec_plugin(server, tmp_path):
    _, state = server
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "import json, os\n"
        "print(json.dumps({'kind': 'ExecCredential',"
        " 'status': {'token': os.environ['PLUGIN_TOKEN']}}))\n"
    )
    ca_data = base64.b64encode(cert.read_bytes()).decode()
    (tmp_path / "kc").write_text(
        textwrap.dedent(
            f"""
            current-context: eks
            contexts: [{{name: eks, context: {{cluster: c, user: u}}}}]
            clusters:
              - name: c
                cluster:
                  server: https://127.0.0.1:{httpd.server_address[1]}
                  certificate-authority-data: {ca_data}
            users:
              - name: u
                user:
                  exec:
                    command: {sys.executable}
                    args: [{plugin}]
                    env: [{{name: PLUGIN_TOKEN, value: {SECRET}}}]
            """
        )
    )
    try:
        env = {"KUBECONFIG": str(tmp_path / "kc"), "PATH": "/usr/bin:/bin"}
        (result,) = check({"k8s": KubernetesProbe(kubernetes=KubeSpec())}, tmp_path, env).results
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.ok, result.detail
    assert result.detail.endswith("ready")
    assert state.seen_auth[-1] == f"Bearer {SECRET}"


def test_all_ok_report_and_no_probes(server, tmp_path):
    url, _ = server
    report = check({"api": HttpProbe(http=f"{url}/ok")}, tmp_path)
    assert report.exit_code is ExitCode.OK
    assert dashboard_cell(report) == (Status.OK, "1/1 probes ok")
    assert render_markdown(report).startswith("### 🩺 Health: ✅ 1/1 probes ok")
    (tmp_path / "layer").mkdir()
    config = parse_config(
        "version: 1\nlayers: {app: {path: layer, order: 1}}\n", tmp_path / "infra.yaml"
    )
    with pytest.raises(InfraError, match="no health probes"):
        run_health(config, env={}, console=Console(file=io.StringIO()))
