"""The plain reader of infra.yaml (`config._plain_config`) and the pydantic models
(`config_models`) give the same records.

`infra plan` reads a file of the common shape without pydantic (its import and the models'
build were half of the start before the first Terraform command); every other file, and every
file with a problem, goes through the models. So the plain reader must either leave a file to
the models or read it into exactly the records the models would give: checked here on
generated files, valid and not. The records and the models must also keep the same fields and
defaults, or the two readers would drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from infra_pipeline import config, config_checks, config_models
from infra_pipeline.config import _plain_config, parse_config

ROOT = Path("/repo")
SOURCE = ROOT / "infra.yaml"
DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "homelab" / "infra.yaml"

RECORDS = [
    value
    for module in (config, config_checks)
    for value in vars(module).values()
    if isinstance(value, type)
    and issubclass(value, msgspec.Struct)
    and value.__module__ == module.__name__
]


def through_models(data: dict[str, Any]) -> config.Config | None:
    try:
        return config_models.validate(data, ROOT, SOURCE)
    except ValidationError:
        return None


@pytest.mark.parametrize("record", RECORDS, ids=lambda record: record.__name__)
def test_each_record_has_the_fields_and_defaults_of_its_model(record: Any) -> None:
    model = getattr(config_models, record.__name__)
    assert issubclass(model, BaseModel)
    names = record.__struct_fields__
    assert list(names) == list(model.model_fields)
    for name, default in defaults_of(record).items():
        declared = model.model_fields[name]
        if default is msgspec.NODEFAULT:
            assert declared.is_required(), name
            continue
        if (record, name) == (config_checks.KubeSpec, "kubeconfig"):
            assert default is None  # "not set": $KUBECONFIG decides (adapters/kubeconfig)
            continue
        expected = declared.get_default(call_default_factory=True)
        assert default == through_models_default(expected), f"{record.__name__}.{name}"


def defaults_of(record: Any) -> dict[str, Any]:
    """Each field's default (what its factory makes), or NODEFAULT. Read off the class, not
    through `msgspec.structs.fields`, which evaluates the annotations (and config's name
    config_checks' records only for the type checker)."""
    names = record.__struct_fields__
    given = record.__struct_defaults__
    defaults = (msgspec.NODEFAULT,) * (len(names) - len(given)) + given
    return {
        name: default.factory() if hasattr(default, "factory") else default
        for name, default in zip(names, defaults, strict=True)
    }


def through_models_default(value: Any) -> Any:
    """A model's default as the record holds it (a default model as its record)."""
    return config_models._record(value)


def test_the_records_are_every_model() -> None:
    models = {
        value.__name__
        for value in vars(config_models).values()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and value.__module__ == config_models.__name__
        and not value.__name__.startswith("_")
    }
    assert models == {record.__name__ for record in RECORDS}


# Values of every kind a YAML file can give, with the ones the keys take among them.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**65), 2**65),
    st.integers(-3, 70),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(
        [
            "terraform",
            "tofu",
            "terragrunt",
            "maintain",
            "admin",
            "apply",
            "plan",
            "approved",
            "mergeable",
            "stop",
            "skip_dependents",
            "30s",
            "5m\n",
            "10",
            "a",
            "b",
            "all",
            "Bad",
            "x\n",
            ".",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(scalars, inner, max_size=3),
    max_leaves=8,
)
LAYER_KEYS = [*config.Layer.__struct_fields__, "bogus"]
TOP_KEYS = [*config.Config.__struct_fields__, "bogus"]
texts = st.lists(st.sampled_from(["a", "b", "c", "z", "**/x"]), max_size=2)
text_maps = st.dictionaries(st.sampled_from(["A", "B"]), st.sampled_from(["1", "${X}", ""]))
durations = st.sampled_from(["5m", "30s", "500ms", "1h", "5m\n", "5 m", "soon", ""])
roles = st.sampled_from(["admin", "maintain", "write", "read", "none", "triage", "boss"])
requirements = st.lists(st.sampled_from(["approved", "mergeable", "signed"]), max_size=2)
# Near-valid values per key, so that many files are valid and the plain reader takes them;
# `values` (anything) among them, so that some are not.
LAYER_VALUES = {
    "path": st.sampled_from(["a", "b", "", "/abs"]),
    "order": st.integers(0, 3) | st.sampled_from([2**63, -(2**63) - 1, True, 1.0]),
    "engine": st.sampled_from(["terraform", "tofu", "terragrunt", "nope"]),
    "depends_on": texts,
    "watch": texts,
    "env": text_maps,
    "state_key": st.sampled_from(["k", None, ""]),
    "backend_config": text_maps,
    "binary": st.sampled_from(["tofu", None]),
    "auto_apply": st.booleans(),
    "autoplan": st.sampled_from([True, False, None, 1]),
    "timeout": st.integers(-1, 2),
    "lock_timeout": durations | st.none(),
    "permissions": st.dictionaries(st.sampled_from(["apply", "plan"]), roles, max_size=2),
    "apply_requirements": requirements,
    "codeowners": st.booleans(),
    "name": st.just("other"),
    "steps": st.just({}),
}
TOP_VALUES = {
    "version": st.sampled_from([1, 2, True, 1.0, "1", None]),
    "permissions": st.dictionaries(
        st.sampled_from(["apply", "plan", "unlock", "force-unlock", "deploy"]), roles, max_size=2
    ),
    "allow_forks": st.booleans(),
    "plan_drafts": st.booleans(),
    "autoplan": st.booleans(),
    "apply_requirements": requirements,
    "codeowners": st.booleans(),
    "apply_bases": texts,
    "bot_login": st.sampled_from(["app[bot]", ""]),
    "jobs": st.integers(-1, 66),
    "apply_parallelism": st.integers(0, 65),
    "on_failure": st.sampled_from(["stop", "skip_dependents", "go"]),
    "stale_run_minutes": st.integers(-1, 2),
    "lock_timeout": durations,
    "review": st.just({}),
    "root": st.just("/elsewhere"),
    "steps": st.just({}),
    "health": st.just({}),
    "e2e": st.just({}),
    "after_apply_e2e": st.none(),
    "drift": st.just({}),
    "merge_queue": st.just({}),
    "policies": st.none(),
}


def near(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly `strategy`, once in ten anything."""
    # 5: hypothesis favours the ends of a range
    return st.integers(0, 9).flatmap(lambda pick: values if pick == 5 else strategy)


def some_of(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    """The `required` keys, a few of the `optional` ones, and once in ten a key of any name
    with any value."""
    chosen = st.sets(st.sampled_from(sorted(optional)), max_size=5).flatmap(
        lambda keys: st.fixed_dictionaries(
            {key: near(strategy) for key, strategy in required.items()}
            | {key: near(optional[key]) for key in keys}
        )
    )
    stray = st.integers(0, 9).flatmap(
        lambda pick: (
            st.dictionaries(st.text(max_size=12), values, min_size=1, max_size=1)
            if pick == 5
            else st.just({})
        )
    )
    return st.tuples(chosen, stray).map(lambda parts: parts[1] | parts[0])


layer = some_of(
    {key: LAYER_VALUES[key] for key in ("path", "order")},
    {key: value for key, value in LAYER_VALUES.items() if key not in ("path", "order")},
)
names = st.sampled_from(["a", "b", "c", "d.e_f-g"]) | st.sampled_from(["all", "Bad", "x\n", "1"])
files = some_of(
    {"layers": near(st.dictionaries(names, layer, min_size=1, max_size=3))},
    TOP_VALUES | {key: values for key in TOP_KEYS if key not in TOP_VALUES and key != "layers"},
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=files)
def test_the_plain_reader_gives_the_models_records_or_leaves_the_file_to_them(
    data: dict[str, Any],
) -> None:
    plain = _plain_config(data, ROOT, SOURCE)
    if plain is not None:
        assert plain == through_models(data)


COMMON = [
    "version: 1\nlayers:\n  one: {path: one, order: 1}\n",
    "layers:\n  a: {path: a, order: 2}\n  b: {path: b, order: 1, depends_on: [a]}\njobs: 8\n",
    "version: 1\nlayers:\n"
    "  net: {path: net, order: 1, engine: tofu, watch: ['modules/**'], state_key: net.tfstate,"
    " backend_config: {bucket: '${BUCKET}'}, env: {TF_LOG: INFO}, lock_timeout: 5m,"
    " permissions: {apply: admin}, apply_requirements: [approved], codeowners: true,"
    " autoplan: false, auto_apply: false, timeout: 600, binary: /usr/bin/tofu}\n"
    "permissions: {apply: maintain, plan: read}\nallow_forks: true\nplan_drafts: true\n"
    "autoplan: false\napply_requirements: [approved, mergeable]\ncodeowners: true\n"
    "apply_bases: [release]\nbot_login: app[bot]\njobs: 2\napply_parallelism: 3\n"
    "on_failure: skip_dependents\nstale_run_minutes: 30\nlock_timeout: 1m\n",
]


@pytest.mark.parametrize("text", COMMON)
def test_a_file_of_the_common_shape_is_read_without_the_models(text: str) -> None:
    data = yaml.safe_load(text)
    plain = _plain_config(data, ROOT, SOURCE)
    assert plain is not None
    assert plain == through_models(data)


def test_what_the_plain_reader_leaves_is_read_by_the_models(tmp_path: Path) -> None:
    """The homelab example has health probes and e2e suites: the models read it, into the
    records every other reader gets."""
    data = yaml.safe_load(EXAMPLE.read_text())
    assert _plain_config(data, ROOT, SOURCE) is None
    loaded = parse_config(EXAMPLE.read_text(), EXAMPLE, check_paths=False)
    assert isinstance(loaded.health["cluster"], config_checks.CommandProbe)
    assert loaded.e2e["smoke"].timeout == 300


def test_infra_config_prints_what_the_models_print(tmp_path: Path) -> None:
    """`infra config` dumps the records through the models: the same keys, values and order
    as the model the file validates into."""
    data = yaml.safe_load(EXAMPLE.read_text())
    record = config_models.validate(data, ROOT, SOURCE)
    model = config_models.Config.model_validate(data)
    assert config_models.dump(record) == model.model_dump(mode="json", exclude_defaults=False)


# One parse gives the node tree (problems' lines) and the data (config._read_yaml), as
# `yaml.compose` and `yaml.safe_load` each gave them from a parse of their own.
ONE_PARSE_TEXTS = [
    "",
    "# only a comment\n",
    "version: 1\nlayers:\n  one: {path: one, order: 1}\n",
    "layers:\n  a: &base {path: a, order: 1}\n  b:\n    <<: *base\n    path: b\n",
    "a: &x {k: 1}\nb: {<<: [*x, {j: 2}], k: 3}\n",
    "=: 1\nx: {=: 2}\n",
    "a: &x [1, {b: 2}]\nc: *x\n",
    "when: 2001-12-14\nblob: !!binary aGk=\nset: !!set {a, b}\n",
    "---\nlist: [1, 2.5, true, ~, 0x10, '0x10']\n",
]


def _shape(node: yaml.Node | None) -> Any:
    """A node tree as comparable values: kind, tag, where it starts, and its members."""
    if node is None:
        return None
    where = (type(node).__name__, node.tag, node.start_mark.line, node.start_mark.column)
    if isinstance(node, yaml.MappingNode):
        return (*where, [(_shape(key), _shape(value)) for key, value in node.value])
    if isinstance(node, yaml.SequenceNode):
        return (*where, [_shape(member) for member in node.value])
    return (*where, node.value)


def _same_as_two_parses(text: str) -> None:
    node, data = config._read_yaml(text)
    assert data == yaml.safe_load(text)
    assert _shape(node) == _shape(yaml.compose(text, Loader=yaml.SafeLoader))


@pytest.mark.parametrize("text", ONE_PARSE_TEXTS)
def test_one_parse_gives_the_node_tree_and_the_data_of_two(text: str) -> None:
    _same_as_two_parses(text)


@settings(max_examples=60, deadline=None)
@given(value=values)
def test_one_parse_gives_the_same_on_generated_documents(value: Any) -> None:
    _same_as_two_parses(yaml.safe_dump({"v": value, "w": [value, value]}))


def _raised(call: Callable[[], object]) -> tuple[type[Exception], str]:
    try:
        call()
    except Exception as exc:
        return type(exc), str(exc)
    raise AssertionError("nothing raised")


@pytest.mark.parametrize("text", ["a: [1\n", "a: !!python/name:os.system x\n", "a: !!int x\n"])
def test_one_parse_fails_as_the_two_did(text: str) -> None:
    def two() -> None:
        yaml.compose(text, Loader=yaml.SafeLoader)
        yaml.safe_load(text)

    assert _raised(lambda: config._read_yaml(text)) == _raised(two)
