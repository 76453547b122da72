"""The security gate between a comment and Terraform (core/gate.py), tested directly: who may
run what, forks, review requirements, and whether the layers an `/apply` names were planned
and reviewed at this head (that the fresh plan is the reviewed one: test_apply_integrity)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from msgspec.structs import replace

from infra_pipeline.config import Config, Role, parse_config
from infra_pipeline.core.dashboard import steps as d
from infra_pipeline.core.dashboard.steps import Dashboard, Stage, Status
from infra_pipeline.core.gate import (
    Refusal,
    apply_targets,
    authorize,
    check_requirements,
    check_reviewed,
    layer_refusal,
    permitted,
)
from infra_pipeline.core.github_models import PullRequest, Review
from infra_pipeline.errors import ConfigError
from infra_pipeline.models import ChangeKind, PlanCounts, PlanResult, ResourceChange

HEAD, BASE = "a1b2c3d" + "0" * 33, "b" * 40
NOW = datetime(2026, 3, 4, 12, 34, tzinfo=UTC)
RUN = 7


def config(extra: str = "") -> Config:
    text = (
        "version: 1\n"
        "layers:\n"
        "  network: {path: network, order: 1}\n"
        "  platform: {path: platform, order: 2}\n" + extra
    )
    return parse_config(text, Path("/repo/infra.yaml"), check_paths=False)


def pull(*, fork: bool = False, mergeable: bool | None = True, base: str = BASE) -> PullRequest:
    return PullRequest(
        number=12,
        title="Grow the cluster",
        state="open",
        merged=False,
        draft=False,
        head_sha=HEAD,
        head_ref="grow",
        head_repo="someone/infra" if fork else "acme/infra",
        base_sha=base,
        base_ref="main",
        author="alice",
        is_fork=fork,
        mergeable=mergeable,
        html_url="https://github.com/acme/infra/pull/12",
        node_id="PR_1",
    )


def plan(layer: str, creates: int, fingerprint: str) -> PlanResult:
    changes = tuple(
        ResourceChange(f"terraform_data.n{i}", ChangeKind.CREATE, ("create",))
        for i in range(creates)
    )
    return PlanResult(layer, PlanCounts(add=creates), changes, (), (), (), fingerprint, "Plan: ...")


def reviewed(*plans: PlanResult) -> Dashboard:
    m = d.new_dashboard(
        repo="acme/infra",
        pr=12,
        head_sha=HEAD,
        base_sha=BASE,
        layers=["network", "platform"],
        server_url="https://github.com",
    )
    m = d.finish_stage(d.start_stage(m, Stage.CI, RUN, NOW), Stage.CI, Status.OK, RUN, NOW)
    m = d.start_plan(m, [p.layer for p in plans], RUN, NOW)
    for p in plans:
        m = d.finish_plan(m, p, RUN, NOW, base_sha=BASE)
    return m


def review(user: str, state: str) -> Review:
    return Review(id=len(user) + len(state), user=user, state=state, commit_id=HEAD)


# -- authorize: the role, then the fork rule ------------------------------------------------------


def test_a_writer_may_plan_and_apply_by_default() -> None:
    for command in ("plan", "apply"):
        assert authorize(config(), command, "bob", Role.WRITE, pull()) is None


def test_a_reader_is_refused_with_the_role_needed_and_the_role_held() -> None:
    refusal = authorize(config(), "apply", "eve", Role.READ, pull())
    assert isinstance(refusal, Refusal)
    assert "@eve" in refusal.reason and "`write`" in refusal.reason and "`read`" in refusal.reason


def test_a_stricter_apply_permission_in_infra_yaml_is_enforced() -> None:
    strict = config("permissions:\n  apply: maintain\n")
    assert authorize(strict, "apply", "bob", Role.WRITE, pull()) is not None
    assert authorize(strict, "apply", "bob", Role.MAINTAIN, pull()) is None
    assert authorize(strict, "plan", "bob", Role.WRITE, pull()) is None


def test_anyone_may_ask_for_help_even_on_a_fork() -> None:
    assert authorize(config(), "help", "stranger", Role.NONE, pull(fork=True)) is None


@pytest.mark.parametrize("command", ["plan", "apply", "e2e"])
def test_a_forks_pull_request_is_refused_even_for_an_admin(command: str) -> None:
    refusal = authorize(config(), command, "root", Role.ADMIN, pull(fork=True))
    assert refusal is not None and "forks" in refusal.reason and "allow_forks" in refusal.reason


def test_allow_forks_lets_a_forks_pull_request_through() -> None:
    assert (
        authorize(config("allow_forks: true\n"), "plan", "bob", Role.WRITE, pull(fork=True)) is None
    )


# -- apply_targets and check_reviewed: only what was planned and reviewed at this head ----------


def test_apply_without_names_means_every_layer_with_reviewed_changes() -> None:
    m = reviewed(plan("network", 0, "fp-n"), plan("platform", 2, "fp-p"))
    assert apply_targets(m, []) == ["platform"]
    assert apply_targets(m, ["network"]) == ["network"]
    assert apply_targets(None, []) == []


def test_apply_before_any_plan_at_this_head_is_refused() -> None:
    refusal = check_reviewed(None, ["platform"], pull())
    assert refusal is not None and HEAD[:7] in refusal.reason and "/plan" in refusal.reason


def test_apply_of_a_layer_that_was_not_planned_is_refused() -> None:
    m = reviewed(plan("network", 1, "fp-n"))
    refusal = check_reviewed(m, ["network", "platform"], pull())
    assert refusal is not None and "`platform` has no successful plan" in refusal.reason
    assert check_reviewed(m, ["network"], pull()) is None


def test_apply_after_the_base_branch_moved_is_refused() -> None:
    m = reviewed(plan("platform", 1, "fp-p"))
    moved = pull(base="c" * 40)
    refusal = check_reviewed(m, ["platform"], moved)
    assert refusal is not None and "base branch moved" in refusal.reason
    assert BASE[:7] in refusal.reason and "ccccccc" in refusal.reason


# -- check_requirements: approved and mergeable -------------------------------------------------


def test_no_requirements_means_no_review_is_needed() -> None:
    assert check_requirements(config("apply_requirements: []\n"), pull(), []) is None


def test_approved_needs_an_approval_from_someone_other_than_the_author() -> None:
    cfg = config("apply_requirements: [approved]\n")
    assert check_requirements(cfg, pull(), []) is not None
    assert check_requirements(cfg, pull(), [review("alice", "APPROVED")]) is not None
    assert check_requirements(cfg, pull(), [review("bob", "APPROVED")]) is None


def test_a_reviewers_latest_verdict_counts_and_changes_requested_blocks() -> None:
    cfg = config("apply_requirements: [approved]\n")
    later_dismissed = [review("bob", "APPROVED"), review("bob", "DISMISSED")]
    assert check_requirements(cfg, pull(), later_dismissed) is not None
    blocked = [review("bob", "APPROVED"), review("carol", "CHANGES_REQUESTED")]
    assert check_requirements(cfg, pull(), blocked) is not None
    comment_only = [review("bob", "APPROVED"), review("bob", "COMMENTED")]
    assert check_requirements(cfg, pull(), comment_only) is None


@pytest.mark.parametrize("mergeable", [False, None])
def test_mergeable_requires_github_to_say_it_is_mergeable(mergeable: bool | None) -> None:
    cfg = config("apply_requirements: [mergeable]\n")
    refusal = check_requirements(cfg, pull(mergeable=mergeable), [])
    assert refusal is not None and "mergeable" in refusal.reason
    assert check_requirements(cfg, pull(mergeable=True), []) is None


# -- per-layer permissions and requirements (issue 16) ------------------------------------------


def layered(extra: str = "") -> Config:
    text = (
        "version: 1\n"
        "layers:\n"
        "  network: {path: network, order: 1}\n"
        "  platform: {path: platform, order: 2, permissions: {apply: admin},"
        " apply_requirements: [approved]}\n"
        "permissions: {apply: write}\n" + extra
    )
    return parse_config(text, Path("/repo/infra.yaml"), check_paths=False)


def test_a_layers_own_role_refuses_only_that_layer() -> None:
    cfg = layered()
    assert authorize(cfg, "apply", "bob", Role.WRITE, pull()) is None
    allowed, refused = permitted(cfg, "apply", "bob", Role.WRITE, ["network", "platform"])
    assert allowed == ["network"]
    reason = refused["platform"].reason
    assert "needs the `admin` role" in reason and "/apply platform" in reason
    assert "layers.platform.permissions" in reason
    assert permitted(cfg, "apply", "root", Role.ADMIN, ["network", "platform"]) == (
        ["network", "platform"],
        {},
    )


def test_a_layer_may_lower_the_bar_below_the_global_role() -> None:
    cfg = replace(layered(), permissions={"apply": Role.ADMIN})
    network = replace(cfg.layers["network"], permissions={"apply": Role.WRITE})
    cfg = replace(cfg, layers={**cfg.layers, "network": network})
    assert authorize(cfg, "apply", "bob", Role.WRITE, pull()) is None  # may apply network
    assert layer_refusal(cfg, "apply", "bob", Role.WRITE, "network") is None
    assert layer_refusal(cfg, "apply", "bob", Role.WRITE, "platform") is not None


def test_a_layers_requirements_add_to_the_global_ones() -> None:
    cfg = layered("apply_requirements: [mergeable]\n")
    assert cfg.apply_requirements_for("platform") == ("mergeable", "approved")
    assert check_requirements(cfg, pull(), []) is None  # the global: mergeable, and it is
    refusal = check_requirements(cfg, pull(), [], "platform")
    assert refusal is not None and "layers.platform.apply_requirements" in refusal.reason
    assert check_requirements(cfg, pull(), [review("bob", "APPROVED")], "platform") is None
    assert check_requirements(cfg, pull(), [], "network") is None


def test_a_layers_permissions_name_only_apply() -> None:
    with pytest.raises(ConfigError, match="permissions cover apply"):
        parse_config(
            "version: 1\nlayers:\n  a: {path: a, order: 1, permissions: {health: admin}}\n",
            Path("/repo/infra.yaml"),
            check_paths=False,
        )
