"""GitHub's own description of the REST operations the client uses (vendored by
`tests/data/openapi/extract.py`): routing, request validation, response examples and schemas."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator

SPEC_PATH = Path(__file__).parents[1] / "data" / "openapi" / "github-operations.json"


def _nullable_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 says `nullable: true`; JSON Schema says `type: [..., "null"]`."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_to_json_schema(v) for k, v in node.items()}
    if out.pop("nullable", False):
        if "type" in out:
            kinds = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*kinds, "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    template: str
    operation_id: str
    regex: re.Pattern[str]
    path_params: dict[str, dict[str, Any]]
    query_params: dict[str, dict[str, Any]]
    body_required: bool
    body_validator: Draft4Validator | None
    responses: dict[int, dict[str, Any]]

    def example(self, status: int) -> Any:
        """A fresh copy of GitHub's example response, to shape the stand-in's answer."""
        return copy.deepcopy(self.responses[status]["example"])


class Spec:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._components = _nullable_to_json_schema(document["components"])
        self._response_validators: dict[tuple[str, str, int], Draft4Validator] = {}
        self.operations: list[Operation] = []
        for template, methods in document["paths"].items():
            for method, operation in methods.items():
                self.operations.append(self._operation(template, method.upper(), operation))
        # Literal text first, so ".../issues/comments/{id}" wins over ".../issues/{number}".
        self.operations.sort(key=lambda op: -len(re.sub(r"\{\w+\}", "", op.template)))

    def _operation(self, template: str, method: str, raw: dict[str, Any]) -> Operation:
        params: dict[str, dict[str, Any]] = {"path": {}, "query": {}}
        for p in raw.get("parameters", []):
            params[p["in"]][p["name"]] = _nullable_to_json_schema(p)

        def group(match: re.Match[str]) -> str:
            name = match.group(1)
            param = params["path"][name]
            kind = param["schema"].get("type")
            # A git ref ("heads/infra-lock/x") and a file path span segments; ids are digits.
            spans = name == "ref" or param.get("x-multi-segment")
            pattern = ".+" if spans else r"\d+" if kind == "integer" else "[^/]+"
            return f"(?P<{name}>{pattern})"

        regex = re.compile("^" + re.sub(r"\\\{(\w+)\\\}", group, re.escape(template)) + "$")
        body = raw.get("requestBody")
        validator = None
        if body is not None:
            schema = _nullable_to_json_schema(body["content"]["application/json"]["schema"])
            validator = Draft4Validator(schema)
        responses = {int(code): r for code, r in raw["responses"].items()}
        return Operation(
            method=method,
            template=template,
            operation_id=raw["operationId"],
            regex=regex,
            path_params=params["path"],
            query_params=params["query"],
            body_required=bool(body and body.get("required")),
            body_validator=validator,
            responses=responses,
        )

    def operation(self, method: str, template: str) -> Operation:
        for operation in self.operations:
            if operation.method == method and operation.template == template:
                return operation
        raise KeyError(f"{method} {template} is not in the vendored description")

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        for operation in self.operations:
            if operation.method != method:
                continue
            if found := operation.regex.match(path):
                return operation, found.groupdict()
        return None

    def paths_with(self, path: str) -> list[str]:
        """Methods GitHub allows on a path (to tell a wrong method from a wrong path)."""
        return [op.method for op in self.operations if op.regex.match(path)]

    def check_request(
        self, operation: Operation, query: dict[str, list[str]], body: Any, has_body: bool
    ) -> list[str]:
        problems: list[str] = []
        for name, values in query.items():
            param = operation.query_params.get(name)
            if param is None:
                problems.append(f"query parameter {name!r} is not in GitHub's description")
                continue
            value: Any = values[-1]
            kind = param["schema"].get("type")
            if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
                if not re.fullmatch(r"-?\d+", value):
                    problems.append(f"query parameter {name}={value!r} is not an integer")
                    continue
                value = int(value)
            elif kind == "boolean":
                value = {"true": True, "false": False}.get(value, value)
            for error in Draft4Validator(param["schema"]).iter_errors(value):
                problems.append(f"query parameter {name}: {error.message}")
        for name, param in operation.query_params.items():
            if param.get("required") and name not in query:
                problems.append(f"required query parameter {name!r} is missing")
        if operation.body_validator is None:
            if has_body:
                problems.append("the operation takes no request body, but one was sent")
            return problems
        if not has_body:
            if operation.body_required:
                problems.append("the request body is required but missing")
            return problems
        for error in sorted(operation.body_validator.iter_errors(body), key=str):
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            problems.append(f"request body at {where}: {error.message}")
        return problems

    def check_response(self, operation: Operation, status: int, body: Any) -> list[str]:
        """The stand-in checks its own answers against GitHub's response schemas."""
        response = operation.responses.get(status)
        if response is None:
            return [f"GitHub never answers {operation.method} {operation.template} with {status}"]
        if "schema" not in response:
            return []
        key = (operation.method, operation.template, status)
        validator = self._response_validators.get(key)
        if validator is None:
            schema = _nullable_to_json_schema(response["schema"])
            # The wrapper makes "#/components/..." references resolve inside one document.
            validator = Draft4Validator({"allOf": [schema], "components": self._components})
            self._response_validators[key] = validator
        return [
            f"response body at {'/'.join(str(p) for p in e.absolute_path) or '(root)'}: "
            f"{e.message[:200]}"
            for e in validator.iter_errors(body)
        ]


@cache
def load_spec() -> Spec:
    return Spec(json.loads(SPEC_PATH.read_text(encoding="utf-8")))
