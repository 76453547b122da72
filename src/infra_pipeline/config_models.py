"""The pydantic models of `infra.yaml`: what validates a file that the plain reader in `config`
does not take whole, what words its problems, and what `infra config schema` prints.

`config` holds the typed records the rest of the code reads; these models have the same
classes, fields and defaults (tests/test_config_fast.py pins that) and are imported only when
a file needs them: pydantic and the models' build were most of `infra`'s start before its
first Terraform command. `validate` turns a valid file into the records.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from msgspec import Struct
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from . import config as records
from . import config_checks
from .config import (
    _DURATION,
    _LAYER_NAME,
    _NAMESPACE,
    _STEP_NAME,
    COMMANDS,
    DEFAULT_BOT_LOGIN,
    LAYER_COMMANDS,
    Engine,
    OnFailure,
    Requirement,
    Role,
    Stage,
    check_unique,
)
from .config_problems import model_fields, nearest
from .digraph import describe_cycles, strongly_connected


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Strict):
    name: str = Field(
        pattern=_STEP_NAME,
        max_length=64,
        description="Shown on the dashboard; unique per stage. Letters, digits, spaces and "
        "`_ . : / -`.",
    )
    run: tuple[str, ...] | str = Field(
        description="The command as a list of arguments, run without a shell (`$VAR`, `|`, "
        "`*` reach it literally); with `shell: true`, one string run by `sh -c`."
    )
    blocking: bool = Field(
        default=True,
        description="A failure stops the layer (`false`: the failure is shown, nothing stops).",
    )
    timeout: str = Field(
        default="10m", pattern=_DURATION, description="How long the step may run (e.g. `30s`)."
    )
    shell: bool = Field(
        default=False, description="Run `run` (one string) through `sh -c` instead of as argv."
    )

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout_shape(cls, value: Any) -> Any:
        if not (isinstance(value, str) and re.fullmatch(_DURATION, value)):
            raise ValueError("`timeout` is a duration such as 30s, 10m or 1h")
        return value

    @field_validator("run", mode="before")
    @classmethod
    def _run_shape(cls, value: Any) -> Any:
        # One message instead of one per member of the union.
        words = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        if not (isinstance(value, str) or words):
            raise ValueError(
                "`run` is a list of arguments, e.g. [tflint, --format, compact] "
                "(or one string with `shell: true`)"
            )
        return value

    @model_validator(mode="after")
    def _run_matches_shell(self) -> Step:
        if self.shell and not isinstance(self.run, str):
            raise ValueError(
                f"step {self.name!r} has `shell: true`, so `run` is one string run by `sh -c`, "
                'e.g. run: "tflint --format compact | tee tflint.txt"'
            )
        if not self.shell and isinstance(self.run, str):
            raise ValueError(
                f"step {self.name!r}: `run` is a list of arguments run without a shell, e.g. "
                "run: [tflint, --format, compact]; to run a shell command line write "
                "`shell: true` and keep `run` one string"
            )
        if not self.run or (isinstance(self.run, tuple) and not self.run[0]):
            raise ValueError(f"step {self.name!r}: `run` is empty; give the command to run")
        return self


class Steps(_Strict):
    """Custom steps by stage. They are policy: a pull request's jobs run the default branch's."""

    pre_plan: tuple[Step, ...] = Field(default=(), description="Before init and plan.")
    post_plan: tuple[Step, ...] = Field(
        default=(), description="After the plan; `$INFRA_PLAN_JSON` holds its JSON."
    )
    pre_apply: tuple[Step, ...] = Field(
        default=(), description="Before the apply; `$INFRA_PLAN_JSON` holds the plan's JSON."
    )
    post_apply: tuple[Step, ...] = Field(
        default=(), description="After a successful apply (the change is already made)."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> Steps:
        for stage in Stage:
            check_unique(getattr(self, stage.value), stage.value)
        return self


class Layer(_Strict):
    name: str = ""  # filled from the mapping key
    path: str = Field(description="Directory of the layer's root module, relative to infra.yaml.")
    engine: Engine = Field(default=Engine.TERRAFORM)
    order: int = Field(
        description="Unique. Breaks ties between layers free to apply; when no layer declares "
        "`depends_on` (or a Terragrunt dependency), each layer depends on the one before it."
    )
    depends_on: tuple[str, ...] = Field(
        default=(),
        description="Layers applied before this one. Terragrunt `dependency` and "
        "`dependencies` blocks between layers are added automatically.",
    )
    watch: tuple[str, ...] = Field(
        default=(), description="Extra globs (`**` crosses directories) that touch the layer."
    )
    env: dict[str, str] = Field(default_factory=dict, description="Extra engine environment.")
    state_key: str | None = Field(
        default=None,
        description="Where the layer's state lives in its backend: -backend-config=key=… (s3, "
        "azurerm), prefix=… (gcs), schema_name=… (pg).",
    )
    backend_config: dict[str, str] = Field(
        default_factory=dict, description="More -backend-config pairs; values may use ${ENV}."
    )
    binary: str | None = Field(default=None, description="Engine binary to use for this layer.")
    auto_apply: bool = Field(default=True, description="Apply drift after merge (false: report).")
    autoplan: bool | None = Field(
        default=None,
        description="Plan this layer when a pull request's push touches it; `false`: only on "
        "`/plan` (CI Validate still runs). Overrides the top-level `autoplan`.",
    )
    timeout: int = Field(default=3600, gt=0, description="Seconds any engine call may take.")
    lock_timeout: str | None = Field(
        default=None,
        pattern=_DURATION,
        description="How long plan/apply wait for a held state lock (e.g. `5m`); overrides the "
        "top-level `lock_timeout`.",
    )
    permissions: dict[str, Role] = Field(
        default_factory=dict,
        description="Role needed to `/apply` this layer, overriding the top-level `permissions` "
        "(e.g. `{apply: admin}`). Read from the default branch, like the top-level key.",
    )
    apply_requirements: tuple[Requirement, ...] = Field(
        default=(),
        description="Requirements (`approved`, `mergeable`) added to the top-level "
        "`apply_requirements` for this layer. Read from the default branch.",
    )
    codeowners: bool = Field(
        default=False,
        description="`/apply` of this layer needs an approval of the head commit by a code owner "
        "of its directory (CODEOWNERS read from the pull request's base commit). Adds to the "
        "top-level `codeowners`; read from the default branch.",
    )

    steps: Steps = Field(
        default_factory=Steps,
        description="Custom steps for this layer, run after the top-level `steps` of the same "
        "stage. Read from the default branch, like the top-level key.",
    )

    @field_validator("permissions")
    @classmethod
    def _layer_commands(cls, value: dict[str, Role]) -> dict[str, Role]:
        unknown = sorted(set(value) - set(LAYER_COMMANDS))
        if unknown:
            raise ValueError(
                f"a layer's permissions cover {', '.join(LAYER_COMMANDS)}, not {unknown[0]!r}; "
                "other commands take the top-level `permissions`"
            )
        return value


class HttpProbe(_Strict):
    http: str
    expect_status: int = 200
    contains: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=5, gt=0)
    retries: int = Field(default=2, ge=0)


class TcpProbe(_Strict):
    tcp: str = Field(description="host:port")
    timeout: float = Field(default=3, gt=0)
    retries: int = Field(default=2, ge=0)


class DnsProbe(_Strict):
    dns: str
    timeout: float = Field(default=3, gt=0)
    retries: int = Field(default=2, ge=0)


class KubeSpec(_Strict):
    kubeconfig: str = "~/.kube/config"
    context: str | None = None


class KubernetesProbe(_Strict):
    kubernetes: KubeSpec
    timeout: float = Field(default=5, gt=0)
    retries: int = Field(default=2, ge=0)


class CommandProbe(_Strict):
    command: tuple[str, ...] = Field(min_length=1)
    timeout: float = Field(default=30, gt=0)
    retries: int = Field(default=0, ge=0)


PROBE_KINDS = ("http", "tcp", "dns", "kubernetes", "command")


def _probe_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return next(k for k in PROBE_KINDS if hasattr(value, k))
    if isinstance(value, Mapping):
        return next((k for k in PROBE_KINDS if k in value), None)
    return None


# The probe's kind is the one key among http/tcp/dns/kubernetes/command that it has.
Probe = Annotated[
    Annotated[HttpProbe, Tag("http")]
    | Annotated[TcpProbe, Tag("tcp")]
    | Annotated[DnsProbe, Tag("dns")]
    | Annotated[KubernetesProbe, Tag("kubernetes")]
    | Annotated[CommandProbe, Tag("command")],
    Discriminator(
        _probe_kind,
        custom_error_type="probe_kind",
        custom_error_message="a probe needs one of the keys http, tcp, dns, kubernetes, command",
    ),
]


class E2ESuite(_Strict):
    command: tuple[str, ...] = Field(min_length=1)
    timeout: int = Field(default=600, gt=0)
    junit: str | None = Field(default=None, description="JUnit XML report the suite writes.")
    cwd: str | None = Field(default=None, description="Working directory, relative to infra.yaml.")
    env: dict[str, str] = Field(default_factory=dict)


class ReviewConfig(_Strict):
    auto: bool = Field(default=False, description="Review automatically after a successful apply.")
    provider: Literal["anthropic", "openai"] = "anthropic"
    model: str = "claude-sonnet-4-5"
    base_url: str | None = None
    api_key_env: str | None = Field(
        default=None, description="Env var holding the key (default per provider)."
    )
    max_tokens: int = Field(default=2048, gt=0)
    budget_tokens: int = Field(default=60_000, gt=0, description="Input budget for diff + plans.")


class DriftConfig(_Strict):
    auto_apply: bool = Field(default=False, description="Apply drift found by scheduled scans.")
    labels: tuple[str, ...] = ("infra-drift",)


class MergeQueueConfig(_Strict):
    enabled: bool = Field(
        default=False,
        description="The default branch merges through GitHub's merge queue: `/apply` on a pull "
        "request is refused unless `apply_before_merge`, and the push the queue makes applies.",
    )
    apply_before_merge: bool = Field(
        default=False,
        description="Apply from pull requests before they join the queue; the merge group's "
        "`infra/apply` then fails while a touched layer still has changes to apply.",
    )


class PoliciesConfig(_Strict):
    """Rego policies (conftest's conventions) evaluated on each layer's plan."""

    paths: tuple[str, ...] = Field(
        default=("policy/",),
        min_length=1,
        description="Directories (or `.rego` files) relative to infra.yaml, read from the "
        "default branch: a pull request cannot change the policies its own plan is held to.",
    )
    namespaces: tuple[str, ...] = Field(
        default=("main",),
        min_length=1,
        description="Rego packages whose `deny`, `violation` (fail) and `warn` (annotate) "
        "rules are evaluated, as conftest's `--namespace`.",
    )
    approvers: Role = Field(
        default=Role.MAINTAIN,
        description="Role needed to comment `/approve_policies`, which lets `/apply` go ahead "
        "on a commit whose plan failed a policy.",
    )

    @field_validator("paths")
    @classmethod
    def _relative(cls, paths: tuple[str, ...]) -> tuple[str, ...]:
        for path in paths:
            if not path.strip() or Path(path).is_absolute() or ".." in Path(path).parts:
                raise ValueError(
                    f"policy path {path!r} must be relative to infra.yaml and stay inside the "
                    "repository (no leading / and no ..)"
                )
        return paths

    @field_validator("namespaces")
    @classmethod
    def _packages(cls, namespaces: tuple[str, ...]) -> tuple[str, ...]:
        for namespace in namespaces:
            if not re.match(_NAMESPACE, namespace):
                raise ValueError(
                    f"namespace {namespace!r} is not a Rego package name (letters, digits and _ "
                    "in parts joined by dots, e.g. `main` or `terraform.aws`)"
                )
        return namespaces


class Config(_Strict):
    version: Literal[1] = 1
    layers: dict[str, Layer] = Field(min_length=1)
    permissions: dict[str, Role] = Field(
        default_factory=dict, description="Role needed per command, e.g. {apply: maintain}."
    )
    allow_forks: bool = False
    plan_drafts: bool = Field(default=False, description="Plan draft PRs automatically.")
    autoplan: bool = Field(
        default=True,
        description="Plan the layers a pull request's push touches; `false`: pull requests get "
        "CI Validate and the dashboard, and each layer is planned only on `/plan` (a layer's "
        "own `autoplan` wins). `watch` still decides which layers are touched.",
    )
    apply_requirements: tuple[Requirement, ...] = ()
    codeowners: bool = Field(
        default=False,
        description="`/apply` of each layer needs an approval of the head commit by a code owner "
        "of the layer's directory: the last matching line of CODEOWNERS (.github/, the root "
        "or docs/) at the pull request's base commit; @org/team owners are resolved through "
        "GitHub's teams API, emails cannot be checked.",
    )
    apply_bases: tuple[str, ...] = Field(
        default=(),
        description="Base branches besides the default branch whose pull requests may "
        "`/apply` (e.g. a long-lived `release` branch); others are refused.",
    )
    bot_login: str = Field(
        default=DEFAULT_BOT_LOGIN,
        min_length=1,
        description="The login the pipeline's token posts as; only its dashboards are read. "
        "Set it when the workflow uses a GitHub App's token, e.g. `my-infra-app[bot]`.",
    )
    jobs: int = Field(default=4, ge=1, le=64, description="Layers planned at once.")
    apply_parallelism: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Layers applied at once, each after everything it depends on "
        "(1: one at a time).",
    )
    on_failure: OnFailure = Field(
        default=OnFailure.STOP,
        description="When an apply fails: `stop` starts nothing else; `skip_dependents` skips "
        "only the layers that depend on the failed one and goes on with the rest.",
    )
    stale_run_minutes: int = Field(default=180, gt=0)
    lock_timeout: str = Field(
        default="0s",
        pattern=_DURATION,
        description="Terraform's -lock-timeout for every plan and apply (e.g. `5m`): a job waits "
        "this long for another job's state lock instead of failing at once.",
    )
    steps: Steps = Field(
        default_factory=Steps,
        description="Custom steps every layer runs at `pre_plan`, `post_plan`, `pre_apply` and "
        "`post_apply` (tflint, checkov, infracost, ...), before the layer's own. For pull "
        "requests they are read from the default branch.",
    )
    health: dict[str, Probe] = Field(default_factory=dict)
    e2e: dict[str, E2ESuite] = Field(default_factory=dict)
    after_apply_e2e: str | None = Field(default=None, description="Suite run after applies.")
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    merge_queue: MergeQueueConfig = Field(default_factory=MergeQueueConfig)
    policies: PoliciesConfig | None = Field(
        default=None,
        description="Policy as code: Rego files evaluated on every layer's plan; a failure "
        "blocks `/apply` until `/approve_policies`. Read from the default branch.",
    )

    # Where the file was read from; not part of the YAML.
    root: Path = Field(default=Path(), exclude=True)
    source: Path | None = Field(default=None, exclude=True)
    # The branch the policy keys (and the `policies` files) were read from, when not this
    # checkout (adapters/base_config.policy_at).
    policy_ref: str | None = Field(default=None, exclude=True)
    policy_commit: str | None = Field(default=None, exclude=True)  # see config.Config

    @field_validator("layers", mode="before")
    @classmethod
    def _name_layers(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            # `1:` is the layer the user calls "1" (null and boolean keys: `unnamed_layers`).
            names = {k: str(k) if isinstance(k, int | float) else k for k in value}
            return {
                names[k]: ({**v, "name": names[k]} if isinstance(v, Mapping) else v)
                for k, v in value.items()
            }
        return value

    @field_validator("permissions")
    @classmethod
    def _known_commands(cls, value: dict[str, Role]) -> dict[str, Role]:
        unknown = sorted(set(value) - set(COMMANDS))
        if unknown:
            near = nearest(unknown[0], COMMANDS)
            hint = f"did you mean {near!r}? " if near else ""
            raise ValueError(
                f"unknown command {unknown[0]!r}; {hint}commands are {', '.join(COMMANDS)}"
            )
        return value

    @field_validator("layers")
    @classmethod
    def _check_layers(cls, layers: dict[str, Layer]) -> dict[str, Layer]:
        seen: dict[int, str] = {}
        wrong: list[str] = []  # all of them, in one message
        for name, layer in layers.items():
            if name == "all":
                wrong.append("a layer cannot be called 'all' (it means every layer)")
            elif not re.match(_LAYER_NAME, name):
                wrong.append(f"layer name {name!r}: use lowercase letters, digits, - _ .")
            if layer.order in seen:
                wrong.append(
                    f"layers {seen[layer.order]!r} and {name!r} share order {layer.order}; "
                    "give each layer a unique order"
                )
            seen.setdefault(layer.order, name)
            for dep in layer.depends_on:
                if dep not in layers:
                    near = nearest(dep, layers)
                    hint = f"; did you mean {near!r}?" if near else ""
                    wrong.append(f"{name}.depends_on names {dep!r}, which is not a layer{hint}")
        cycles = strongly_connected({name: layer.depends_on for name, layer in layers.items()})
        if cycles:
            wrong.append(f"depends_on makes {describe_cycles(cycles)}")
        if wrong:
            raise ValueError("; ".join(wrong))
        return layers

    @model_validator(mode="after")
    def _check(self) -> Config:
        for layer in self.layers.values():
            for stage in Stage:
                check_unique(
                    (*getattr(self.steps, stage.value), *getattr(layer.steps, stage.value)),
                    f"layers.{layer.name}.steps.{stage.value} (with the top-level ones)",
                )
        if self.after_apply_e2e is not None and self.after_apply_e2e not in self.e2e:
            near = nearest(self.after_apply_e2e, self.e2e)
            hint = f"; did you mean {near!r}?" if near else ""
            raise ValueError(
                f"after_apply_e2e names {self.after_apply_e2e!r}, not an e2e suite{hint}"
            )
        return self


def validate(data: Mapping[str, Any], root: Path, source: Path) -> records.Config:
    """`data` (a parsed infra.yaml) as the typed records; pydantic's ValidationError when it
    is not valid."""
    model = Config.model_validate(
        {**data, "root": root, "source": source, "policy_ref": None, "policy_commit": None}
    )
    record: records.Config = _record(model)
    return record


def _record(value: Any) -> Any:
    """A validated model as the record class of the same name, members converted likewise."""
    if isinstance(value, BaseModel):
        name = type(value).__name__
        kind = getattr(records, name, None) or getattr(config_checks, name)
        fields = {name: _record(getattr(value, name)) for name in kind.__struct_fields__}
        if isinstance(value, KubeSpec) and "kubeconfig" not in value.model_fields_set:
            fields["kubeconfig"] = None  # the record's "not set": $KUBECONFIG may decide
        return kind(**fields)
    if isinstance(value, dict):
        return {key: _record(member) for key, member in value.items()}
    if isinstance(value, tuple):
        return tuple(_record(member) for member in value)
    return value


def dump(config: records.Config) -> dict[str, Any]:
    """`config` as `infra config` prints it: every key with its value, in JSON types."""
    model = Config.model_validate(_data(config))
    return model.model_dump(mode="json", exclude_defaults=False)


def _data(value: Any) -> Any:
    """A record as the mapping it was read from (None for "not set" leaves the default)."""
    if isinstance(value, Struct):
        return {
            name: _data(getattr(value, name))
            for name in value.__struct_fields__
            if getattr(value, name) is not None
        }
    if isinstance(value, dict):
        return {key: _data(member) for key, member in value.items()}
    if isinstance(value, tuple):
        return tuple(_data(member) for member in value)
    return value


_HIDDEN = ("name", "root", "source", "policy_ref", "policy_commit")
FIELDS: dict[str, list[str]] = {
    "": model_fields(Config, _HIDDEN),
    "layers.*": model_fields(Layer, _HIDDEN),
    "health.*": sorted(
        {
            f
            for m in (HttpProbe, TcpProbe, DnsProbe, KubernetesProbe, CommandProbe)
            for f in m.model_fields
        }
    ),
    "health.*.kubernetes": model_fields(KubeSpec),
    "e2e.*": model_fields(E2ESuite),
    "steps": model_fields(Steps),
    "layers.*.steps": model_fields(Steps),
    **{f"steps.{stage}.*": model_fields(Step) for stage in Stage},
    **{f"layers.*.steps.{stage}.*": model_fields(Step) for stage in Stage},
    "review": model_fields(ReviewConfig),
    "drift": model_fields(DriftConfig),
    "merge_queue": model_fields(MergeQueueConfig),
    "policies": model_fields(PoliciesConfig),
}


def json_schema() -> dict[str, Any]:
    schema = Config.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "infra.yaml"
    schema.get("properties", {}).pop("root", None)
    schema.get("properties", {}).pop("source", None)
    schema.get("properties", {}).pop("policy_ref", None)
    schema.get("properties", {}).pop("policy_commit", None)
    return schema
