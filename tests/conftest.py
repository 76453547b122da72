"""Shared fixtures: a running GitHub stand-in and the environment GitHub Actions would give."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import pgstate
from standin import DEFAULT_REPO, GitHubStandIn


def _put_the_built_tools_on_path() -> None:
    """`make tools` builds terragrunt and tofu into version-keyed directories; put them first
    on PATH, as the Makefile does, so `pytest` run by hand finds the same binaries."""
    script = Path(__file__).resolve().parent.parent / "tools" / "build.py"
    spec = importlib.util.spec_from_file_location("infra_tools_build", script)
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = build  # dataclasses look their module up there
    spec.loader.exec_module(build)
    dirs = build.tool_path_dirs(build.tools_dir(), build.read_versions())
    path = os.environ.get("PATH", os.defpath).split(os.pathsep)
    os.environ["PATH"] = os.pathsep.join([*(str(d) for d in dirs if str(d) not in path), *path])


_put_the_built_tools_on_path()


@pytest.fixture
def standin() -> Iterator[GitHubStandIn]:
    """A fresh, empty GitHub on a free port. At teardown every request the test made must have
    been one GitHub accepts (see `GitHubStandIn.violations`)."""
    with GitHubStandIn(DEFAULT_REPO) as server:
        yield server
        assert server.violations == [], "requests GitHub would reject:\n" + "\n".join(
            server.violations
        )


@pytest.fixture
def gh_env(standin: GitHubStandIn) -> dict[str, str]:
    """The `GITHUB_*` variables of a workflow run in `acme/infra`, pointed at the stand-in
    (`GITHUB_ACTIONS` is left out: add it where a test wants Actions-only output)."""
    return {
        "GITHUB_API_URL": standin.api_url,
        "GITHUB_SERVER_URL": standin.url,
        "GITHUB_GRAPHQL_URL": standin.url + "/graphql",
        "GITHUB_TOKEN": "ghs_standin_token",
        "GITHUB_REPOSITORY": DEFAULT_REPO,
        "GITHUB_REPOSITORY_OWNER": DEFAULT_REPO.split("/")[0],
        "GITHUB_RUN_ID": "4242",
    }


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The PostgreSQL server for Terraform's pg backend: the one `make test` started
    (`PG_CONN_STR`), else a throwaway one for this pytest process (`tools/pgcluster.py`)."""
    conn = os.environ.get(pgstate.ENV_VAR)
    if conn:
        yield conn
        return
    with pgstate.pgcluster().cluster() as started:
        yield started


@pytest.fixture
def pg_conn_str(pg_server: str) -> Iterator[str]:
    """A database of this test's own: the pg backend's creation lock is one key per database,
    so tests sharing a database (even in different schemas) would wait on each other."""
    with pgstate.scratch_database(pg_server) as conn:
        yield conn
