"""The one gate for text leaving the job (`core/outbound.py`): redaction and GitHub's limits."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from infra_pipeline.core.outbound import (
    LIMITS,
    Destination,
    annotation,
    cap,
    cap_to,
    measure,
    outbound,
)
from infra_pipeline.core.plan_text import size

PAT = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0" * 2


def test_every_destination_is_held_to_its_limit() -> None:
    for destination, limit in LIMITS.items():
        text = "é🚀" * limit.most  # two bytes, two UTF-16 units: over every limit
        cut = outbound(text, destination)
        assert measure(cut, limit.unit) <= limit.most, destination
        if limit.where_full:
            assert f"the full output is in {limit.where_full}" in cut
        else:
            assert cut.endswith("…")


def test_a_fitting_text_is_left_alone_but_redacted() -> None:
    text = f"| Plan | ✅ |\nused {PAT} and the job token ghs_job_token_value"
    out = outbound(text, Destination.COMMENT, ["ghs_job_token_value"])
    assert out == "| Plan | ✅ |\nused *** and the job token ***"


def test_a_cut_comment_closes_its_fence_and_keeps_its_state_comment() -> None:
    state = '<!-- infra-state:v1 {"head_sha":"abc"} -->'
    text = "### E2E ✅\n<details><summary>Output</summary>\n\n```\n" + "x\n" * 70_000 + "```\n"
    cut = cap(text + "</details>\n" + state + "\n", Destination.COMMENT)
    assert size(cut) <= 65_536
    assert cut.startswith("### E2E ✅")
    assert cut.endswith("\n" + state)
    body = cut.split("✂️ Cut:")[0]
    assert body.rstrip().endswith("```\n</details>")  # the note is text, not code
    assert "✂️ Cut: " in cut and "of 140," in cut


def test_json_in_an_html_comment_stays_json() -> None:
    data = {"detail": 'password="hunter22" and "token": "x\\"y" then ghs_job_token_value', "n": 1}
    text = "table\n<!-- infra-state:v1 " + json.dumps(data) + " -->\n"
    out = outbound(text, Destination.COMMENT, ["ghs_job_token_value"])
    payload = out.split("<!-- infra-state:v1 ", 1)[1].rsplit(" -->", 1)[0]
    back = json.loads(payload)
    assert "hunter22" not in payload and "ghs_job_token_value" not in payload
    assert back["n"] == 1 and "***" in back["detail"]


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=12),
        st.lists(
            st.sampled_from(
                ["password", "token", ":", "=", '"', "'", "\\", " ", "x", PAT, "<", "&", "\n"]
            ),
            max_size=12,
        ).map("".join),
        max_size=4,
    )
)
def test_any_state_comment_survives_redaction(data: dict[str, str]) -> None:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    out = outbound(f"<!-- infra-state:v1 {payload} -->", Destination.COMMENT)
    json.loads(out.removeprefix("<!-- infra-state:v1 ").removesuffix(" -->"))


def test_outbound_is_idempotent() -> None:
    text = f"token {PAT}\n" + "line\n" * 20_000
    once = outbound(text, Destination.COMMENT)
    assert outbound(once, Destination.COMMENT) == once


def test_summary_parts_share_what_is_left_of_the_file() -> None:
    part = "y" * 5_000
    assert cap_to(part, Destination.SUMMARY, 10_000) == part
    cut = cap_to(part, Destination.SUMMARY, 2_000)
    assert len(cut.encode()) <= 2_000 and "the full output is in the job log" in cut


def test_annotations_are_one_escaped_redacted_line() -> None:
    line = annotation(
        "error", f"login failed:\nuses {PAT}", ["s3cr3t!"], file="a,b.tf", line=3, title="x: y"
    )
    assert line == "::error file=a%2Cb.tf,line=3,title=x%3A y::login failed:%0Auses ***"
    assert "\n" not in annotation("warning", "s3cr3t! " + "z" * 10_000, ["s3cr3t!"])
    assert len(annotation("warning", "z" * 10_000)) < 4_200


def test_redaction_of_a_long_line_is_linear() -> None:
    # A 100,000-character line of letters once took the assignment pattern cubic time.
    assert outbound("x" * 200_000 + "\npassword=hunter22", Destination.SUMMARY).endswith(
        "password=***"
    )


KEY = 'p@ss/w0rd+"<key>&more'  # a known secret with every character an encoding changes


@given(before=st.binary(max_size=5), after=st.binary(max_size=5))
def test_a_known_secret_is_masked_however_it_is_encoded(before: bytes, after: bytes) -> None:
    import base64
    import html
    from urllib.parse import quote, quote_plus

    blob = base64.b64encode(before + KEY.encode() + after).decode()
    urlsafe = base64.urlsafe_b64encode(b"u:" + KEY.encode()).decode()
    forms = [
        quote(KEY, safe=""),
        quote_plus(KEY),
        json.dumps({"k": KEY}),
        html.escape(KEY),
        f"<failure message='{KEY.replace('&', '&amp;').replace('<', '&lt;')}'/>",
        KEY[:9] + "\n      " + KEY[9:],  # wrapped
        KEY[:5] + " " + KEY[5:],  # an XML attribute's line break, normalised to a space
    ]
    out = outbound("\n".join([f"Basic {blob}", urlsafe, *forms]), Destination.COMMENT, [KEY])
    assert KEY not in out
    for form in forms:
        assert form not in out
    middle = base64.b64encode(KEY.encode()).decode()[4:-4]
    assert not any(middle[i : i + 12] in out for i in range(len(middle) - 12))


def test_a_word_that_starts_with_pass_is_not_a_password() -> None:
    # An e2e row without JUnit reads "chatty passed: exit code 0": `passed:` is no key.
    assert outbound("chatty passed: exit code 0", Destination.COMMENT) == (
        "chatty passed: exit code 0"
    )
    for assignment in ("db_pass: hunter22x", "PASSWORD=hunter22x", 'passwd = "hunter22x"'):
        assert "hunter22x" not in outbound(assignment, Destination.COMMENT), assignment
