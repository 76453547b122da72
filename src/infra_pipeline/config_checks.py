"""infra.yaml's `health` probes and `e2e` suites, as typed records (see `config`).

Apart from `config`'s other records because only a file that has these keys needs them: a
file with them is read through `config_models`, which imports this module, as do the probes and
the suites; a plan of a file without them does not build these records before its first
Terraform command.
"""

from __future__ import annotations

from msgspec import Struct, field


class HttpProbe(Struct, frozen=True, kw_only=True):
    """A health probe: an HTTP GET that must answer `expect_status` (and hold `contains`)."""

    http: str
    expect_status: int = 200
    contains: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 5
    retries: int = 2


class TcpProbe(Struct, frozen=True, kw_only=True):
    """A health probe: a TCP connection to `tcp` (host:port) that must open."""

    tcp: str  # host:port
    timeout: float = 3
    retries: int = 2


class DnsProbe(Struct, frozen=True, kw_only=True):
    """A health probe: a name that must resolve."""

    dns: str
    timeout: float = 3
    retries: int = 2


class KubeSpec(Struct, frozen=True, kw_only=True):
    """Which kubeconfig, and which context in it, a Kubernetes probe reads."""

    # None: not set in infra.yaml, so $KUBECONFIG, else ~/.kube/config (adapters/kubeconfig).
    kubeconfig: str | None = None
    context: str | None = None


class KubernetesProbe(Struct, frozen=True, kw_only=True):
    """A health probe: the Kubernetes API server of a kubeconfig must answer."""

    kubernetes: KubeSpec
    timeout: float = 5
    retries: int = 2


class CommandProbe(Struct, frozen=True, kw_only=True):
    """A health probe: a command that must exit 0."""

    command: tuple[str, ...]
    timeout: float = 30
    retries: int = 0


# The probe's kind is the one key among http/tcp/dns/kubernetes/command that it has.
Probe = HttpProbe | TcpProbe | DnsProbe | KubernetesProbe | CommandProbe


class E2ESuite(Struct, frozen=True, kw_only=True):
    """An end-to-end test suite: a command, its time limit and its JUnit report."""

    command: tuple[str, ...]
    timeout: int = 600
    junit: str | None = None  # JUnit XML report the suite writes
    cwd: str | None = None  # relative to infra.yaml
    env: dict[str, str] = field(default_factory=dict)
