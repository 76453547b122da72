"""Shared fixtures: a running GitHub stand-in and the environment GitHub Actions would give."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
