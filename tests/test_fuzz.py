"""Fuzzing: what a user, a commenter or another job can put in front of the parsers
never makes them raise anything but their documented error.

Already covered elsewhere, and not repeated here:
- the comment parser returns a value (a command, a reply or an ignore) for any comment and
  only ever names configured layers and suites: test_comment_parser.py
  `test_any_comment_yields_a_value_and_commands_only_hold_configured_names`;
- the dashboard parser: `parse(render(m)) == m` for every dashboard model, any text and
  line-level damage raise only `DashboardError`: test_dashboard.py `test_parse_inverts_render`,
  `test_parse_of_any_text_raises_only_dashboard_error`,
  `test_a_damaged_dashboard_parses_or_raises_dashboard_error`.

Here: the `infra.yaml` loader (only `ConfigError`), and the dashboard's state comment with
well-formed JSON of the wrong shape, which is what an edit by hand or an older writer leaves.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra_pipeline.config import Config, parse_config
from infra_pipeline.core.dashboard import steps as d
from infra_pipeline.core.dashboard.steps import Dashboard, DashboardError, Stage, Status
from infra_pipeline.errors import ConfigError
from infra_pipeline.models import (
    ChangeKind,
    LayerRun,
    Outcome,
    PlanCounts,
    PlanResult,
    ResourceChange,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "homelab" / "infra.yaml"
LAYER_DIRS = ("bootstrap", "platform", "envs/staging/data", "envs/prod/data")
NOW = datetime(2026, 3, 4, 12, 34, tzinfo=UTC)


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    """A repository root where the example's layer directories exist (hypothesis runs many
    examples per test, so the directory is shared rather than per example)."""
    with tempfile.TemporaryDirectory(prefix="fuzz-config-") as tmp:
        for layer in LAYER_DIRS:
            (Path(tmp) / layer).mkdir(parents=True)
        yield Path(tmp)


def load(text: str, root: Path) -> Config | None:
    """Parse, allowing only a Config or a ConfigError whose message names the file."""
    path = root / "infra.yaml"
    try:
        return parse_config(text, path)
    except ConfigError as exc:
        assert exc.message and str(path) in exc.message, exc.message
        return None


# -- infra.yaml --------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["terraform", "tofu", "terragrunt", "maintain", "all", "bootstrap", "."]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
TOP_KEYS = [
    "version",
    "layers",
    "permissions",
    "allow_forks",
    "plan_drafts",
    "apply_requirements",
    "jobs",
    "stale_run_minutes",
    "health",
    "e2e",
    "after_apply_e2e",
    "review",
    "drift",
]
LAYER_KEYS = [
    "path",
    "engine",
    "order",
    "watch",
    "env",
    "state_key",
    "backend_config",
    "binary",
    "auto_apply",
    "timeout",
]
layer_specs = st.dictionaries(st.sampled_from(LAYER_KEYS), values, max_size=6)
layer_names = st.sampled_from(["bootstrap", "platform", "data-prod", "", "Bad Name", "all", "x"])
shaped = st.fixed_dictionaries(
    {
        "version": st.one_of(st.just(1), values),
        "layers": st.one_of(st.dictionaries(layer_names, layer_specs, max_size=4), values),
    },
    optional={key: values for key in TOP_KEYS[2:]},
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=400))
def test_any_text_loads_or_raises_config_error(text: str, root: Path) -> None:
    load(text, root)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=shaped)
def test_any_config_shaped_yaml_loads_or_raises_config_error(
    data: dict[str, Any], root: Path
) -> None:
    load(yaml.safe_dump(data, allow_unicode=True), root)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_damaged_example_config_loads_or_raises_config_error(
    data: st.DataObject, root: Path
) -> None:
    lines = EXAMPLE.read_text().split("\n")
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(lines) - 1))
        how = data.draw(st.sampled_from(["drop", "dup", "edit", "indent", "cut"]))
        if how == "drop":
            del lines[at]
        elif how == "dup":
            lines.insert(at, lines[at])
        elif how == "edit":
            lines[at] = data.draw(st.text(max_size=30))
        elif how == "indent":
            lines[at] = " " * data.draw(st.integers(1, 3)) + lines[at]
        else:
            lines[at] = lines[at][: data.draw(st.integers(0, len(lines[at])))]
    load("\n".join(lines), root)


def test_the_example_config_loads(root: Path) -> None:
    assert load(EXAMPLE.read_text(), root) is not None


# -- the dashboard's state comment ---------------------------------------------------------------


def sample_dashboard() -> Dashboard:
    m = d.new_dashboard(
        repo="acme/infra",
        pr=7,
        head_sha="a1b2c3d" + "0" * 33,
        base_sha="b" * 40,
        layers=["bootstrap", "platform"],
        server_url="https://github.com",
    )
    m = d.finish_stage(d.start_stage(m, Stage.CI, 1, NOW), Stage.CI, Status.OK, 1, NOW)
    m = d.start_plan(m, ["platform"], 1, NOW)
    change = ResourceChange("aws_s3_bucket.logs", ChangeKind.DELETE, ("delete",))
    plan = PlanResult(
        "platform", PlanCounts(destroy=1), (change,), (), (), (), "f" * 64, "Plan: 0 to add."
    )
    m = d.record_plans(
        m, [LayerRun("platform", Outcome.CHANGES, plan=plan)], 1, NOW, base_sha="b" * 40
    )
    return d.set_lock(m, "bootstrap", "locked by #8")


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, (*prefix, index))


def replaced(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(node))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_state_of_the_wrong_shape_raises_only_dashboard_error(data: st.DataObject) -> None:
    body = d.render(sample_dashboard())
    head, _, state_line = body.rstrip("\n").rpartition("\n")
    prefix, raw = state_line.removesuffix(" -->").split(" ", 2)[1:]
    state = json.loads(raw)
    where = data.draw(st.sampled_from(list(paths(state))))
    state = replaced(state, where, data.draw(json_values))
    if data.draw(st.booleans()) and isinstance(state, dict):  # and drop a key, sometimes
        state.pop(data.draw(st.sampled_from(sorted(state) or [""])), None)
    damaged = f"{head}\n<!-- {prefix} {json.dumps(state)} -->\n"
    try:
        parsed = d.parse(damaged)
    except DashboardError:
        return
    assert d.parse(d.render(parsed)) == parsed  # whatever parses is a model that round-trips
