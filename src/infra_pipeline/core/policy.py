"""Which `infra.yaml` a pull request's jobs obey: the policy from the default branch, the
layers' code from the head.

A PR job runs with the PR's head checked out, so the `infra.yaml` there is the PR author's
copy. Anyone with write access could lower the bar for their own `/apply` in it (`permissions:
{apply: read}`, `apply_requirements: []`, `allow_forks: true`). So the keys that decide who may
do what come from the default branch (not the PR's base, which a writer can point at a branch
of their own), where a change to them was reviewed and merged, and take effect only once
merged. What describes the code being planned (layer paths, engines, `watch`
globs, suites, probes) comes from the head: a PR may add a layer and plan it.

`merge_policy` is the pure rule; `adapters/base_config.policy_at` fetches the default branch's
copy through the contents API and applies it.

Before `infra.yaml` is on the default branch (the PR that adopts infra-pipeline) there is no
reviewed policy, and the PR's own must not decide its bar: the built-in policy applies, made
stricter by anything the PR asks for, and `/apply` and `/unlock` need `admin`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from msgspec import Struct
from msgspec.structs import replace

from ..config import DEFAULT_BOT_LOGIN, Config, Layer, Role, Steps

# Top-level keys taken from the base commit.
POLICY_KEYS: Final = (
    "permissions",
    "allow_forks",
    "apply_requirements",
    "codeowners",
    "plan_drafts",
    "bot_login",
    "apply_bases",
    "merge_queue",
    "policies",  # the settings; the Rego files are read from the same commit (flows/policy_check)
    "steps",  # commands run with the apply's credentials
)
# Per-layer keys taken from the base commit's copy of the layer.
LAYER_POLICY_KEYS: Final = (
    "auto_apply",
    "permissions",
    "apply_requirements",
    "codeowners",
    "steps",
)
# What the PR that adopts infra-pipeline needs for the commands that change live state.
FIRST_ADOPTION_ROLE: Final = Role.ADMIN


class Policy(Struct, frozen=True):
    config: Config  # the head's config with the base's policy in it
    notes: tuple[str, ...]  # where the head's copy was overruled, for the job log


def merge_policy(head: Config, base: Config | None, *, present: Callable[[Layer], bool]) -> Policy:
    """`head` with the policy of `base`: the `POLICY_KEYS`, and per layer its existence and
    the `LAYER_POLICY_KEYS`. A layer new in the head is kept (the PR adds it), its own
    `permissions` only where they ask more than the base's; a layer the head drops stays
    while `present(layer)` says its directory is still in the checkout, so a PR cannot take code
    out of the pipeline's sight by unlisting it (once the directory is gone there is nothing
    left to plan). Without a base copy (the PR that adopts infra-pipeline) see
    `first_adoption`."""
    if base is None:
        return first_adoption(head)
    notes = [
        f"`{key}` from the base branch; this pull request's change to it applies once merged"
        for key in POLICY_KEYS
        if getattr(head, key) != getattr(base, key)
    ]
    layers: dict[str, Layer] = {}
    for name, layer in head.layers.items():
        reviewed = base.layers.get(name)
        if reviewed is None:
            notes.append(f"layer `{name}` is new in this pull request")
            if layer.steps != Steps():
                notes.append(f"`layers.{name}.steps` run once this pull request is merged")
            layers[name] = raised(layer, base)
            continue
        for key in LAYER_POLICY_KEYS:
            if getattr(layer, key) != getattr(reviewed, key):
                notes.append(f"`layers.{name}.{key}` from the base branch")
        kept = {key: getattr(reviewed, key) for key in LAYER_POLICY_KEYS}
        layers[name] = replace(layer, **kept)
    for name, layer in base.layers.items():
        if name in head.layers:
            continue
        if present(layer):
            notes.append(f"layer `{name}` stays until its removal is merged")
            layers[name] = layer
        else:
            notes.append(f"layer `{name}` and its directory are removed by this pull request")
    policy = {key: getattr(base, key) for key in POLICY_KEYS}
    # replace does not validate: a layer kept from the base may share an `order` with a
    # layer the head added, which only makes their relative order the config's.
    return Policy(replace(head, **policy, layers=layers), tuple(notes))


def first_adoption(head: Config) -> Policy:
    """The policy of a PR when the default branch has no `infra.yaml`: the built-in defaults,
    raised (never lowered) by the PR's own keys, with `/apply` and `/unlock` at `admin`."""
    defaults = replace(head, permissions={})  # role_for's built-in roles
    permissions = {}
    for command in ("plan", "apply", "health", "e2e", "review", "unlock", "help"):
        wanted = max(defaults.role_for(command), head.role_for(command), key=lambda r: r.rank)
        if command in ("apply", "unlock"):
            wanted = max(wanted, FIRST_ADOPTION_ROLE, key=lambda r: r.rank)
        permissions[command] = wanted
    policy: dict[str, Any] = {
        "permissions": permissions,
        "allow_forks": False,
        "plan_drafts": False,
        "apply_requirements": head.apply_requirements,  # the PR may only add requirements
        "codeowners": head.codeowners,  # likewise: it can only be switched on
        "bot_login": DEFAULT_BOT_LOGIN,
        "apply_bases": (),
        # No reviewed policies yet: the PR's own may only add failures, never approve them away.
        "policies": head.policies and replace(head.policies, approvers=FIRST_ADOPTION_ROLE),
        "steps": Steps(),
    }
    adopted = replace(head, **policy)
    layers = {name: raised(layer, adopted) for name, layer in head.layers.items()}
    note = (
        "no infra.yaml on the default branch (first adoption): the built-in policy applies, "
        f"`/apply` and `/unlock` need `{FIRST_ADOPTION_ROLE}` and no custom step runs, until "
        "infra.yaml is merged"
    )
    return Policy(replace(adopted, layers=layers), (note,))


def raised(layer: Layer, floor: Config) -> Layer:
    """`layer` as a pull request wrote it, whose own `permissions` no reviewed copy vouches
    for: each kept only where it asks at least what `floor` (the reviewed policy) asks. Its
    `apply_requirements` only add to the top-level ones, so they stay; its `steps` are dropped
    (they run once merged)."""
    permissions = {
        command: max(role, floor.role_for(command), key=lambda r: r.rank)
        for command, role in layer.permissions.items()
    }
    # Steps run commands with the job's credentials: only a reviewed copy may add them.
    return replace(layer, permissions=permissions, steps=Steps())
