"""Just enough of a kubeconfig to call the API server: URL, trust, and credentials.

Supports what CI runners are given in practice: CA as data or file, a bearer token (inline
or `tokenFile`), a client certificate (data or files), and `exec` credential plugins (EKS,
GKE, AKS) that print an ExecCredential. Everything is read into a `KubeTarget`; nothing is
cached and no secret is logged.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import ssl
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from msgspec import Struct

from ..config_checks import KubeSpec
from ..errors import InfraError
from ..records import shown
from .usercmd import run_user_command

EXEC_TIMEOUT_SECONDS = 30.0
_HINT = "fix the kubeconfig, or the `kubernetes.kubeconfig` path in infra.yaml"


class KubeTarget(Struct, frozen=True):
    server: str
    ca_pem: str | None = None  # None: the system's trust store
    insecure: bool = False
    # The credentials: never shown (`__repr__`).
    token: str | None = None
    client_cert_pem: str | None = None
    client_key_pem: str | None = None

    def __repr__(self) -> str:
        return shown(self, "token", "client_cert_pem", "client_key_pem")

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.token, self.client_key_pem) if s)

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.ca_pem) if self.ca_pem else None
        context = context or ssl.create_default_context()
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.client_cert_pem and self.client_key_pem:
            # The ssl module only loads key pairs from files; keep them private and brief.
            with tempfile.TemporaryDirectory(prefix="infra-kube-") as tmp:
                cert, key = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
                for path, text in ((cert, self.client_cert_pem), (key, self.client_key_pem)):
                    path.touch(mode=0o600)
                    path.write_text(text, encoding="utf-8")
                context.load_cert_chain(cert, key)
        return context


def kubeconfig_path(spec: KubeSpec, *, env: Mapping[str, str], root: Path) -> Path:
    """The file to read: `kubeconfig:` when set in infra.yaml, else $KUBECONFIG's first entry,
    else ~/.kube/config. Relative paths are relative to infra.yaml."""
    raw = spec.kubeconfig
    if raw is None:
        kubeconfig = env.get("KUBECONFIG")
        raw = kubeconfig.split(os.pathsep)[0] if kubeconfig else "~/.kube/config"
    if raw == "~" or raw.startswith("~/"):
        home = env.get("HOME") or str(Path.home())
        raw = home + raw[1:]
    path = Path(raw)
    return path if path.is_absolute() else root / path


def load_target(spec: KubeSpec, *, env: Mapping[str, str], root: Path) -> KubeTarget:
    """Read the kubeconfig's selected context into a `KubeTarget`; InfraError when unusable."""
    path = kubeconfig_path(spec, env=env, root=root)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InfraError(f"cannot read kubeconfig {path}: {exc.strerror}", _HINT) from exc
    except yaml.YAMLError as exc:
        raise InfraError(f"kubeconfig {path} is not valid YAML", _HINT) from exc
    if not isinstance(doc, dict):
        raise InfraError(f"kubeconfig {path} is not a mapping", _HINT)
    context_name = spec.context or doc.get("current-context")
    if not context_name:
        raise InfraError(
            f"kubeconfig {path} has no current-context", "set `context:` in infra.yaml"
        )
    context = _named(doc, "contexts", "context", context_name, path)
    cluster = _named(doc, "clusters", "cluster", str(context.get("cluster", "")), path)
    user_name = context.get("user")
    user = _named(doc, "users", "user", str(user_name), path) if user_name else {}
    base = path.parent

    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        raise InfraError(f"kubeconfig {path}: cluster of {context_name!r} has no server", _HINT)
    token = user.get("token") or _read_opt(user.get("tokenFile"), base)
    cert = _pem(user, "client-certificate", base)
    key = _pem(user, "client-key", base)
    if isinstance(user.get("exec"), dict) and not (token or cert):
        token, cert, key = _exec_credential(user["exec"], env=env, cwd=base)
    return KubeTarget(
        server=server.rstrip("/"),
        ca_pem=_pem(cluster, "certificate-authority", base),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        token=token.strip() if isinstance(token, str) else None,
        client_cert_pem=cert,
        client_key_pem=key,
    )


def _named(doc: dict[str, Any], section: str, key: str, name: str, path: Path) -> dict[str, Any]:
    for entry in doc.get(section) or ():
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(key) or {}
            return value if isinstance(value, dict) else {}
    raise InfraError(f"kubeconfig {path}: no {key} named {name!r} in `{section}`", _HINT)


def _pem(section: dict[str, Any], key: str, base: Path) -> str | None:
    """`<key>-data` (base64 PEM) or `<key>` (a file path)."""
    data = section.get(f"{key}-data")
    if isinstance(data, str) and data:
        try:
            return base64.b64decode(data, validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InfraError(f"kubeconfig: `{key}-data` is not base64 PEM", _HINT) from exc
    return _read_opt(section.get(key), base)


def _read_opt(file: object, base: Path) -> str | None:
    if not isinstance(file, str) or not file:
        return None
    path = Path(file).expanduser()
    path = path if path.is_absolute() else base / path
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InfraError(f"kubeconfig refers to {path}: {exc.strerror}", _HINT) from exc


def _exec_credential(
    spec: dict[str, Any], *, env: Mapping[str, str], cwd: Path
) -> tuple[str | None, str | None, str | None]:
    """Run a client-go credential plugin and read its ExecCredential `status`."""
    command = spec.get("command")
    if not isinstance(command, str):
        raise InfraError("kubeconfig: `exec` has no command", _HINT)
    argv = [command, *(str(a) for a in spec.get("args") or ())]
    extra = {
        str(e["name"]): str(e["value"])
        for e in spec.get("env") or ()
        if isinstance(e, dict) and "name" in e and "value" in e
    }
    result = run_user_command(argv, cwd=cwd, env={**env, **extra}, timeout=EXEC_TIMEOUT_SECONDS)
    if result.timed_out or result.returncode != 0:
        raise InfraError(f"kubeconfig credential plugin: {result.describe()}", _HINT)
    try:
        status = json.loads(result.stdout).get("status") or {}
    except (ValueError, AttributeError) as exc:
        raise InfraError(
            f"credential plugin `{command}` did not print an ExecCredential", _HINT
        ) from exc
    return (
        status.get("token"),
        status.get("clientCertificateData"),
        status.get("clientKeyData"),
    )
