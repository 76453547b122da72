"""Webhook payloads for `GITHUB_EVENT_PATH`, from GitHub's own examples (`tests/data/webhooks`).

    event = make_event("issue_comment", "created", number=7, body="/plan", user="alice")
    path.write_text(json.dumps(event))

Only what the product reads is rewritten; everything else stays as GitHub sends it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

WEBHOOKS = Path(__file__).parents[1] / "data" / "webhooks"


@cache
def _load(filename: str) -> dict[str, Any]:
    path = WEBHOOKS / filename
    if not path.exists():
        available = sorted(p.stem for p in WEBHOOKS.glob("*.json"))
        raise FileNotFoundError(f"no vendored webhook {filename}; have {available}")
    payload: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return payload


def _replace_strings(node: Any, old: str, new: str) -> Any:
    if isinstance(node, str):
        return node.replace(old, new)
    if isinstance(node, list):
        return [_replace_strings(v, old, new) for v in node]
    if isinstance(node, dict):
        return {k: _replace_strings(v, old, new) for k, v in node.items()}
    return node


def _set_path(payload: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node: Any = payload
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    node[last] = value


def _user(node: dict[str, Any], login: str, kind: str | None = None) -> None:
    node["login"] = login
    node["html_url"] = f"https://github.com/{login}"
    node["url"] = f"https://api.github.com/users/{login}"
    if kind is not None:
        node["type"] = kind


def make_event(
    name: str,
    action: str | None = None,
    *,
    repo: str = "acme/infra",
    default_branch: str = "main",
    number: int | None = None,
    title: str | None = None,
    head_sha: str | None = None,
    base_sha: str | None = None,
    head_ref: str | None = None,
    base_ref: str | None = None,
    author: str | None = None,
    draft: bool | None = None,
    fork: bool | None = None,
    merged: bool | None = None,
    body: str | None = None,
    user: str | None = None,
    user_type: str | None = None,
    comment_id: int | None = None,
    on_pull_request: bool = True,
    sender: str | None = None,
    ref: str | None = None,
    after: str | None = None,
    before: str | None = None,
    inputs: Mapping[str, Any] | None = None,
    schedule: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A payload for event `name` (pull_request, issue_comment, push, workflow_dispatch,
    schedule, merge_group) and `action`, in repository `repo`, with the fields the product
    reads set.
    `extra` sets any other field by dotted path ({"pull_request.labels": []})."""
    if name == "issue_comment" and on_pull_request:
        filename = f"issue_comment.{action}.pull_request.json"
    else:
        filename = f"{name}.{action}.json" if action else f"{name}.json"
    example = _load(filename)
    old_repo = example["repository"]["full_name"]
    event: dict[str, Any] = _replace_strings(copy.deepcopy(example), old_repo, repo)
    owner, repo_name = repo.split("/")
    repository = event["repository"]
    repository.update(name=repo_name, full_name=repo, default_branch=default_branch)
    _user(repository["owner"], owner)

    if name == "pull_request":
        _pull_request(
            event,
            number=number,
            title=title,
            head_sha=head_sha,
            base_sha=base_sha,
            head_ref=head_ref,
            base_ref=base_ref or default_branch,
            author=author,
            draft=draft,
            fork=fork,
            merged=merged,
        )
        sender = sender or author
    elif name == "issue_comment":
        issue, comment = event["issue"], event["comment"]
        if number is not None:
            issue["number"] = number
            if "pull_request" in issue:
                pr_api = f"https://api.github.com/repos/{repo}/pulls/{number}"
                pr_web = f"https://github.com/{repo}/pull/{number}"
                issue["pull_request"].update(
                    url=pr_api,
                    html_url=pr_web,
                    diff_url=f"{pr_web}.diff",
                    patch_url=f"{pr_web}.patch",
                )
        if body is not None:
            comment["body"] = body
        if comment_id is not None:
            comment["id"] = comment_id
        if user is not None or user_type is not None:
            _user(comment["user"], user or comment["user"]["login"], user_type)
        sender = sender or user
    elif name == "push":
        event["ref"] = ref or f"refs/heads/{default_branch}"
        if before is not None:
            event["before"] = before
        if after is not None:
            event["after"] = after
            event["head_commit"]["id"] = after
            event["commits"][-1]["id"] = after
    elif name == "workflow_dispatch":
        event["ref"] = ref or f"refs/heads/{default_branch}"
        if inputs is not None:
            event["inputs"] = dict(inputs)
    elif name == "schedule" and schedule is not None:
        event["schedule"] = schedule
    elif name == "merge_group":
        group = event["merge_group"]
        if head_sha is not None:
            group["head_sha"] = group["head_commit"]["id"] = head_sha
        if base_sha is not None:
            group["base_sha"] = base_sha
        group["base_ref"] = f"refs/heads/{default_branch}"
        if number is not None:
            queued_on = base_sha or group["base_sha"]
            group["head_ref"] = (
                f"refs/heads/gh-readonly-queue/{default_branch}/pr-{number}-{queued_on}"
            )

    if sender is not None:
        _user(event["sender"], sender)
    for dotted, value in (extra or {}).items():
        _set_path(event, dotted, value)
    return event


def _pull_request(
    event: dict[str, Any],
    *,
    number: int | None,
    title: str | None,
    head_sha: str | None,
    base_sha: str | None,
    head_ref: str | None,
    base_ref: str,
    author: str | None,
    draft: bool | None,
    fork: bool | None,
    merged: bool | None,
) -> None:
    pr = event["pull_request"]
    repo = event["repository"]["full_name"]
    if number is not None:
        event["number"] = pr["number"] = number
        pr["url"] = f"https://api.github.com/repos/{repo}/pulls/{number}"
        pr["html_url"] = f"https://github.com/{repo}/pull/{number}"
        pr["issue_url"] = f"https://api.github.com/repos/{repo}/issues/{number}"
        pr["comments_url"] = f"{pr['issue_url']}/comments"
    if title is not None:
        pr["title"] = title
    if author is not None:
        _user(pr["user"], author)
    if draft is not None:
        pr["draft"] = draft
    if merged is not None:
        pr["merged"] = merged
        pr["merged_at"] = "2019-05-15T15:20:33Z" if merged else None
        if merged:
            pr["state"] = "closed"
    head, base = pr["head"], pr["base"]
    if head_sha is not None:
        head["sha"] = head_sha
    if base_sha is not None:
        base["sha"] = base_sha
    base["ref"] = base_ref
    base["label"] = f"{repo.split('/')[0]}:{base_ref}"
    if head_ref is not None:
        head["ref"] = head_ref
    head_owner = repo.split("/")[0]
    _user(base["repo"]["owner"], head_owner)
    _user(head["repo"]["owner"], head_owner)
    if fork:
        head_owner = author or pr["user"]["login"]
        head["repo"]["full_name"] = f"{head_owner}/{repo.split('/')[1]}"
        head["repo"]["fork"] = True
        _user(head["repo"]["owner"], head_owner)
        _user(head["user"], head_owner)
    head["label"] = f"{head_owner}:{head['ref']}"
