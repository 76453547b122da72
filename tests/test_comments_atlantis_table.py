"""Atlantis's own comment-parser table, where it applies: every comment a team used to type
gets a sensible value here (a command, a reply, or nothing).

The comments are those of server/events/comment_parser_test.go in
https://github.com/runatlantis/atlantis (commit 078d0a82081e8a2b1645268c5f5bfec578246fa9,
Apache-2.0): TestParse_Ignored, _HelpResponse, _TrimCommandString, _DidYouMeanAtlantis,
_InvalidCommand, _SubcommandUsage, _InvalidFlags, _RelativeDirPath, _GlobPatternDir,
_GlobPatternDirWithRelativePath, _InvalidGlobPattern, _ValidCommand, _InvalidWorkspace,
_BlockedExtraArgs, _UsingProjectAtSameTimeAsWorkspaceOrDir, _UnusedArguments,
_UnknownShorthandFlag, _WorkspaceTildeInvalid, _WorkspaceShellMetacharactersAllowed and
_WorkspaceUnsafeForPathsInvalid.
"""

from __future__ import annotations

import pytest

from infra_pipeline.core.comment_parser import (
    Command,
    CommandName,
    Ignore,
    ParseResult,
    Reply,
    parse_comment,
)

PATHS = {
    "root": ".",
    "dir": "dir",
    "module-a": "modules/module-a",
    "module-b": "modules/module-b",
    "apps": "environments/dev/apps",
    "env1": "env1/x",
}


def parse(body: str) -> ParseResult:
    return parse_comment(
        body,
        author="alice",
        author_type="User",
        layers=list(PATHS),
        suites=["smoke"],
        layer_paths=PATHS,
    )


@pytest.mark.parametrize(
    "body",
    [
        "",
        "a",
        "abc",
        "atlantis plan\nbut with newlines",
        "terraform plan\nbut with newlines",
        "This shouldn't error, but it does.",
    ],
)
def test_what_atlantis_ignores_is_ignored(body: str):
    assert isinstance(parse(body), Ignore)


@pytest.mark.parametrize(
    "body",
    [
        "atlantis",
        "atlantis help",
        "atlantis --help",
        "atlantis -h",
        "atlantis help something else",
        "atlantis help plan",
        "`atlantis help`",
        "`  atlantis help  `",
        "`atlantis help`  ",
        "  `atlantis help",
    ],
)
def test_what_atlantis_answers_with_help_is_help(body: str):
    result = parse(body)
    assert isinstance(result, Command) and result.name is CommandName.HELP


@pytest.mark.parametrize(
    ("body", "meant"),
    [
        ("terraform", "/help"),
        ("terraform help", "/help"),
        ("terraform --help", "/help"),
        ("terraform -h", "/help"),
        ("terraform plan", "/plan"),
        ("terraform apply", "/apply"),
        ("terraform plan -w workspace -d . -- test", "/plan"),
    ],
)
def test_terraform_instead_of_atlantis_gets_did_you_mean(body: str, meant: str):
    result = parse(body)
    assert isinstance(result, Reply) and f"Did you mean `{meant}`?" in result.text


@pytest.mark.parametrize(
    ("body", "near"), [("atlantis paln", "plan"), ("atlantis appely apply", "apply")]
)
def test_an_unknown_atlantis_command_is_answered_with_the_nearest(body: str, near: str):
    result = parse(body)
    assert isinstance(result, Reply) and f"`/{near}`" in result.text


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ("atlantis plan -h", CommandName.PLAN),
        ("atlantis plan --help", CommandName.PLAN),
        ("atlantis apply -h", CommandName.APPLY),
        ("atlantis apply --help", CommandName.APPLY),
    ],
)
def test_subcommand_help_shows_the_usage(body: str, name: CommandName):
    result = parse(body)
    assert isinstance(result, Reply) and result.command is name
    assert f"Usage: `/{name.value}" in result.text


@pytest.mark.parametrize(
    "body",
    [
        "atlantis import -h",
        "atlantis import ADDRESS ID",
        "atlantis state -h",
        "atlantis state rm aws_s3_bucket.x",
        "atlantis version",
        "atlantis cancel",
    ],
)
def test_commands_infra_does_not_have_say_what_to_do_instead(body: str):
    result = parse(body)
    assert isinstance(result, Reply)
    assert f"`atlantis {body.split()[1]}` is not supported by infra-pipeline:" in result.text


@pytest.mark.parametrize(
    ("body", "flag"),
    [
        ("atlantis plan -e", "-e"),
        ("atlantis plan --abc", "--abc"),
        ("atlantis apply -e", "-e"),
        ("atlantis apply --abc", "--abc"),
    ],
)
def test_an_unknown_flag_is_named(body: str, flag: str):
    result = parse(body)
    assert isinstance(result, Reply) and f"Unknown flag `{flag}`" in result.text


@pytest.mark.parametrize(
    "body",
    [
        "atlantis plan -d ..",
        "atlantis apply -d ..",
        "atlantis plan -d ./..",
        "atlantis plan -d a/b/../../..",
        "atlantis apply -d a/../..",
        "atlantis plan -d '../*'",
        "atlantis plan -d ../**",
        "atlantis apply -d ../apps/*",
    ],
)
def test_a_dir_out_of_the_repository_is_refused(body: str):
    result = parse(body)
    assert isinstance(result, Reply) and "out of the repository" in result.text


@pytest.mark.parametrize(
    ("body", "layers"),
    [
        ("atlantis plan -d modules/*", ("module-a", "module-b")),
        ("atlantis plan -d modules/**", ("module-a", "module-b")),
        ("atlantis plan -d environments/*/apps", ("apps",)),
        ("atlantis plan -d 'env[0-9]/*'", ("env1",)),
        ("atlantis apply -d modules/**", ("module-a", "module-b")),
        ("atlantis plan -d .", ("root",)),
        ("atlantis plan -d dir", ("dir",)),
        ("atlantis plan --dir=modules/module-a/", ("module-a",)),
        ("atlantis plan -p dir", ("dir",)),
    ],
)
def test_dirs_and_globs_name_the_layers_at_those_paths(body: str, layers: tuple[str, ...]):
    result = parse(body)
    assert isinstance(result, Command) and result.layers == layers


def test_an_invalid_glob_is_refused():
    for body in ("atlantis plan -d modules/[invalid", "atlantis apply -d apps/[unclosed"):
        result = parse(body)
        assert isinstance(result, Reply) and "invalid glob pattern" in result.text


@pytest.mark.parametrize(
    "body",
    [
        "atlantis plan\n",
        "atlantis plan\n\n",
        "atlantis plan\r\n",
        "atlantis plan\r\n\r\n",
        "\natlantis plan",
        "\r\natlantis plan",
        "\natlantis plan\n",
        "\r\natlantis plan\r\n",
        "atlantis plan",
        "Atlantis plan",
        "Atlantis Plan",
        "ATLANTIS PLAN",
    ],
)
def test_a_plain_atlantis_plan_is_a_plan_of_the_touched_layers(body: str):
    result = parse(body)
    assert isinstance(result, Command) and result.name is CommandName.PLAN
    assert result.layers == () and not result.all_layers


@pytest.mark.parametrize(
    "body",
    [
        "atlantis plan -w ..",
        "atlantis apply -w /",
        "atlantis plan -w ../../../etc/passwd",
        "atlantis plan -w staging",
        "atlantis plan -w a$(id)b",
        "atlantis plan -w -chdir",
        # _WorkspaceTildeInvalid, _WorkspaceUnsafeForPathsInvalid and, allowed by Atlantis
        # but a workspace all the same, _WorkspaceShellMetacharactersAllowed.
        "atlantis plan -w ~",
        "atlantis apply -w ~root",
        "atlantis plan -w a$HOME",
        "atlantis plan -w a;id",
        "atlantis apply -w a&&id",
        "atlantis plan -w a`id`b",
        "atlantis plan -w .hidden",
    ],
)
def test_a_workspace_never_reaches_the_engine(body: str):
    result = parse(body)
    assert isinstance(result, Reply)
    assert "workspace" in result.text or "needs a value" in result.text


@pytest.mark.parametrize(
    "body",
    [
        "atlantis plan -- -chdir=../other",
        "atlantis plan -- --chdir=/tmp",
        "atlantis plan -- -plugin-dir=/tmp/evil",
        "atlantis apply -- -chdir=../sensitive",
        "atlantis plan -- -var=foo=bar",
    ],
)
def test_extra_engine_arguments_are_refused_with_where_they_go_instead(body: str):
    result = parse(body)
    assert isinstance(result, Reply) and "no extra arguments" in result.text


@pytest.mark.parametrize(
    "body",
    [
        "atlantis plan -w workspace -p project",
        "atlantis plan -d dir -p project",
        "atlantis plan -d dir -w workspace -p project",
    ],
)
def test_project_with_dir_or_workspace_is_refused(body: str):
    result = parse(body)
    assert isinstance(result, Reply) and "-p/--project at the same time" in result.text


@pytest.mark.parametrize(
    "body", ["/approve_policies", "atlantis approve_policies", "atlantis approve_policies -p app"]
)
def test_approve_policies_is_a_command_in_both_spellings(body: str):
    result = parse(body)
    assert isinstance(result, Command) and result.name is CommandName.APPROVE_POLICIES
    assert result.layers == ()  # one approval covers the commit, whatever project is named


def test_approve_policies_help_shows_its_usage():
    result = parse("atlantis approve_policies -h")
    assert isinstance(result, Reply) and result.command is CommandName.APPROVE_POLICIES
    assert "Usage: `/approve_policies`" in result.text


@pytest.mark.parametrize(
    ("body", "unused"),
    [
        ("atlantis plan -d . arg", "arg"),
        ("atlantis plan arg -d .", "arg"),
        ("atlantis plan arg arg2", "arg"),
        ("atlantis apply -d . arg", "arg"),
        ("atlantis apply arg arg2 --", "arg"),
        ("atlantis approve_policies arg arg2 arg3 --", "arg arg2 arg3"),
    ],
)
def test_unused_arguments_are_named_not_ignored(body: str, unused: str):
    # _UnusedArguments: Atlantis answers "unknown argument(s)" and runs nothing.
    result = parse(body)
    assert isinstance(result, Reply)
    assert f"`{unused}" in result.text


def test_a_flag_unlock_does_not_take_gets_unlocks_usage():
    # _UnknownShorthandFlag: `atlantis unlock -d .` is answered with unlock's usage.
    result = parse("atlantis unlock -d .")
    assert isinstance(result, Reply) and result.command is CommandName.UNLOCK
    assert "Usage: `/unlock" in result.text
