"""`infra.yaml`: finding it, validating it, and the typed config the rest of the code reads.

Every problem is reported as one `ConfigError` naming the file, the key (with its line where
the YAML parser knows it) and the fix, so that a broken config never reaches Terraform.

The config is a tree of frozen records (below). A file in the common shape (layers and plain
top-level settings, every value of the exact type) is read into them directly by
`_plain_config`; any other file, and every file with a problem, goes through the pydantic
models in `config_models`, which word the problems and give `infra config schema`. Importing
pydantic and building its models took about half of `infra plan`'s start before its first
Terraform command; tests/test_config_fast.py checks on generated files that both readers give
the same records, or that the plain one leaves the file to pydantic.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

import yaml
from msgspec import Struct, field
from msgspec.structs import replace

from .config_problems import Problem, duplicate_keys, path_problems, unnamed_layers
from .digraph import strongly_connected
from .errors import ConfigError

if TYPE_CHECKING:
    # The records of the `health` and `e2e` keys are in `config_checks`, loaded only when a
    # file has them: seven records fewer to build before every plan's first Terraform command.
    from .config_checks import E2ESuite, Probe

CONFIG_NAME = "infra.yaml"
_LAYER_NAME = r"^[a-z0-9][a-z0-9_.-]*$"
# Terraform's `-lock-timeout` takes a Go duration; these are the units that make sense for it.
_DURATION = r"^[0-9]+(ms|s|m|h)$"
# A step's name lands in the dashboard's Markdown: nothing that could format or escape it.
_STEP_NAME = r"^[A-Za-z0-9][A-Za-z0-9 _.:/-]*$"
# A Rego package path, as conftest's `--namespace` takes it (`main`, `terraform.aws`).
_NAMESPACE = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
DEFAULT_BOT_LOGIN: Final = "github-actions[bot]"


class Engine(StrEnum):
    TERRAFORM = "terraform"
    TOFU = "tofu"
    TERRAGRUNT = "terragrunt"


class OnFailure(StrEnum):
    """What a failed apply does to the layers not yet started."""

    STOP = "stop"  # nothing else starts (the seed's behaviour)
    SKIP_DEPENDENTS = "skip_dependents"  # only what depends on the failed layer is skipped


class Role(StrEnum):
    """GitHub repository roles, weakest first."""

    NONE = "none"
    READ = "read"
    TRIAGE = "triage"
    WRITE = "write"
    MAINTAIN = "maintain"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    @classmethod
    def of(cls, name: str) -> Role:
        """The role GitHub names; a custom role counts as `none` (its grants are unknown)."""
        try:
            return cls(name)
        except ValueError:
            return cls.NONE


class Stage(StrEnum):
    """Where in a layer's plan or apply a custom step runs."""

    PRE_PLAN = "pre_plan"  # before init and plan
    POST_PLAN = "post_plan"  # after the plan, with its JSON in $INFRA_PLAN_JSON
    PRE_APPLY = "pre_apply"  # before the apply, with the plan JSON
    POST_APPLY = "post_apply"  # after a successful apply

    @property
    def planning(self) -> bool:
        return self in (Stage.PRE_PLAN, Stage.POST_PLAN)


_DURATION_SECONDS: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def duration_seconds(duration: str) -> float:
    """Seconds in a duration written as infra.yaml writes them (`30s`, `10m`, `1h`, `500ms`)."""
    match = re.fullmatch(_DURATION, duration)
    if match is None:
        raise ValueError(f"{duration!r} is not a duration such as 30s, 10m or 1h")
    unit = match.group(1)
    return int(duration.removesuffix(unit)) * _DURATION_SECONDS[unit]


class Step(Struct, frozen=True, kw_only=True):
    """A custom step: a command a layer runs at one stage of its plan or apply."""

    name: str
    run: tuple[str, ...] | str
    blocking: bool = True
    timeout: str = "10m"
    shell: bool = False

    @property
    def argv(self) -> tuple[str, ...]:
        """What is executed: `run` itself, or `sh -c RUN` with `shell: true`."""
        return ("sh", "-c", self.run) if isinstance(self.run, str) else self.run

    @property
    def timeout_seconds(self) -> float:
        return duration_seconds(self.timeout)


class Steps(Struct, frozen=True, kw_only=True):
    """Custom steps by stage. They are policy: a pull request's jobs run the default branch's."""

    pre_plan: tuple[Step, ...] = ()
    post_plan: tuple[Step, ...] = ()
    pre_apply: tuple[Step, ...] = ()
    post_apply: tuple[Step, ...] = ()

    def at(self, stage: Stage) -> tuple[Step, ...]:
        steps: tuple[Step, ...] = getattr(self, stage.value)
        return steps


class _Named(Protocol):
    @property
    def name(self) -> str: ...


def check_unique(steps: Sequence[_Named], where: str) -> None:
    names = [step.name for step in steps]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(
            f"{where} has two steps named {repeated[0]!r}; give each step of a stage its own name"
        )


Requirement = Literal["approved", "mergeable"]
_REQUIREMENTS: Final = ("approved", "mergeable")
# The commands a layer's own `permissions` may set: the one that changes what the layer runs.
LAYER_COMMANDS: Final = ("apply",)


class Layer(Struct, frozen=True, kw_only=True):
    """One root module (or Terragrunt unit) of the repository, and how to run it."""

    name: str = ""  # filled from the mapping key
    path: str
    engine: Engine = Engine.TERRAFORM
    order: int
    depends_on: tuple[str, ...] = ()
    watch: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    state_key: str | None = None
    backend_config: dict[str, str] = field(default_factory=dict)
    binary: str | None = None
    auto_apply: bool = True
    autoplan: bool | None = None
    timeout: int = 3600
    lock_timeout: str | None = None
    permissions: dict[str, Role] = field(default_factory=dict)
    apply_requirements: tuple[Requirement, ...] = ()
    codeowners: bool = False
    steps: Steps = field(default_factory=Steps)


class ReviewConfig(Struct, frozen=True, kw_only=True):
    """The LLM review of an applied change: provider, model and token budgets."""

    auto: bool = False
    provider: Literal["anthropic", "openai"] = "anthropic"
    model: str = "claude-sonnet-4-5"
    base_url: str | None = None
    api_key_env: str | None = None
    max_tokens: int = 2048
    budget_tokens: int = 60_000


class DriftConfig(Struct, frozen=True, kw_only=True):
    """What a scheduled drift scan does with drift: apply it or report it."""

    auto_apply: bool = False
    labels: tuple[str, ...] = ("infra-drift",)


class MergeQueueConfig(Struct, frozen=True, kw_only=True):
    """Whether the default branch merges through GitHub's merge queue, and how."""

    enabled: bool = False
    apply_before_merge: bool = False


class PoliciesConfig(Struct, frozen=True, kw_only=True):
    """Rego policies (conftest's conventions) evaluated on each layer's plan."""

    paths: tuple[str, ...] = ("policy/",)
    namespaces: tuple[str, ...] = ("main",)
    approvers: Role = Role.MAINTAIN


class Config(Struct, frozen=True, kw_only=True):
    """infra.yaml, read; each key's meaning is its description in `config_models`."""

    version: Literal[1] = 1
    layers: dict[str, Layer]
    permissions: dict[str, Role] = field(default_factory=dict)
    allow_forks: bool = False
    plan_drafts: bool = False
    autoplan: bool = True
    apply_requirements: tuple[Requirement, ...] = ()
    codeowners: bool = False
    apply_bases: tuple[str, ...] = ()
    bot_login: str = DEFAULT_BOT_LOGIN
    jobs: int = 4
    apply_parallelism: int = 1
    on_failure: OnFailure = OnFailure.STOP
    stale_run_minutes: int = 180
    lock_timeout: str = "0s"
    steps: Steps = field(default_factory=Steps)
    health: dict[str, Probe] = field(default_factory=dict)
    e2e: dict[str, E2ESuite] = field(default_factory=dict)
    after_apply_e2e: str | None = None
    review: ReviewConfig = field(default_factory=ReviewConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    merge_queue: MergeQueueConfig = field(default_factory=MergeQueueConfig)
    policies: PoliciesConfig | None = None

    # Where the file was read from; not part of the YAML.
    root: Path = field(default_factory=Path)
    source: Path | None = None
    # The branch the policy keys (and the `policies` files) were read from, when not this
    # checkout (adapters/base_config.policy_at).
    policy_ref: str | None = None
    # The commit of `policy_ref` they were read at, when read from this checkout's object
    # store (the `policies` files are then read there too, not through the contents API).
    policy_commit: str | None = None

    @property
    def ordered_layers(self) -> list[Layer]:
        return sorted(self.layers.values(), key=lambda layer: layer.order)

    def layer_dir(self, layer: Layer) -> Path:
        return (self.root / layer.path).resolve()

    def role_for(self, command: str) -> Role:
        """The role a commenter needs for `command` (by default: help none, force-unlock admin,
        everything else write)."""
        default = _DEFAULT_ROLES.get(command, Role.WRITE)
        return self.permissions.get(command, default)

    def role_for_layer(self, command: str, layer: str) -> Role:
        """The role needed for `command` on `layer`: the layer's own `permissions`, else
        `role_for`."""
        own = self.layers[layer].permissions.get(command) if layer in self.layers else None
        return own or self.role_for(command)

    def least_role_for(self, command: str) -> Role:
        """The weakest role that may run `command` on some layer: who passes the first gate,
        before each layer's own role is checked."""
        roles = [self.role_for(command)]
        roles += [
            layer.permissions[command]
            for layer in self.layers.values()
            if command in layer.permissions
        ]
        return min(roles, key=lambda role: role.rank)

    def apply_requirements_for(self, layer: str) -> tuple[Requirement, ...]:
        """The top-level `apply_requirements` and the layer's own, each once."""
        own = self.layers[layer].apply_requirements if layer in self.layers else ()
        return tuple(dict.fromkeys((*self.apply_requirements, *own)))

    def codeowners_for(self, layer: str) -> bool:
        """Whether `/apply` of `layer` needs a code owner's approval (global or its own)."""
        return self.codeowners or (layer in self.layers and self.layers[layer].codeowners)

    def autoplan_for(self, layer: Layer) -> bool:
        """Whether a push that touches `layer` plans it: the layer's key, else the global one."""
        return self.autoplan if layer.autoplan is None else layer.autoplan

    def steps_for(self, layer: Layer, stage: Stage) -> tuple[Step, ...]:
        """The steps `layer` runs at `stage`: the top-level ones, then the layer's own."""
        return (*self.steps.at(stage), *layer.steps.at(stage))

    def lock_timeout_for(self, layer: Layer) -> str:
        return layer.lock_timeout or self.lock_timeout

    @property
    def smoke_suite(self) -> str | None:
        """The suite to run after applies: `after_apply_e2e`, else `smoke` when declared."""
        if self.after_apply_e2e:
            return self.after_apply_e2e
        return "smoke" if "smoke" in self.e2e else None


COMMANDS = ("plan", "apply", "health", "e2e", "review", "help", "unlock", "force-unlock")
# Releasing Terraform's state lock by force can let two writers corrupt the state.
_DEFAULT_ROLES = {"help": Role.NONE, "force-unlock": Role.ADMIN}


def find_config(
    start: Path, explicit: str | None = None, env: Mapping[str, str] = os.environ
) -> Path:
    """`--config`, then `$INFRA_CONFIG`, then the nearest infra.yaml walking up from `start`."""
    chosen = explicit or env.get("INFRA_CONFIG")
    if chosen:
        path = Path(chosen).expanduser()
        path = path if path.is_absolute() else start / path  # relative to the command's cwd
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist", "check --config / INFRA_CONFIG")
        return path.resolve()
    here = start.resolve()
    for directory in (here, *here.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_NAME} found in {here} or any parent directory",
        "run `infra init` to create one, or pass --config PATH",
    )


def load_config(path: Path) -> Config:
    """Read and validate `path`; every failure is a ConfigError that names file, key and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}", "check the path") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x}; an editor "
            "may have saved it as UTF-16 or another encoding)",
            "save the file as UTF-8",
        ) from exc
    return parse_config(text, path)


def _read_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """`text`'s node tree (whose marks place each problem at its line) and its data, as
    `yaml.compose` and `yaml.safe_load` give them, from one parse: PyYAML's pure-Python parser
    takes about 2 ms for the 30 lines of examples/homelab/infra.yaml, and every plan paid it
    twice before its first Terraform command. Building the data rewrites a mapping with a
    merge (`<<`) or value (`=`) key inside the node tree, so such a file's data comes from a
    parse of its own (tests/test_config_fast.py compares both ways)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        if _rewritten_by_construction(node):
            return node, yaml.safe_load(text)
        return node, loader.construct_document(node)
    finally:
        loader.dispose()


def _rewritten_by_construction(root: yaml.Node) -> bool:
    """Whether a mapping in `root` has a key that `SafeConstructor.flatten_mapping` rewrites."""
    special = ("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value")
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:  # an alias: the node it names is walked once
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.tag in special:
                    return True
                stack += (key, value)
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value
    return False


def parse_config(text: str, path: Path, *, check_paths: bool = True) -> Config:
    """`text` as the config file at `path`. `check_paths=False` skips checking that each layer's
    directory exists: another commit's copy (the base branch's) may name layers that this
    checkout has removed.

    Every problem is reported at once, in one ConfigError: repeated keys, unknown keys (with
    the nearest known one), wrong values, and layer paths that are absolute, outside the
    repository, missing, or shared by two layers.
    """
    try:
        node, data = _read_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"{path}{where}: YAML syntax error: {problem}",
            "fix the YAML (indentation, quotes, colons) at that line",
        ) from exc
    if not isinstance(data, dict):
        found = (
            "is empty"
            if data is None
            else "holds a list"
            if isinstance(data, list)
            else f"holds only the value {data!r}"
        )
        raise ConfigError(
            f"{path}: {found}; it must be a mapping with `version` and `layers` keys",
            "see `infra config schema`, or run `infra init` to write one",
        )
    unnamed = unnamed_layers(node)
    problems = duplicate_keys(node) + unnamed
    stand_ins: dict[str, str] = {}  # a stand-in name → the key as the user wrote it
    if unnamed and isinstance(data.get("layers"), dict):
        # Reported in the user's words; pydantic would only say "must be text". A stand-in
        # name keeps the rest of the layer checked, and is shown as the user wrote it.
        shown = iter(problem.key for problem in unnamed)
        layers: dict[Any, Any] = {}
        for index, (key, value) in enumerate(data["layers"].items()):
            if key is None or isinstance(key, bool):
                key = stand_in = f"unnamed-{index}"
                stand_ins[f"layers.{stand_in}"] = next(shown, "layers.?")
            layers[key] = value
        data["layers"] = layers
    root, source = path.parent.resolve(), path.resolve()
    config = _plain_config(data, root, source)
    if config is None:
        from pydantic import ValidationError

        from . import config_models
        from .config_problems import validation_problems

        try:
            config = config_models.validate(data, root, source)
        except ValidationError as exc:
            problems += validation_problems(
                exc, node, config_models.FIELDS, config_models.PROBE_KINDS
            )
    problems += path_problems(data.get("layers"), node, root, check_paths=check_paths)
    for index, problem in enumerate(problems):
        head, _, rest = problem.key.partition(".")
        stand_in = f"{head}.{rest.partition('.')[0]}"
        if stand_in in stand_ins:
            key = stand_ins[stand_in] + problem.key[len(stand_in) :]
            line = next(p.line for p in unnamed if p.key == stand_ins[stand_in])
            problems[index] = replace(problem, key=key, line=line)
    if problems:
        raise _config_error(problems, path)
    assert config is not None  # no problem means pydantic accepted it
    return config


def _config_error(problems: list[Problem], path: Path) -> ConfigError:
    problems.sort(key=lambda p: (p.line or 0, p.key))
    if len(problems) == 1:
        return ConfigError(problems[0].shown(path), problems[0].fix)
    lines = [f"{path}: {len(problems)} problems"]
    lines += [f"  {p.shown(path)}\n    → {p.fix}" for p in problems]
    return ConfigError("\n".join(lines), "fix each as it says; every key: `infra config schema`")


def json_schema() -> dict[str, Any]:
    """The JSON Schema of infra.yaml (`infra config schema`)."""
    from .config_models import json_schema

    return json_schema()


class _NotPlain(Exception):
    """The file is not in the shape `_plain_config` reads: pydantic decides."""


def _plain_config(data: Mapping[Any, Any], root: Path, source: Path) -> Config | None:
    """`data` as the records when it is in the common shape and valid, else None (the pydantic
    models then validate it and word its problems). It takes a value only when its type is
    exactly the one the field holds (no coercion), and a file only when the models would
    accept it as it is: the same records either way."""
    try:
        unknown = set(data) - _PLAIN_TOP.keys() - {"version", "layers"}
        if unknown or data.get("version", 1) != 1 or type(data.get("version", 1)) is not int:
            raise _NotPlain
        layers_data = data.get("layers")
        if type(layers_data) is not dict or not layers_data:
            raise _NotPlain
        layers = {_text(name): _plain_layer(name, value) for name, value in layers_data.items()}
        _check_plain_layers(layers)
        top = {key: _PLAIN_TOP[key](data[key]) for key in data if key in _PLAIN_TOP}
        if set(top.get("permissions", ())) - set(COMMANDS):
            raise _NotPlain
        return Config(layers=layers, root=root, source=source, **top)
    except _NotPlain:
        return None


def _plain_layer(name: str, data: Any) -> Layer:
    if (
        type(data) is not dict
        or set(data) - _PLAIN_LAYER.keys()
        or not {"path", "order"} <= set(data)
    ):
        raise _NotPlain
    fields = {key: _PLAIN_LAYER[key](value) for key, value in data.items()}
    if set(fields.get("permissions", ())) - set(LAYER_COMMANDS):
        raise _NotPlain
    return Layer(name=name, **fields)


def _check_plain_layers(layers: dict[str, Layer]) -> None:
    """What `Config`'s model checks across layers; any doubt is pydantic's to word."""
    orders = [layer.order for layer in layers.values()]
    if len(set(orders)) != len(orders):
        raise _NotPlain
    for name, layer in layers.items():
        if name == "all" or not re.match(_LAYER_NAME, name):
            raise _NotPlain
        if any(dep not in layers for dep in layer.depends_on):
            raise _NotPlain
    if strongly_connected({name: layer.depends_on for name, layer in layers.items()}):
        raise _NotPlain


def _text(value: Any) -> str:
    if type(value) is not str:
        raise _NotPlain
    return value


def _some_text(value: Any) -> str:
    text = _text(value)
    if not text:
        raise _NotPlain
    return text


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _flag(value: Any) -> bool:
    if type(value) is not bool:
        raise _NotPlain
    return value


def _optional_flag(value: Any) -> bool | None:
    return None if value is None else _flag(value)


def _number(low: int | None = None, high: int | None = None) -> Any:
    """An int (never a bool) within [low, high]; pydantic's bounds are the same ones."""

    def read(value: Any) -> int:
        if type(value) is not int or not -(2**63) <= value < 2**63:
            raise _NotPlain
        if (low is not None and value < low) or (high is not None and value > high):
            raise _NotPlain
        return value

    return read


def _texts(value: Any) -> tuple[str, ...]:
    if type(value) is not list:
        raise _NotPlain
    return tuple(_text(member) for member in value)


def _text_map(value: Any) -> dict[str, str]:
    if type(value) is not dict:
        raise _NotPlain
    return {_text(key): _text(member) for key, member in value.items()}


def _roles(value: Any) -> dict[str, Role]:
    if type(value) is not dict:
        raise _NotPlain
    return {_text(key): _choice(Role)(member) for key, member in value.items()}


def _choice(kind: Any) -> Any:
    def read(value: Any) -> Any:
        if type(value) is not str or value not in kind._value2member_map_:
            raise _NotPlain
        return kind(value)

    return read


def _requirements(value: Any) -> tuple[Requirement, ...]:
    words = _texts(value)
    if any(word not in _REQUIREMENTS for word in words):
        raise _NotPlain
    return words  # type: ignore[return-value]  # each one checked above


def _duration(value: Any) -> str:
    if type(value) is not str or re.fullmatch(_DURATION, value) is None:
        raise _NotPlain
    return value


def _optional_duration(value: Any) -> str | None:
    return None if value is None else _duration(value)


# The keys `_plain_config` reads and how; any other key (steps, health, e2e, review, ...)
# sends the file to the pydantic models.
_PLAIN_LAYER: Final = {
    "path": _text,
    "engine": _choice(Engine),
    "order": _number(),
    "depends_on": _texts,
    "watch": _texts,
    "env": _text_map,
    "state_key": _optional_text,
    "backend_config": _text_map,
    "binary": _optional_text,
    "auto_apply": _flag,
    "autoplan": _optional_flag,
    "timeout": _number(low=1),
    "lock_timeout": _optional_duration,
    "permissions": _roles,
    "apply_requirements": _requirements,
    "codeowners": _flag,
}
_PLAIN_TOP: Final = {
    "permissions": _roles,
    "allow_forks": _flag,
    "plan_drafts": _flag,
    "autoplan": _flag,
    "apply_requirements": _requirements,
    "codeowners": _flag,
    "apply_bases": _texts,
    "bot_login": _some_text,
    "jobs": _number(low=1, high=64),
    "apply_parallelism": _number(low=1, high=64),
    "on_failure": _choice(OnFailure),
    "stale_run_minutes": _number(low=1),
    "lock_timeout": _duration,
}
