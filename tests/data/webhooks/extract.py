"""Vendor one real webhook payload per event the product handles (not run in CI).

    cd /tmp && npm pack @octokit/webhooks-examples@7.6.1
    mkdir -p wh && tar xzf octokit-webhooks-examples-7.6.1.tgz -C wh
    python tests/data/webhooks/extract.py /tmp/wh/package/api.github.com/index.json

Payloads are copied byte-for-byte in content (re-indented only). Two files are not verbatim
examples, because the package has none to copy:

- `issue_comment.created.pull_request.json`: every `issue_comment` example is on a plain issue.
  A comment on a pull request differs only in `issue.pull_request`, which GitHub documents as
  `{url, html_url, diff_url, patch_url, merged_at}`; this file is the `created` example plus
  that object (pointing at pull request #1 of the example repository).
- `schedule.json`: `schedule` is not a webhook (Actions raises it internally), so it is not in the
  package. Since 2022-09 the event file carries `schedule`, `workflow`, `repository`,
  `organization` and `sender`; this file builds it from the `workflow_dispatch` example's
  repository and sender.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SOURCE = "@octokit/webhooks-examples@7.6.1 api.github.com/index.json"

# (event, action or None): the first matching example is vendored.
WANTED: list[tuple[str, str | None]] = [
    ("pull_request", "opened"),
    ("pull_request", "synchronize"),
    ("pull_request", "reopened"),
    ("pull_request", "closed"),
    ("pull_request", "ready_for_review"),
    ("issue_comment", "created"),
    ("push", None),
    ("workflow_dispatch", None),
    ("merge_group", "checks_requested"),
]


def _pick(examples: list[dict[str, Any]], event: str, action: str | None) -> dict[str, Any]:
    for example in examples:
        if example.get("action") != action:
            continue
        # A push to a branch (with a commit) is what the product reacts to, not a tag push.
        if event == "push" and not str(example["ref"]).startswith("refs/heads/"):
            continue
        return example
    raise LookupError(f"no {event}.{action} example in {SOURCE}")


def _write(target: Path, payload: dict[str, Any]) -> None:
    target.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", "utf-8")


def main(argv: list[str]) -> int:
    events = {e["name"]: e["examples"] for e in json.loads(Path(argv[0]).read_text("utf-8"))}
    here = Path(__file__).parent
    for event, action in WANTED:
        payload = _pick(events[event], event, action)
        _write(here / (f"{event}.{action}.json" if action else f"{event}.json"), payload)

    comment = json.loads(json.dumps(_pick(events["issue_comment"], "issue_comment", "created")))
    repo_html = comment["repository"]["html_url"]
    repo_api = comment["repository"]["url"]
    comment["issue"]["pull_request"] = {
        "url": f"{repo_api}/pulls/1",
        "html_url": f"{repo_html}/pull/1",
        "diff_url": f"{repo_html}/pull/1.diff",
        "patch_url": f"{repo_html}/pull/1.patch",
        "merged_at": None,
    }
    _write(here / "issue_comment.created.pull_request.json", comment)

    dispatch = _pick(events["workflow_dispatch"], "workflow_dispatch", None)
    schedule = {
        "schedule": "0 6 * * *",
        "workflow": dispatch["workflow"],
        "repository": dispatch["repository"],
        "organization": dispatch["organization"],
        "sender": dispatch["sender"],
    }
    _write(here / "schedule.json", schedule)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
