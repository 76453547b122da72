"""Atlantis custom workflows and workflow hooks as infra `steps` (pure).

A workflow's `plan` and `apply` stages list built-in steps (`init`, `plan`, `show`, `apply`)
and the team's own (`run`, `env`, `multienv`). infra runs the built-ins itself; each `run`
becomes a step at `pre_plan`/`post_plan` or `pre_apply`/`post_apply` by where it stands
relative to the stage's own `plan` (or `apply`): a `run` of the engine with that subcommand
(`terragrunt plan -out $PLANFILE`) counts as the built-in. Atlantis runs a `run` command with
`sh -c` (or its `shell`/`shellArgs`), so it becomes a `shell: true` step (or the argv of that
shell); the variables Atlantis sets that infra has are mapped onto infra's (`$PLANFILE` is
`$INFRA_PLANFILE`), and the others are named in the report.

Workflow hooks (server-side `repos.yaml`) run once per pull request in the repository root;
they become top-level steps (`pre_plan`, `post_apply`) that `cd "$INFRA_ROOT"` first.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from msgspec import Struct, field

from .migration_notes import REPOSITORY, Notes

ENGINES = ("terragrunt", "terraform", "tofu")
# Atlantis's run-step variables that infra's steps have under another name.
_MAPPED = {
    "PLANFILE": "INFRA_PLANFILE",
    "SHOWFILE": "INFRA_PLAN_JSON",
    "DIR": "INFRA_LAYER_DIR",
    "PULL_NUM": "INFRA_PR",
    "HEAD_COMMIT": "INFRA_SHA",
    "PROJECT_NAME": "INFRA_LAYER",
}
# ... and those infra does not set (the job's GITHUB_* variables hold some of them).
_UNSET = (
    "ATLANTIS_TERRAFORM_VERSION",
    "BASE_REPO_NAME",
    "BASE_REPO_OWNER",
    "HEAD_REPO_NAME",
    "HEAD_REPO_OWNER",
    "HEAD_BRANCH_NAME",
    "BASE_BRANCH_NAME",
    "PULL_URL",
    "PULL_AUTHOR",
    "USER_NAME",
    "COMMENT_ARGS",
    "OUTPUT_STATUS_FILE",
    "POLICYCHECKFILE",
)
_BUILT_IN = "infra runs init, plan, show and apply itself"
Step = dict[str, Any]


def _uses(command: str, variable: str) -> bool:
    return re.search(r"\$(\{)?" + variable + r"\b", command) is not None


class Layer(Struct):
    """What a workflow's steps need to know of the project, and what they add to its layer."""

    label: str  # the project, for the report
    dir: str
    workspace: str
    terragrunt: bool
    env: dict[str, str]
    steps: dict[str, list[Step]] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)  # from policy_check extra_args


def workflow(layer: Layer, name: str, body: Mapping[str, Any], notes: Notes) -> None:
    """Carry workflow `name` of `layer`'s project into `layer` (its steps, env, engine)."""
    for stage, content in body.items():
        steps = content.get("steps") if isinstance(content, Mapping) else None
        steps = steps if isinstance(steps, list) else []
        where = f"workflow {name}, {stage}"
        if stage in ("plan", "apply"):
            _stage(layer, str(stage), where, steps, notes)
        elif stage == "policy_check":
            _policy_check(layer, where, steps, notes)
        elif stage == "import":
            notes.lost(layer.label, where, "no import command: use `import` blocks")
        elif stage == "state_rm":
            notes.lost(layer.label, where, "no state command: use `removed` blocks")
        else:
            notes.lost(layer.label, where, "not an Atlantis workflow stage infra knows")


def _kind(step: Any) -> tuple[str, Any]:
    if isinstance(step, Mapping) and len(step) == 1:
        kind, body = next(iter(step.items()))
        return str(kind), body
    return str(step), None


def _is_main(step: Any, stage: str) -> bool:
    """Whether `step` is the stage's own plan (or apply): the built-in, or the engine run with
    that subcommand."""
    kind, body = _kind(step)
    if kind == stage:
        return True
    if kind != "run":
        return False
    words = _words(_command(body))
    return bool(words) and words[0] in ENGINES and stage in words[1:]


def _stage(layer: Layer, stage: str, where: str, steps: list[Any], notes: Notes) -> None:
    main = next((i for i, step in enumerate(steps) if _is_main(step, stage)), None)
    built_ins: list[str] = []
    after_init = False
    for index, step in enumerate(steps):
        kind, body = _kind(step)
        position = "pre" if main is None or index < main else "post"
        if kind in ("init", "plan", "apply", "show"):
            after_init = after_init or kind == "init"
            _built_in(layer, where, kind, body, notes, built_ins)
        elif kind == "run":
            command = _command(body)
            words = _words(command)
            if words and words[0] in ENGINES:
                layer.terragrunt = layer.terragrunt or words[0] == "terragrunt"
                built_ins.append(command)
                continue
            target = f"{position}_{stage}"
            added = _run_step(layer, where, body, notes)
            added["name"] = unique(_name(command), [s["name"] for s in layer.steps.get(target, [])])
            layer.steps.setdefault(target, []).append(added)
            outcome = f"a `{target}` step `{added['name']}`"
            if main is None:
                outcome += (
                    f" (this workflow has no `{stage}` of its own; infra runs its {stage} after "
                    "the pre steps: check that the command does not also do it)"
                )
            elif position == "pre" and after_init and stage == "plan":
                outcome += " (infra runs pre_plan steps before init, Atlantis ran it after)"
            notes.same(layer.label, f"{where}: run {command}", outcome)
        elif kind == "env":
            _env(layer, where, body, notes)
        elif kind == "multienv":
            notes.lost(
                layer.label,
                f"{where}: multienv {_command(body)}",
                "its output set variables for the engine at run time: infra's steps cannot; "
                "set them in the `infra event` step's env in ci.yml",
            )
        else:
            notes.lost(layer.label, f"{where}: {kind}", "not an Atlantis step infra knows")
    if built_ins:
        notes.same(layer.label, f"{where}: {', '.join(built_ins)}", _BUILT_IN)


def _built_in(
    layer: Layer, where: str, kind: str, body: Any, notes: Notes, built_ins: list[str]
) -> None:
    args = body.get("extra_args") if isinstance(body, Mapping) else None
    if not args or kind == "show":
        built_ins.append(kind)
        return
    joined = " ".join(shlex.quote(str(a)) for a in args)
    if kind == "apply":
        notes.lost(
            layer.label,
            f"{where}: apply {joined}",
            "infra applies the reviewed planfile, which takes no extra arguments",
        )
        return
    variable = f"TF_CLI_ARGS_{kind}"
    layer.env[variable] = " ".join(filter(None, [layer.env.get(variable), joined]))
    notes.same(layer.label, f"{where}: {kind} {joined}", f"{variable} in the layer's `env`")


def _env(layer: Layer, where: str, body: Any, notes: Notes) -> None:
    if not isinstance(body, Mapping):
        notes.lost(layer.label, f"{where}: env", "an env step needs `name` and `value`")
    elif body.get("name") == "TERRAGRUNT_TFPATH":
        return  # points terragrunt at Atlantis's terraform: infra needs none
    elif "value" in body:
        layer.env[str(body.get("name"))] = str(body["value"])
        notes.same(layer.label, f"{where}: env {body.get('name')}", "the layer's `env`")
    else:
        notes.lost(
            layer.label,
            f"{where}: env {body.get('name')}",
            "computed at run time: set it in the `infra event` step's env in ci.yml, or "
            "compute it in the configuration",
        )


def _policy_check(layer: Layer, where: str, steps: list[Any], notes: Notes) -> None:
    """conftest's `--namespace` flags become `policies.namespaces`; the rest is infra's own
    evaluation of the Rego (`policies`, from the server config)."""
    built_ins: list[str] = []
    for step in steps:
        kind, body = _kind(step)
        args = body.get("extra_args") if isinstance(body, Mapping) else None
        words = [w for a in args or [] for w in shlex.split(str(a))]
        for index, word in enumerate(words):
            if word in ("-n", "--namespace") and index + 1 < len(words):
                layer.namespaces.append(words[index + 1])
            elif word.startswith("--namespace="):
                layer.namespaces.append(word.split("=", 1)[1])
        if kind == "env":
            _env(layer, where, body, notes)
        elif kind == "run":
            notes.lost(
                layer.label,
                f"{where}: run {_command(body)}",
                "infra evaluates the `policies` Rego on the plan JSON alone and runs no "
                "command in the policy check: a policy that reads this command's output "
                "cannot be carried",
            )
        else:
            built_ins.append(" ".join([kind, *map(str, args or [])]))
    if built_ins:
        notes.same(
            layer.label,
            f"{where}: {', '.join(built_ins)}",
            "infra evaluates the `policies` Rego on each plan itself (conftest's conventions); "
            "a `--namespace` becomes `policies.namespaces`",
        )


def _command(body: Any) -> str:
    if isinstance(body, Mapping):
        return str(body.get("command") or "")
    return "" if body is None else str(body)


def _words(command: str) -> list[str]:
    """The command's words after any `VAR=value` prefixes."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        words.pop(0)
    return words


def _run_step(layer: Layer, where: str, body: Any, notes: Notes) -> Step:
    command = _command(body)
    statics = {"WORKSPACE": layer.workspace, "REPO_REL_DIR": layer.dir}
    return _shell_step(_variables(command, statics, layer.label, f"{where}: run", notes), body)


def _variables(
    command: str, statics: Mapping[str, str], subject: str, where: str, notes: Notes
) -> str:
    """`command` with the Atlantis variables it reads set from infra's (`$PLANFILE` from
    `$INFRA_PLANFILE`) or to what the migration knows (`$WORKSPACE`); those infra has no
    value for are named in the report."""
    prefix = [f'{v}="${infra}"' for v, infra in _MAPPED.items() if _uses(command, v)]
    prefix += [f"{v}={shlex.quote(value)}" for v, value in statics.items() if _uses(command, v)]
    unset = [v for v in _UNSET if _uses(command, v)]
    if unset:
        notes.lost(
            subject,
            f"{where} {command}",
            f"infra does not set {', '.join('$' + v for v in unset)}: the step runs with them "
            "empty (GITHUB_* variables hold the repository, branch and actor)",
        )
    return f"export {' '.join(prefix)}; {command}" if prefix else command


def _shell_step(command: str, body: Any) -> Step:
    """`sh -c COMMAND` as Atlantis runs it: `shell: true`, or the argv of another shell."""
    shell = str(body.get("shell") or "sh") if isinstance(body, Mapping) else "sh"
    given = body.get("shellArgs") if isinstance(body, Mapping) else None
    # Atlantis splits a string on spaces and takes a list as it is (raw/step.go).
    if isinstance(given, list):
        args = [str(arg) for arg in given]
    else:
        args = [arg for arg in str(given or "-c").split(" ") if arg]
    if shell == "sh" and args == ["-c"]:
        return {"name": "", "run": command, "shell": True}
    return {"name": "", "run": [shell, *args, command]}


def _name(command: str) -> str:
    words = _words(command)
    first = posixpath.basename(words[0]) if words else "step"
    return (first or "step")[:60]


def unique(name: str, taken: Sequence[str]) -> str:
    found, count = name, 1
    while found in taken:
        count += 1
        found = f"{name}-{count}"
    return found


def hooks(
    kind: str,
    raw: Any,
    steps: dict[str, list[Step]],
    notes: Notes,
    locate: Callable[[str], str | None],
) -> None:
    """Server-side `pre_workflow_hooks` / `post_workflow_hooks` as top-level steps."""
    for hook in raw if isinstance(raw, list) else []:
        if not isinstance(hook, Mapping) or not hook.get("run"):
            notes.lost(REPOSITORY, f"{kind}_workflow_hooks", "a hook without `run`; skipped")
            continue
        command = str(hook["run"])
        only = {c.strip() for c in str(hook.get("commands") or "").split(",") if c.strip()}
        if kind == "pre":
            stage = "pre_apply" if only == {"apply"} else "pre_plan"
        else:
            stage = "post_plan" if only == {"plan"} else "post_apply"
        words = _words(command)
        moved = ""
        if words and words[0].startswith("/"):
            found = locate(words[0])
            if found is not None:
                command = command.replace(words[0], f'"$INFRA_ROOT"/{shlex.quote(found)}', 1)
                moved = f"; `{words[0]}` is the repository's `{found}`"
            else:
                notes.lost(
                    REPOSITORY,
                    f"{kind}_workflow_hooks: {hook['run']}",
                    f"`{words[0]}` is a path on the Atlantis server: commit the script to the "
                    "repository and point the step at it",
                )
        command = _variables(command, {}, REPOSITORY, f"{kind}_workflow_hooks:", notes)
        step = _shell_step(f'cd "$INFRA_ROOT" && {command}', hook)
        name = str(hook.get("description") or f"{kind}-workflow-hook")[:60]
        step["name"] = unique(name, [s["name"] for s in steps.get(stage, [])])
        steps.setdefault(stage, []).append(step)
        notes.same(
            REPOSITORY,
            f"{kind}_workflow_hooks: {hook['run']}",
            f"a top-level `{stage}` step `{step['name']}`, run in the repository root for each "
            f"layer (Atlantis ran it once per {'command' if only else 'pull request event'})"
            + moved,
        )
