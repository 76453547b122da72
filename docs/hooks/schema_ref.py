"""mkdocs hook: the infra.yaml reference page and the published JSON Schema, rendered from
`infra_pipeline.config.json_schema()` at build time, so the docs cannot drift from the code.

Adds two files to the build: `reference/infra-yaml.md` and `schema/infra.schema.json` (the
URL the `# yaml-language-server: $schema=` line of a generated infra.yaml points at).
"""

from __future__ import annotations

import json
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

from infra_pipeline.config import json_schema

PAGE = "reference/infra-yaml.md"
SCHEMA = "schema/infra.schema.json"
_INTRO = """\
# infra.yaml reference

Generated from the JSON Schema that `infra` validates `infra.yaml` against (print it with
`infra config schema`; editors that speak the YAML language server read it from the
`# yaml-language-server: $schema=…` line that `infra init` writes). Unknown keys are errors.
The guide to these settings is [Configuration](../configuration.md).
"""


def on_files(files: Files, config: MkDocsConfig) -> Files:
    schema = json_schema()
    files.append(File.generated(config, PAGE, content=render(schema)))
    files.append(File.generated(config, SCHEMA, content=json.dumps(schema, indent=2) + "\n"))
    return files


def render(schema: dict[str, Any]) -> str:
    """The reference page: the top-level keys, then one section per nested object."""
    defs: dict[str, Any] = schema.get("$defs", {})
    lines = [_INTRO, "## Top-level keys", "", *_table(schema, defs)]
    for name, definition in defs.items():
        lines += ["", f"## {name}", ""]
        if definition.get("description"):
            lines += [_one_line(definition["description"]), ""]
        if "properties" in definition:
            lines += _table(definition, defs)
        else:
            lines.append(f"One of: {_type(definition, defs)}.")
    return "\n".join(lines) + "\n"


def _table(obj: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    required = set(obj.get("required", ()))
    rows = ["| key | type | default | description |", "|:---|:---|:---|:---|"]
    for key, prop in obj["properties"].items():
        default = "**required**" if key in required else _default(prop)
        description = _one_line(prop.get("description", ""))
        rows.append(f"| `{key}` | {_type(prop, defs)} | {default} | {_cell(description)} |")
    return rows


def _type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        target = defs.get(name, {})
        if "enum" in target:  # small enums read better inline than as a link
            return _type(target, defs)
        return f"[{name}](#{name.lower()})"
    for union in ("anyOf", "oneOf"):
        if union in prop:
            options = [_type(option, defs) for option in prop[union]]
            return " \\| ".join(option for option in options if option != "null") + (
                " or null" if "null" in options else ""
            )
    if "const" in prop:
        return f"`{json.dumps(prop['const'])}`"
    if "enum" in prop:
        return " \\| ".join(f"`{value}`" for value in prop["enum"])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}), defs)}"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"map of name → {_type(prop['additionalProperties'], defs)}"
    bounds = [
        f"{symbol} {prop[key]}"
        for key, symbol in (
            ("minimum", "≥"),
            ("exclusiveMinimum", ">"),
            ("maximum", "≤"),
            ("minLength", "length ≥"),
        )
        if key in prop
    ]
    return str(kind) + (f" ({', '.join(bounds)})" if bounds else "")


def _default(prop: dict[str, Any]) -> str:
    if "default" not in prop:
        return "-"
    value = prop["default"]
    if value in ([], {}, None, ""):
        return "empty" if value is not None else "null"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
