"""A team edits infra.yaml by hand: every mistake is named at once, in their words, exit 2."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from homelab import infra
from infra_pipeline.config import load_config, parse_config
from infra_pipeline.errors import ConfigError


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for layer in ("network", "platform", "apps/web"):
        (tmp_path / layer).mkdir(parents=True)
        (tmp_path / layer / "main.tf").write_text("")
    return tmp_path


def problems(repo: Path, text: str, name: str = "infra.yaml") -> ConfigError:
    path = repo / name
    path.write_text(textwrap.dedent(text))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.exit_code == 2
    return caught.value


def test_a_copy_pasted_layer_is_an_error_naming_both_lines(repo: Path):
    error = problems(
        repo,
        """\
        version: 1
        layers:
          network: {path: network, order: 1}
          platform: {path: platform, order: 2}
          network: {path: apps/web, order: 3}
        """,
    )
    assert ":5: layers.network: `network` appears twice (first on line 3)" in error.message
    assert "silently dropped" in error.message


def test_two_layers_on_one_directory_are_refused_however_it_is_spelled(repo: Path):
    error = problems(
        repo,
        """\
        version: 1
        layers:
          network: {path: network, order: 1}
          net2: {path: ./network/, order: 2}
        """,
    )
    assert "layers `network` and `net2` both use directory 'network'" in error.message
    (repo / "link").symlink_to(repo / "platform")
    error = problems(
        repo,
        """\
        version: 1
        layers:
          platform: {path: platform, order: 1}
          linked: {path: link, order: 2}
        """,
    )
    assert "both use directory 'platform'" in error.message


@pytest.mark.parametrize("path", ["/etc", "..", "../outside", "network/../../x", "~/infra"])
def test_a_path_outside_the_repository_is_refused(repo: Path, path: str):
    (repo.parent / "outside").mkdir(exist_ok=True)
    error = problems(repo, f"version: 1\nlayers:\n  x: {{path: '{path}', order: 1}}\n")
    assert "layers.x.path" in error.message
    assert "outside the repository" in error.message or "absolute path" in error.message


def test_a_path_holding_a_nul_character_is_a_problem_not_a_crash(repo: Path):
    # YAML's "\0" escape reaches the path as a NUL, which every path call raises on.
    error = problems(repo, 'version: 1\nlayers:\n  x: {path: "plat\\0form", order: 1}\n')
    assert "layers.x.path" in error.message and "NUL" in error.message


def test_a_layer_symlinked_out_of_the_repository_is_refused(repo: Path):
    outside = repo.parent / "elsewhere"
    outside.mkdir()
    (repo / "escape").symlink_to(outside)
    error = problems(repo, "version: 1\nlayers:\n  x: {path: escape, order: 1}\n")
    assert "points outside the repository" in error.message
    # Another commit's config (no checkout to follow links in) is still checked lexically.
    text = "version: 1\nlayers:\n  x: {path: ../x, order: 1}\n"
    with pytest.raises(ConfigError, match="outside the repository"):
        parse_config(text, repo / "infra.yaml", check_paths=False)


def test_unknown_keys_get_the_nearest_known_one(repo: Path):
    error = problems(
        repo,
        """\
        version: 1
        layer:
          network: {path: network, ordr: 1}
        jbos: 2
        """,
    )
    assert "unknown key `layer`; did you mean `layers`?" in error.message
    assert "unknown key `jbos`; did you mean `jobs`?" in error.message


def test_every_problem_is_reported_at_once_in_the_users_words(repo: Path):
    error = problems(
        repo,
        """\
        version: 1
        layers:
          network: {path: network, order: first, colour: red}
          platform: {path: platform, order: 2, watch: "modules/**"}
          web: {path: apps/wbe, order: 3}
        jobs: 0
        review: {provider: gemini}
        """,
    )
    text = error.message
    assert "6 problems" in text.splitlines()[0]
    assert ":3: layers.network.order: must be a whole number (got 'first')" in text
    assert ":3: layers.network.colour: unknown key `colour`" in text
    assert ":4: layers.platform.watch: must be a list" in text
    assert ":5: layers.web.path: directory 'apps/wbe' does not exist" in text
    assert ":6: jobs: must be at least 1 (got 0)" in text
    assert ":7: review.provider: must be one of 'anthropic', 'openai' (got 'gemini')" in text
    assert "tuple" not in text and "Input should" not in text
    # Lines come in file order, each with its fix.
    lines = [line for line in text.splitlines() if line.startswith("  /")]
    assert len(lines) == 6
    assert [int(line.split(":")[1]) for line in lines] == sorted(
        int(line.split(":")[1]) for line in lines
    )
    assert text.count("→") == 6


def test_the_config_command_names_the_file_given_with_c(
    repo: Path, capsys: pytest.CaptureFixture[str]
):
    (repo / "other.yaml").write_text("version: 1\nlayers:\n  network: {path: network, order: 1}\n")
    shown = infra(repo, "-c", "other.yaml", "config")
    assert shown.code == 0
    assert f"# {repo / 'other.yaml'}" in shown.out
    (repo / "other.yaml").write_text("version: 1\nlayers:\n  network: {path: /etc, order: 1}\n")
    broken = infra(repo, "-c", "other.yaml", "config")
    assert broken.code == 2
    assert "other.yaml:3: layers.network.path" in capsys.readouterr().err


def test_a_broken_policies_key_names_each_mistake(repo: Path):
    error = problems(
        repo,
        """\
        version: 1
        layers:
          network: {path: network, order: 1}
        policies:
          paths: [/etc/policy, ../elsewhere]
          namespaces: [main, "not a package"]
          approvers: owner
          namespace: [main]
        """,
    )
    text = error.message
    assert "policies.paths: policy path '/etc/policy' must be relative to infra.yaml" in text
    assert "policies.namespaces: namespace 'not a package' is not a Rego package name" in text
    assert "policies.approvers: must be one of 'none', 'read'" in text
    assert "unknown key `namespace`; did you mean `namespaces`?" in text


def test_policies_default_to_conftests_layout(repo: Path):
    (repo / "infra.yaml").write_text(
        "version: 1\nlayers:\n  network: {path: network, order: 1}\npolicies: {}\n"
    )
    policies = load_config(repo / "infra.yaml").policies
    assert policies is not None
    assert (policies.paths, policies.namespaces, policies.approvers.value) == (
        ("policy/",),
        ("main",),
        "maintain",
    )


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "is empty"),
        (b"# nothing yet\n", "is empty"),
        (b"- network\n- platform\n", "holds a list"),
        (b"layers\n", "holds only the value 'layers'"),
        ("version: 1\n".encode("utf-16"), "not UTF-8 text"),
        (b"version: 1\nlayers:\n\tnetwork: {path: network, order: 1}\n", "YAML syntax error"),
        (b"version: 1\nlayers: {network: {path: network, order: 1}\n", "YAML syntax error"),
    ],
    ids=["empty", "only-a-comment", "a-list", "a-word", "utf-16", "tab", "unclosed"],
)
def test_a_file_that_is_no_config_at_all_says_what_it_holds(repo: Path, content: bytes, said: str):
    (repo / "infra.yaml").write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_config(repo / "infra.yaml")
    assert caught.value.exit_code == 2
    assert said in str(caught.value)


def test_a_byte_order_mark_and_yaml_anchors_are_read_as_yaml_reads_them(repo: Path):
    text = (
        "version: 1\n"
        "layers:\n"
        "  network: &base {path: network, order: 1, timeout: 600}\n"
        "  platform:\n"
        "    <<: *base\n"
        "    path: platform\n"
        "    order: 2\n"
    )
    (repo / "infra.yaml").write_bytes(b"\xef\xbb\xbf" + text.encode())
    config = load_config(repo / "infra.yaml")
    assert [(layer.name, layer.timeout) for layer in config.ordered_layers] == [
        ("network", 600),
        ("platform", 600),
    ]


def test_a_layer_named_by_a_number_is_that_name_and_null_or_true_are_refused(repo: Path):
    error = problems(
        repo,
        """\
        version: 1
        layers:
          1: {path: network, order: 1}
          ~: {path: platform, order: 2}
          true: {path: apps/web, order: 3}
        """,
    )
    text = str(error)
    assert "2 problems" in text
    assert ":4: layers.~: a layer name must be text, and YAML reads `~` as null" in text
    assert ":5: layers.true: a layer name must be text" in text
    assert "both use directory" not in text and "unnamed" not in text


def test_one_directory_holds_a_layer_per_terraform_workspace(repo: Path):
    # Atlantis projects sharing a `dir`, one workspace each (its test-repos/simple-yaml).
    text = """\
        version: 1
        layers:
          network: {path: network, order: 1}
          network-staging: {path: network, order: 2, env: {TF_WORKSPACE: staging}}
        """
    (repo / "infra.yaml").write_text(textwrap.dedent(text))
    assert sorted(load_config(repo / "infra.yaml").layers) == ["network", "network-staging"]
    error = problems(
        repo,
        """\
        version: 1
        layers:
          network-a: {path: network, order: 1, env: {TF_WORKSPACE: staging}}
          network-b: {path: network, order: 2, env: {TF_WORKSPACE: staging}}
        """,
    )
    assert "both use directory 'network' and workspace `staging`" in error.message
