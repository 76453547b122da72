"""Shared fixtures: a running GitHub stand-in and the environment GitHub Actions would give."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import pgstate
from standin import DEFAULT_REPO, GitHubStandIn


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
