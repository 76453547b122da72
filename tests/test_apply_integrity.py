"""`/apply` applies exactly what the dashboard showed, against an attacker with write access:
forged dashboards (by another App, or by a workflow posting as `github-actions[bot]`), edited
dashboards, a second dashboard for the head, records swapped between layers or commits, and a
sensitive value changed between review and apply. Real Terraform, real git, the stand-in."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from msgspec.structs import replace

from dashboard_html import page_of
from homelab import infra, state_resources
from infra_pipeline.core.dashboard import steps as dash
from prstory import EventRun, Repo, dashboard_body, make_repo, replies
from standin import GitHubStandIn, make_event

PLATFORM_FILE = "modules/platform/main.tf"
STAGING_FILE = "modules/data-staging/main.tf"
MONITORING = """module "monitoring" {
  source      = "../service"
  name        = "prometheus"
  environment = "platform"
  settings = {
    owner = var.owner
  }
}
"""
DESTROYED = "module.monitoring.terraform_data.deployment"


@pytest.fixture
def repo(tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str]) -> Repo:
    standin.set_permission("alice", "maintain")
    standin.set_permission("walter", "write")
    return make_repo(tmp_path, standin, gh_env)


def live_platform(repo: Repo) -> list[str]:
    """The platform layer as main deployed it: monitoring included."""
    assert infra(repo.root, "apply", "platform", "--auto-approve").code == 0
    live = state_resources(repo.root, "platform")
    assert DESTROYED in live
    return live


def harmless(repo: Repo) -> str:
    return repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = 3", "more replicas")


def drop_monitoring(repo: Repo) -> str:
    repo.commit(PLATFORM_FILE, MONITORING, "", "drop monitoring")
    return repo.commit(
        PLATFORM_FILE, ", module.monitoring.name]", "]", "drop monitoring from the outputs"
    )


def comment(repo: Repo, number: int, body: str, user: str, **env: str) -> EventRun:
    record = repo.standin.add_comment(number, body, user=user)
    payload = make_event(
        "issue_comment", "created", number=number, body=body, user=user, comment_id=record.id
    )
    return repo.event("issue_comment", payload, **env)


def retarget(body: str, head: str) -> str:
    """A real dashboard's body, made to claim another head commit (as a forger would)."""
    m = dash.parse(body)
    layers = tuple(
        replace(layer, record=replace(layer.record, head_sha=head)) if layer.record else layer
        for layer in m.layers
    )
    return dash.render(replace(m, head_sha=head, layers=layers))


def with_record(body: str, layer: str, record: dash.PlanRecord | None) -> str:
    """`body` re-rendered with `layer`'s plan record replaced: a consistent forgery."""
    m = dash.parse(body)
    layers = tuple(replace(x, record=record) if x.name == layer else x for x in m.layers)
    return dash.render(replace(m, layers=layers))


def hide_destroys(body: str, layer: str) -> str:
    record = dash.parse(body).layer(layer).record
    assert record is not None and record.destroys
    return with_record(
        body, layer, replace(record, destroys=(), counts=replace(record.counts, destroy=0))
    )


def edit(standin: GitHubStandIn, number: int, head: str, body: str) -> None:
    """A writer edits the dashboard comment (GitHub lets writers edit anyone's comments)."""
    for record in standin.comments(number):
        if record.body.startswith(dash.marker(head)):
            record.body = body
            return
    raise AssertionError("no dashboard to edit")


def refused(repo: Repo, result: EventRun, number: int = 7) -> str:
    assert result.code != 0, result.out + result.err
    return replies(repo.standin, number)[-1]


# -- forged dashboards -------------------------------------------------------------------------


def test_a_dashboard_forged_by_another_app_or_a_workflow_is_not_applied(
    repo: Repo, standin: GitHubStandIn
) -> None:
    live = live_platform(repo)
    h1 = harmless(repo)
    repo.open_pr(7, h1, [PLATFORM_FILE])
    assert repo.pr_event(7).code == 0
    shown = dashboard_body(standin, 7, h1)  # 1 to change: what the reviewer approves of
    assert page_of(shown).rows()["Plan: platform"][:2] == ["✅", "1 to change · Log"]
    h2 = drop_monitoring(repo)
    repo.push(7, h2, [PLATFORM_FILE])  # its plan destroys; the pipeline has not planned it yet

    # Another App posts the harmless table for the new head: not this pipeline's comment.
    standin.add_comment(7, retarget(shown, h2), user="evil-app[bot]", user_type="Bot")
    reply = refused(repo, comment(repo, 7, "/apply", "alice"))
    assert "no plan for the head commit" in reply
    assert state_resources(repo.root, "platform") == live

    # A workflow in a branch posts it as github-actions[bot]: authorship passes, the content
    # does not, since the fresh plan is compared with what the dashboard shows.
    standin.add_comment(7, retarget(shown, h2), user="github-actions[bot]", user_type="Bot")
    reply = refused(repo, comment(repo, 7, "/apply platform", "alice"))
    assert "changed since it was reviewed" in reply
    assert f"now destroys `{DESTROYED}`, which the dashboard did not show" in reply
    assert "shown +0 ~1 -0, now +0 ~1 -1" in reply
    assert state_resources(repo.root, "platform") == live
    assert "refs/infra-locks/platform" not in standin.refs  # a refusal leaves no lock
    assert not [d for d in standin.deployments if d.environment == "platform"]


def test_an_edited_dashboard_is_not_applied(repo: Repo, standin: GitHubStandIn) -> None:
    live = live_platform(repo)
    head = drop_monitoring(repo)
    repo.open_pr(7, head, [PLATFORM_FILE])
    assert repo.pr_event(7).code == 0
    real = dashboard_body(standin, 7, head)
    assert DESTROYED in real

    # The destroy callout deleted from the visible text: the body no longer renders from its
    # recorded state.
    lines = [line for line in real.split("\n") if "destroys or replaces" not in line]
    edit(standin, 7, head, "\n".join(lines))
    reply = refused(repo, comment(repo, 7, "/apply", "alice"))
    assert "was changed by someone other than this pipeline" in reply
    assert state_resources(repo.root, "platform") == live

    # A careful forger edits text and state alike: the fresh plan still disagrees.
    edit(standin, 7, head, hide_destroys(real, "platform"))
    reply = refused(repo, comment(repo, 7, "/apply", "alice"))
    assert f"now destroys `{DESTROYED}`, which the dashboard did not show" in reply
    assert state_resources(repo.root, "platform") == live

    # The truthful dashboard back: the destroy that was shown is applied.
    edit(standin, 7, head, real)
    result = comment(repo, 7, "/apply", "alice")
    assert result.code == 0, result.out + result.err
    assert DESTROYED not in state_resources(repo.root, "platform")


def test_a_second_dashboard_for_the_head_stops_the_apply(
    repo: Repo, standin: GitHubStandIn
) -> None:
    live = live_platform(repo)
    head = drop_monitoring(repo)
    repo.open_pr(7, head, [PLATFORM_FILE])
    assert repo.pr_event(7).code == 0
    real = dashboard_body(standin, 7, head)
    # Posted after the real one, it is the one nearest the /apply comment a reviewer reads.
    standin.add_comment(7, hide_destroys(real, "platform"), user="github-actions[bot]")
    reply = refused(repo, comment(repo, 7, "/apply", "alice"))
    assert f"now destroys `{DESTROYED}`" in reply
    assert state_resources(repo.root, "platform") == live


def test_records_swapped_between_layers_or_commits_are_not_applied(
    repo: Repo, standin: GitHubStandIn
) -> None:
    h1 = harmless(repo)
    head = repo.commit(STAGING_FILE, '"small"', '"medium"', "bigger staging db")
    repo.open_pr(7, head, [PLATFORM_FILE, STAGING_FILE])
    assert repo.pr_event(7).code == 0
    real = dashboard_body(standin, 7, head)
    m = dash.parse(real)
    platform, staging = m.layer("platform").record, m.layer("data-staging").record
    assert platform is not None and staging is not None

    swapped = with_record(with_record(real, "platform", staging), "data-staging", platform)
    edit(standin, 7, head, swapped)
    reply = refused(repo, comment(repo, 7, "/apply platform", "alice"))
    assert "changed since it was reviewed" in reply
    assert state_resources(repo.root, "platform") == []

    # The platform record of an older commit, claimed for this one.
    edit(standin, 7, head, with_record(real, "platform", replace(platform, head_sha=h1)))
    reply = refused(repo, comment(repo, 7, "/apply platform", "alice"))
    assert f"made at `{h1[:7]}`, not at the head commit `{head[:7]}`" in reply
    assert state_resources(repo.root, "platform") == []


# -- sensitive values ------------------------------------------------------------------------


def test_a_sensitive_value_changed_after_review_stops_the_apply_and_is_not_published(
    repo: Repo, standin: GitHubStandIn
) -> None:
    head = repo.commit(STAGING_FILE, '"small"', '"medium"', "bigger staging db")
    repo.open_pr(7, head, [STAGING_FILE])
    assert repo.event("pull_request", repo.pr_payload(7), TF_VAR_db_password="20").code == 0

    reply = refused(repo, comment(repo, 7, "/apply", "alice", TF_VAR_db_password="500"))
    assert "a sensitive value changed since the review" in reply
    assert state_resources(repo.root, "data-staging") == []

    # Nothing GitHub holds lets anyone test guesses of the value without the key.
    published = [c.body for c in standin.comments(7)]
    published += [s.description or "" for s in standin.statuses(head)]
    guesses = {
        hashlib.sha256(text.encode()).hexdigest()
        for value in range(1000)
        for text in (str(value), json.dumps(str(value)), json.dumps(value))
    }
    for text in published:
        assert '"500"' not in text and " 500" not in text
        assert not guesses & set(text.replace('"', " ").replace(":", " ").split())
    seal = dash.parse(dashboard_body(standin, 7, head)).layer("data-staging").record
    assert seal is not None and seal.seal.startswith("hmac-sha256:")

    result = comment(repo, 7, "/apply", "alice", TF_VAR_db_password="20")  # as reviewed
    assert result.code == 0, result.out + result.err
    assert "terraform_data.credentials" in state_resources(repo.root, "data-staging")


def test_without_a_plan_key_sensitive_plans_are_refused_and_others_apply(
    repo: Repo, standin: GitHubStandIn
) -> None:
    del repo.env["INFRA_PLAN_KEY"]
    harmless(repo)
    head = repo.commit(STAGING_FILE, '"small"', '"medium"', "bigger staging db")
    repo.open_pr(7, head, [PLATFORM_FILE, STAGING_FILE])
    assert repo.pr_event(7).code == 0

    reply = refused(repo, comment(repo, 7, "/apply data-staging", "alice"))
    assert "without `INFRA_PLAN_KEY`" in reply and "openssl rand" in reply
    assert state_resources(repo.root, "data-staging") == []
    assert "refs/infra-locks/data-staging" not in standin.refs

    result = comment(repo, 7, "/apply platform", "alice")  # no sensitive value: applies
    assert result.code == 0, result.out + result.err
    assert "module.ingress.terraform_data.deployment" in state_resources(repo.root, "platform")


# -- the pure checks -------------------------------------------------------------------------


def _record(text: str, **changes: object) -> dash.PlanRecord:
    from infra_pipeline.core.dashboard.plan_view import view_digest
    from infra_pipeline.models import PlanCounts

    record = dash.PlanRecord(
        head_sha="a" * 40,
        base_sha="b" * 40,
        fingerprint="f" * 64,
        counts=PlanCounts(change=1),
        has_changes=True,
        text=text,
    )
    record = replace(record, **changes)  # type: ignore[arg-type]
    return replace(record, digest=view_digest("platform", record))


def _shown(record: dash.PlanRecord) -> dash.Dashboard:
    from datetime import UTC, datetime

    m = dash.new_dashboard(
        repo="acme/infra",
        pr=7,
        head_sha="a" * 40,
        base_sha="b" * 40,
        layers=["platform"],
        server_url="https://github.com",
    )
    return dash.finish_plan_record(m, "platform", record, 1, datetime(2026, 1, 1, tzinfo=UTC))


def test_a_cut_plan_text_still_has_to_match_in_the_part_that_was_cut() -> None:
    from infra_pipeline.core.plan_text import is_cut_of, trim
    from infra_pipeline.core.reviewed import compare

    full = "\n".join(f"  ~ resource.r{i} {{ size = {i} }}" for i in range(400))
    cut = trim(full, 2000)
    assert cut != full and is_cut_of(cut, full)
    changed = full.replace("size = 200 ", "size = 201 ")
    assert is_cut_of(cut, changed)  # the cut hides line 200 ...
    shown = _shown(replace(_record(full), text=cut))  # ... as a long dashboard would
    assert compare(shown, "platform", _record(full), keyed=False) == []
    diffs = compare(shown, "platform", _record(changed), keyed=False)
    assert diffs == ["the plan as rendered at review time differs (view digest)"]
    assert not is_cut_of(cut, full.replace("r0 ", "rX "))


def test_a_seal_names_a_changed_sensitive_value_and_needs_the_key() -> None:
    from infra_pipeline.core.plan_reader import fingerprint, seal

    def plan(value: str) -> dict[str, object]:
        change = {
            "actions": ["create"],
            "before": None,
            "after": {"input": {"size": value}},
            "after_sensitive": {"input": {"size": True}},
            "after_unknown": {},
        }
        return {"resource_changes": [{"address": "terraform_data.db", "change": change}]}

    key = b"k" * 32
    assert fingerprint(plan("20")) == fingerprint(plan("500"))  # masked: cannot tell
    assert seal("db", plan("20"), key) != seal("db", plan("500"), key)
    assert seal("db", plan("20"), key) != seal("db", plan("20"), b"x" * 32)
    assert seal("db", plan("20"), key) != seal("other", plan("20"), key)


# -- only open pull requests into the default branch act -------------------------------------


@pytest.mark.parametrize("merged", [False, True])
def test_commands_on_a_closed_or_merged_pull_request_change_nothing(
    repo: Repo, standin: GitHubStandIn, merged: bool
) -> None:
    head = harmless(repo)
    repo.open_pr(7, head, [PLATFORM_FILE])
    assert repo.pr_event(7).code == 0
    pull = standin.pulls[7]
    pull.state, pull.merged = "closed", merged
    statuses = len(standin.statuses(head))
    comments = len(standin.comments(7))

    for command in ("/apply", "/plan", "/unlock"):
        result = comment(repo, 7, command, "alice")
        assert result.code == 1, result.out + result.err
        reply = replies(standin, 7)[-1]
        assert f"#7 is {'merged' if merged else 'closed'}" in reply and "nothing was done" in reply

    assert state_resources(repo.root, "platform") == []
    assert not [ref for ref in standin.refs if ref.startswith("refs/infra-locks/")]
    assert len(standin.statuses(head)) == statuses
    assert standin.deployments == []
    assert len(standin.comments(7)) == comments + 6  # three commands, three replies: no dashboard


def test_a_pull_request_into_a_writers_own_branch_gets_neither_its_policy_nor_an_apply(
    repo: Repo, standin: GitHubStandIn
) -> None:
    main_yaml = (repo.root / "infra.yaml").read_text()
    standin.set_file("infra.yaml", main_yaml, ref=repo.base)
    standin.set_ref("refs/heads/main", repo.base)
    # walter's own branch, whose infra.yaml lets writers apply.
    own = standin.add_commit(message="relax the rules")
    standin.set_file("infra.yaml", main_yaml.replace("apply: maintain", "apply: write"), ref=own)
    head = harmless(repo)
    standin.add_pull(7, head_sha=head, base_sha=own, base_ref="walter-base", files=[PLATFORM_FILE])

    result = comment(repo, 7, "/apply", "walter")
    assert "@walter needs the `maintain` role" in refused(repo, result)  # main's policy
    result = comment(repo, 7, "/apply", "alice")
    assert "only on pull requests into `main`" in refused(repo, result)
    assert "`apply_bases`" in replies(standin, 7)[-1]
    assert state_resources(repo.root, "platform") == []
    assert not [ref for ref in standin.refs if ref.startswith("refs/infra-locks/")]


def test_apply_bases_on_the_default_branch_lets_a_listed_base_apply() -> None:
    from infra_pipeline.config import parse_config
    from infra_pipeline.core.gate import check_base
    from infra_pipeline.core.github_models import PullRequest

    text = (Path(__file__).parent.parent / "examples" / "homelab" / "infra.yaml").read_text()
    root = Path(__file__).parent.parent / "examples" / "homelab"
    listed = parse_config(text + "apply_bases: [release]\n", root / "infra.yaml")
    plain = parse_config(text, root / "infra.yaml")
    pr = PullRequest(
        7,
        "t",
        "open",
        False,
        False,
        "a" * 40,
        "x",
        "acme/infra",
        "b" * 40,
        "release",
        "octocat",
        False,
        True,
        "",
        "",
    )
    assert check_base(listed, pr, "main") is None
    assert check_base(plain, pr, "main") is not None
    assert check_base(plain, replace(pr, base_ref="main"), "main") is None


# -- locks protect state, not names ------------------------------------------------------------


def test_a_second_name_for_a_locked_state_is_locked_too(repo: Repo, standin: GitHubStandIn) -> None:
    from prstory import git

    prod = "modules/data-prod/main.tf"
    head = repo.commit(prod, "replicas    = 3", "replicas    = 4", "one more prod replica")
    repo.open_pr(7, head, [prod])
    assert repo.pr_event(7).code == 0
    assert comment(repo, 7, "/apply", "alice").code == 0  # #7 holds data-prod's state
    applied = state_resources(repo.root, "data-prod")

    # #8 renames the layer: the default branch's `data-prod` stays while its directory does,
    # and `prod-copy` is the same directory, so the same state, under another name.
    git(repo.root, "checkout", "-q", repo.base)
    git(repo.root, "checkout", "-qb", "other")
    repo.commit(prod, "replicas    = 3", "replicas    = 1", "fewer prod replicas")
    repo.commit("infra.yaml", "version: 1\n", "version: 1\njobs: 1\n", "one plan at a time")
    other = repo.commit("infra.yaml", "  data-prod:   ", "  prod-copy:   ", "rename data-prod")
    repo.open_pr(8, other, [prod, "infra.yaml"])
    repo.pr_event(8)  # plans both names of the directory at once: one may fail
    planned = comment(repo, 8, "/plan all", "alice")
    assert planned.code == 0, planned.out + planned.err
    reply = refused(repo, comment(repo, 8, "/apply prod-copy", "alice"), 8)
    assert "`prod-copy` is locked by #7" in reply, (reply, sorted(standin.refs))
    assert state_resources(repo.root, "data-prod") == applied


def test_a_foreign_ref_in_the_lock_namespace_is_an_unknown_writer_and_stops_only_its_layer(
    repo: Repo, standin: GitHubStandIn
) -> None:
    foreign = standin.add_commit(message="not a lock: someone's ref")
    standin.set_ref("refs/infra-locks/platform", foreign)
    head = harmless(repo)
    repo.open_pr(7, head, [PLATFORM_FILE])
    assert repo.pr_event(7).code == 0
    reply = refused(repo, comment(repo, 7, "/apply", "alice"))
    assert "held by an unknown writer" in reply
    assert "`git push origin :refs/infra-locks/platform`" in reply
    assert "DELETE /repos/OWNER/REPO/git/refs/infra-locks/platform" in reply
    assert "kept changing hands" not in reply
    assert state_resources(repo.root, "platform") == []
    assert standin.refs["refs/infra-locks/platform"] == foreign  # never taken over
    assert "locked by an unknown writer" in dashboard_body(standin, 7, head)


def test_the_after_merge_run_skips_only_the_layer_behind_a_foreign_ref(
    tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str]
) -> None:
    from homelab import add_node, code_file
    from mainline import MERGE_SHA, applied_example, push_to_main, rows

    homelab = applied_example(tmp_path)
    standin.add_pull(12, state="closed", merged=True, merge_commit_sha=MERGE_SHA)
    standin.set_ref("refs/infra-locks/bootstrap", standin.add_commit(message="hand-made"))
    add_node(homelab, "node-4")  # drift in bootstrap
    main_tf = code_file(homelab, "data-prod")
    main_tf.write_text(main_tf.read_text().replace("replicas    = 3", "replicas    = 4"))

    job = push_to_main(homelab, gh_env)

    assert "After merge" in job.out, (job.code, job.out[-3000:])
    table = rows(job.out, "After merge")
    assert "skipped" in table["bootstrap"] and "unknown writer" in table["bootstrap"]
    assert 'terraform_data.node["node-4"]' not in state_resources(homelab, "bootstrap")
    assert "applied" in table["data-prod"]  # the other layers go on
    assert "refs/infra-locks/bootstrap" in standin.refs


# -- the truth survives lost writes --------------------------------------------------------------


def test_an_apply_whose_dashboard_write_fails_says_applied_and_the_next_command_catches_up(
    repo: Repo, standin: GitHubStandIn
) -> None:
    head = harmless(repo)
    repo.open_pr(7, head, [PLATFORM_FILE])
    assert repo.pr_event(7).code == 0

    def applied() -> bool:
        return bool(state_resources(repo.root, "platform"))

    # GitHub fails every dashboard write once Terraform has applied.
    standin.inject(
        "PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}", 502, times=1000, when=applied
    )
    result = comment(repo, 7, "/apply", "alice")
    assert result.code == 0, result.out + result.err
    assert applied()
    reply = replies(standin, 7)[-1]
    assert "✅ Applied `platform`" in reply and "may lag" in reply
    assert "failed" not in reply.split("Some GitHub")[0]
    [deployment] = [d for d in standin.deployments if d.environment == "platform"]
    assert deployment.statuses[-1].state == "success"
    assert "| Apply | ✅ |" not in dashboard_body(standin, 7, head)  # the write was lost

    standin.clear_faults()
    result = comment(repo, 7, "/apply", "alice")  # the next command reconciles
    assert result.code == 0, result.out + result.err
    assert "changed since it was reviewed" not in "\n".join(replies(standin, 7))
    board = dashboard_body(standin, 7, head)
    assert "| Apply | ✅ |" in board
    assert standin.latest_statuses(head)["infra/apply"].state == "success"
