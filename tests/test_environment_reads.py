"""`GITHUB_*` variables are read in one module, `adapters/actions_env.py`; everything else gets
them typed, from the `ActionsEnv` built once per process (or `ApiAccess` for the client)."""

from __future__ import annotations

import ast
from pathlib import Path

import infra_pipeline

PACKAGE = Path(infra_pipeline.__file__).parent
READER = PACKAGE / "adapters" / "actions_env.py"


def _github_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, name) of each `env.get("GITHUB_…")`, `env["GITHUB_…"]`, `os.getenv("GITHUB_…")`
    or `"GITHUB_…" in env`: a read of the variable, not a mention of it in a message."""
    found: list[tuple[int, str]] = []

    def github_name(node: ast.AST | None) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value if node.value.startswith("GITHUB_") else None
        return None

    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            method = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if method in ("get", "getenv", "pop", "setdefault"):
                name = github_name(node.args[0])
        elif isinstance(node, ast.Subscript):
            name = github_name(node.slice)
        elif isinstance(node, ast.Compare) and any(
            isinstance(op, (ast.In, ast.NotIn)) for op in node.ops
        ):
            name = github_name(node.left)
        if name is not None:
            found.append((node.lineno, name))
    return found


def test_only_the_actions_environment_reads_github_variables() -> None:
    reads = {
        f"{path.relative_to(PACKAGE)}:{line} {name}"
        for path in PACKAGE.rglob("*.py")
        if path != READER
        for line, name in _github_reads(ast.parse(path.read_text(encoding="utf-8")))
    }
    assert reads == set(), "read them through adapters.actions_env (ActionsEnv, ApiAccess)"


def test_the_check_sees_a_read() -> None:
    code = 'a = env.get("GITHUB_SHA")\nb = os.environ["GITHUB_ACTOR"]\nc = "GITHUB_X" in env\n'
    assert _github_reads(ast.parse(code)) == [
        (1, "GITHUB_SHA"),
        (2, "GITHUB_ACTOR"),
        (3, "GITHUB_X"),
    ]
    assert _github_reads(ast.parse(READER.read_text(encoding="utf-8")))  # the reader does read
