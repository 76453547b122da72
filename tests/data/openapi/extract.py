"""Vendor the few GitHub REST operations the client uses into `github-operations.json`.

How the vendored file was made (not run in CI; re-run it when the client starts using a new
route, or to move to a newer description):

    cd /tmp && npm pack @octokit/openapi@23.0.2
    mkdir -p oapi && tar xzf octokit-openapi-23.0.2.tgz -C oapi
    python tests/data/openapi/extract.py /tmp/oapi/package/generated/api.github.com.json

The source is GitHub's own OpenAPI 3.0 description of api.github.com (the `rest-api-description`
repository, republished by Octokit). For each operation in `OPERATIONS` we keep what the stand-in
needs to judge a request and to shape a response: the path parameters and query parameters
(`$ref`s inlined), the JSON request body schema, the success status codes with their response
schema (`$ref` kept) and one example (inlined). Component schemas reachable from those response
schemas are copied under `components.schemas` so the `$ref`s still resolve; descriptions are
dropped to keep the file small. GraphQL is not part of the REST description: the stand-in checks
`POST /graphql` on its own.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SOURCE = "@octokit/openapi@23.0.2 generated/api.github.com.json"

# (method, path template) of every REST call `infra_pipeline.adapters.github.client` makes.
OPERATIONS: list[tuple[str, str]] = [
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/files"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("post", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("get", "/repos/{owner}/{repo}/commits/{commit_sha}/pulls"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("get", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("delete", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("post", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
    ("post", "/repos/{owner}/{repo}/statuses/{sha}"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/statuses"),
    ("get", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
    ("post", "/repos/{owner}/{repo}/git/refs"),
    ("get", "/repos/{owner}/{repo}/git/ref/{ref}"),
    ("delete", "/repos/{owner}/{repo}/git/refs/{ref}"),
    ("get", "/repos/{owner}/{repo}/git/matching-refs/{ref}"),
    ("get", "/repos/{owner}/{repo}/git/commits/{commit_sha}"),
    ("post", "/repos/{owner}/{repo}/git/commits"),
    ("get", "/repos/{owner}/{repo}/deployments"),
    ("post", "/repos/{owner}/{repo}/deployments"),
    ("post", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    ("get", "/repos/{owner}/{repo}/issues"),
    ("post", "/repos/{owner}/{repo}/issues"),
    ("patch", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("get", "/repos/{owner}/{repo}/actions/runs/{run_id}"),
    ("get", "/repos/{owner}/{repo}/contents/{path}"),
    ("get", "/orgs/{org}/teams/{team_slug}/members"),
]

_DROP = {"description", "summary", "externalDocs", "x-github", "x-octokit", "tags"}


def _component(spec: dict[str, Any], ref: str) -> Any:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _strip(node: Any) -> Any:
    """Drop prose so the vendored file stays small; keep everything a validator reads."""
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in _DROP}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _inline(spec: dict[str, Any], node: Any) -> Any:
    """Inline every `$ref` (used for parameters, request bodies, examples: no cycles there)."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(spec, _component(spec, node["$ref"]))
        return {k: _inline(spec, v) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(spec, v) for v in node]
    return node


def _collect_schemas(spec: dict[str, Any], node: Any, seen: dict[str, Any]) -> None:
    """Copy the component schemas a response schema reaches (they can be recursive)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in seen:
                seen[name] = _strip(_component(spec, ref))
                _collect_schemas(spec, seen[name], seen)
        for value in node.values():
            _collect_schemas(spec, value, seen)
    elif isinstance(node, list):
        for value in node:
            _collect_schemas(spec, value, seen)


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for method, path in OPERATIONS:
        operation = spec["paths"][path][method]
        parameters = [_strip(_inline(spec, p)) for p in operation.get("parameters", [])]
        out: dict[str, Any] = {
            "operationId": operation["operationId"],
            "parameters": [p for p in parameters if p["in"] in ("path", "query")],
        }
        if "requestBody" in operation:
            body = _inline(spec, operation["requestBody"])
            out["requestBody"] = {
                "required": body.get("required", False),
                "content": {
                    "application/json": {
                        "schema": _strip(body["content"]["application/json"]["schema"])
                    }
                },
            }
        responses: dict[str, Any] = {}
        for code, response in operation["responses"].items():
            if not code.startswith("2"):
                continue
            response = _inline(spec, response) if "$ref" in response else response
            media = response.get("content", {}).get("application/json")
            if media is None:
                responses[code] = {}
                continue
            schema = _strip(media["schema"])
            _collect_schemas(spec, schema, schemas)
            examples = media.get("examples", {})
            example = next(iter(examples.values()), None)
            responses[code] = {"schema": schema}
            if example is not None:
                responses[code]["example"] = _inline(spec, example)["value"]
        out["responses"] = responses
        paths.setdefault(path, {})[method] = out
    return {
        "openapi": spec["openapi"],
        "info": {"title": "GitHub REST operations used by infra-pipeline", "source": SOURCE},
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


def main(argv: list[str]) -> int:
    source = Path(argv[0])
    spec = json.loads(source.read_text(encoding="utf-8"))
    target = Path(__file__).with_name("github-operations.json")
    target.write_text(json.dumps(extract(spec), indent=1, sort_keys=False) + "\n", "utf-8")
    print(f"wrote {target} ({target.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
