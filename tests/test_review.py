"""`infra review`: what is sent to the model (masked, within budget, infra files first) and
what is posted, against a local server speaking the Messages API through the official SDK."""

from __future__ import annotations

import io
import json
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from infra_pipeline.adapters.github.client import GitHub
from infra_pipeline.config import Config, parse_config
from infra_pipeline.core.dashboard.model import Status
from infra_pipeline.core.redact import MASK, redact
from infra_pipeline.core.review_prompt import (
    CHARS_PER_TOKEN,
    REVIEW_MARKER,
    LayerSummary,
    ReviewInput,
    build_prompt,
    split_diff,
)
from infra_pipeline.errors import ExitCode
from infra_pipeline.flows.review import dashboard_cell, render_markdown, run_review
from infra_pipeline.models import Outcome
from standin import GitHubStandIn

API_KEY = "sk-ant-test-key-0123456789abcdef"
GITHUB_TOKEN = "ghs_standin_token"  # what `gh_env` gives the job
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
PAT = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
DB_PASSWORD = "correct-horse-battery"
SENSITIVE_DEFAULT = "s3nsitive-default-value"
BEARER = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9"
PRIVATE_KEY_BODY = "MIIEpAIBAAKCAQEA7bq98G3KJxC4nP2z"
ANSWER = (
    "Risk: high\n\n- `aws_db_instance.main` is replaced: the data is lost.\n\n**Remarks**\n- ok"
)

SECRETS = (API_KEY, GITHUB_TOKEN, AWS_KEY, PAT, DB_PASSWORD, SENSITIVE_DEFAULT, BEARER)


def file_diff(path: str, added: str) -> str:
    lines = added.strip("\n").splitlines()
    body = "\n".join(f"+{line}" for line in lines)
    return (
        f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
        f"@@ -0,0 +1,{len(lines)} @@\n{body}\n"
    )


APP = file_diff("app/server.py", "\n".join(f"def handler_{i}(): return {i}" for i in range(400)))
README = file_diff("README.md", f"# Homelab\n\nNow with a database.\nDebug: {GITHUB_TOKEN}\n")
MAIN_TF = file_diff(
    "platform/main.tf",
    f"""
provider "aws" {{
  access_key = "{AWS_KEY}"
}}
resource "aws_db_instance" "main" {{
  password = "{DB_PASSWORD}"
  engine   = "postgres"
}}
# curl -H "Authorization: Bearer {BEARER}" https://api
# github token {PAT}
""",
)
VARIABLES_TF = file_diff(
    "platform/variables.tf",
    f"""
variable "db_admin" {{
  type      = string
  default   = "{SENSITIVE_DEFAULT}"
  sensitive = true
}}
""",
)
KEY_PEM = file_diff(
    "bootstrap/files/deploy.pem",
    f"-----BEGIN RSA PRIVATE KEY-----\n{PRIVATE_KEY_BODY}\n-----END RSA PRIVATE KEY-----",
)
# Application code first, as git orders it; infrastructure files must still go first.
DIFF = APP + README + KEY_PEM + MAIN_TF + VARIABLES_TF

LAYERS = (
    LayerSummary(
        "platform",
        "+1 ~0 -1",
        ("replace aws_db_instance.main",),
        '  # aws_db_instance.main must be replaced\n-/+ resource "aws_db_instance" "main" {\n'
        "      ~ password = (sensitive value)\n    }\n",
    ),
    LayerSummary("data-prod", "+0 ~0 -0", (), ""),
)


@dataclass
class Recorded:
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    error: dict[str, Any] | None = None


@pytest.fixture
def model_server() -> Iterator[tuple[str, Recorded]]:
    """A Messages API (and chat-completions) server on 127.0.0.1, recording what it gets."""
    recorded = Recorded()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            body = json.loads(raw)
            recorded.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": body, "raw": raw}
            )
            if recorded.error is not None:
                reply: dict[str, Any] = recorded.error
            elif self.path == "/v1/messages":
                reply = {
                    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
                    "type": "message",
                    "role": "assistant",
                    "model": body["model"],
                    "content": [{"type": "text", "text": ANSWER}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": 2095, "output_tokens": 61},
                }
            else:
                reply = {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": ANSWER},
                            "finish_reason": "stop",
                        }
                    ],
                }
            data = json.dumps(reply).encode()
            self.send_response(recorded.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", recorded
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def github(standin: GitHubStandIn, gh_env: dict[str, str]) -> Iterator[GitHub]:
    """The real client against the GitHub stand-in, which holds PR #7 with `DIFF`."""
    standin.add_pull(7, title="Move the database to RDS", diff=DIFF)
    with GitHub.from_env(gh_env) as client:
        yield client


def make_config(tmp_path: Path, review_yaml: str = "") -> Config:
    (tmp_path / "platform").mkdir(exist_ok=True)
    text = "version: 1\nlayers: {platform: {path: platform, order: 1}}\n"
    text += textwrap.dedent(review_yaml)
    return parse_config(text, tmp_path / "infra.yaml")


def review(config: Config, github: GitHub, env: dict[str, str], out: io.StringIO | None = None):
    return run_review(
        config,
        pr_number=7,
        title="Move the database to RDS",
        layers=LAYERS,
        touched_layers=("platform",),
        github=github,
        env=env,
        console=Console(file=out or io.StringIO(), width=200),
    )


def test_review_is_masked_budgeted_infra_first_and_posted_as_comment(
    model_server, github, gh_env, standin, tmp_path
):
    url, recorded = model_server
    config = make_config(tmp_path, "review: {model: claude-test-model, budget_tokens: 2500}\n")
    env = {**gh_env, "ANTHROPIC_API_KEY": API_KEY, "ANTHROPIC_BASE_URL": url}
    out = io.StringIO()

    result = review(config, github, env, out)

    assert result.outcome is Outcome.OK and result.exit_code is ExitCode.OK
    (request,) = recorded.requests
    assert request["path"] == "/v1/messages"
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert API_KEY in headers.get("x-api-key", "") + headers.get("authorization", "")
    sent = request["body"]
    assert sent["model"] == "claude-test-model" and sent["max_tokens"] == 2048
    system, user = sent["system"], sent["messages"][0]["content"]
    assert sent["messages"][0]["role"] == "user"
    assert system.index("**Risk**") < system.index("**Remarks**")

    # Nothing secret left the runner, in any part of the request.
    raw = request["raw"].decode()
    for secret in (*SECRETS, PRIVATE_KEY_BODY):
        assert secret not in raw, secret
    assert f'password = "{MASK}"' in user
    assert f'default   = "{MASK}"' in user

    # Within budget; infrastructure files first, the big application file cut or left out.
    assert len(system) + len(user) <= 2500 * CHARS_PER_TOKEN
    assert user.index("platform/main.tf") < user.index("README.md")
    assert user.index("platform/variables.tf") < user.index("README.md")
    assert "replace aws_db_instance.main" in user
    assert "def handler_399" not in user
    assert result.prompt is not None
    assert set(result.prompt.files_sent) >= {"platform/main.tf", "platform/variables.tf"}
    assert "app/server.py" in result.prompt.files_left_out + result.prompt.files_cut

    # One review, event COMMENT: the plan's destructive changes first, then the model's answer.
    (posted,) = standin.reviews(7)
    assert posted.state == "COMMENTED"
    body = posted.body
    assert body == result.body and body.startswith(REVIEW_MARKER)
    assert body.index("Destroys or replaces") < body.index("Risk: high")
    assert "`replace aws_db_instance.main`" in body
    assert "claude-test-model" in body
    assert dashboard_cell(result) == (Status.OK, "reviewed by claude-test-model")
    assert API_KEY not in out.getvalue()


def test_without_a_key_the_review_is_skipped_not_failed(model_server, github, standin, tmp_path):
    url, recorded = model_server
    result = review(make_config(tmp_path), github, {"ANTHROPIC_BASE_URL": url})
    assert result.outcome is Outcome.SKIPPED and result.exit_code is ExitCode.OK
    assert "ANTHROPIC_API_KEY" in result.reason
    assert dashboard_cell(result) == (Status.SKIPPED, result.reason)
    assert render_markdown(result).startswith("⏭️ AI review skipped: no API key")
    assert recorded.requests == [] and standin.request_counts() == {}


def test_without_the_sdk_the_review_is_skipped_with_the_extra_to_install(
    model_server, github, standin, tmp_path, monkeypatch
):
    # A base install has no `anthropic` (it is the `[review]` extra): None in sys.modules makes
    # `import anthropic` raise ImportError as it would there.
    monkeypatch.setitem(sys.modules, "anthropic", None)
    url, recorded = model_server
    env = {"ANTHROPIC_API_KEY": API_KEY, "ANTHROPIC_BASE_URL": url}
    result = review(make_config(tmp_path), github, env)
    assert result.outcome is Outcome.SKIPPED and result.exit_code is ExitCode.OK
    assert "infra-pipeline[review]" in result.reason
    assert dashboard_cell(result) == (Status.SKIPPED, result.reason)
    assert render_markdown(result).startswith("⏭️ AI review skipped: the anthropic SDK")
    assert recorded.requests == [] and standin.request_counts() == {}


def test_key_from_a_custom_variable_and_api_errors_fail_the_review(
    model_server, github, standin, tmp_path
):
    url, recorded = model_server
    recorded.status = 400
    recorded.error = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "model: unknown model"},
    }
    config = make_config(tmp_path, "review: {api_key_env: CLAUDE_KEY, model: nope}\n")
    result = review(config, github, {"CLAUDE_KEY": API_KEY, "ANTHROPIC_BASE_URL": url})
    assert result.outcome is Outcome.FAILED and result.exit_code is ExitCode.FAILURE
    assert result.reason == "Anthropic API answered 400: model: unknown model"
    assert standin.reviews(7) == []
    assert render_markdown(result).startswith("❌ AI review failed")


def test_openai_compatible_provider(model_server, github, standin, tmp_path):
    url, recorded = model_server
    config = make_config(
        tmp_path, f"review: {{provider: openai, model: gpt-test, base_url: '{url}/v1'}}\n"
    )
    result = review(config, github, {"OPENAI_API_KEY": API_KEY})
    assert result.outcome is Outcome.OK, result.reason
    (request,) = recorded.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {API_KEY}"
    messages = request["body"]["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert AWS_KEY not in request["raw"].decode()
    assert "Risk: high" in standin.reviews(7)[0].body


def test_budget_is_respected_for_any_budget():
    review_input = ReviewInput(1, "t", DIFF, LAYERS, ("platform",))
    for budget in (700, 900, 1500, 3000, 10_000, 100_000):
        prompt = build_prompt(review_input, budget_tokens=budget, secrets=())
        assert len(prompt.system) + len(prompt.user) <= budget * CHARS_PER_TOKEN
        # Infrastructure files are never dropped for application code.
        order = [*prompt.files_sent, *prompt.files_cut]
        if "app/server.py" in order:
            assert {"platform/main.tf", "platform/variables.tf"} <= set(prompt.files_sent)
    everything = build_prompt(review_input, budget_tokens=100_000, secrets=())
    assert everything.files_left_out == () and everything.files_cut == ()
    assert "def handler_399" in everything.user


@settings(max_examples=60, deadline=None)
@given(
    paths=st.lists(st.sampled_from(["a.tf", "b.py", "c.hcl", "d.md", "infra.yaml"]), max_size=6),
    sizes=st.lists(st.integers(0, 3000), min_size=6, max_size=6),
    plan=st.text(max_size=2000),
    budget=st.integers(1, 3000),
)
def test_any_input_stays_within_budget(paths, sizes, plan, budget):
    diff = "".join(file_diff(p, "x" * n + "\n") for p, n in zip(paths, sizes, strict=False))
    layers = (LayerSummary("l", "+1 ~0 -0", ("delete a.b",) * 3, plan),)
    prompt = build_prompt(
        ReviewInput(1, "t", diff, layers, ("l",)), budget_tokens=budget, secrets=()
    )
    assert len(prompt.system) + len(prompt.user) <= max(
        budget * CHARS_PER_TOKEN, len(prompt.system)
    )


def test_split_diff_and_infra_detection():
    files = split_diff(DIFF + file_diff("infra.yaml", "version: 1") + file_diff("x.tfvars", "a=1"))
    assert [f.path for f in files] == [
        "app/server.py",
        "README.md",
        "bootstrap/files/deploy.pem",
        "platform/main.tf",
        "platform/variables.tf",
        "infra.yaml",
        "x.tfvars",
    ]
    assert [f.is_infra for f in files] == [False, False, False, True, True, True, True]


def test_redaction_shapes():
    text = textwrap.dedent(
        f"""
        aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
        token: {GITHUB_TOKEN}
        pat = github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz
        DATABASE_URL=postgres://admin:hunter2hunter2@db:5432/app
        password = var.db_password
        timeout = 30
        """
    )
    masked = redact(text, known=("hunter2hunter2",))
    for secret in ("wJalrXUtnFEMI", GITHUB_TOKEN, "github_pat_11", "hunter2hunter2"):
        assert secret not in masked
    assert "password = var.db_password" in masked  # a reference is not a secret
    assert "timeout = 30" in masked
