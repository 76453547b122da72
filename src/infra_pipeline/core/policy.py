"""Which `infra.yaml` a pull request's jobs obey: the policy from the base commit, the layers'
code from the head.

A PR job runs with the PR's head checked out, so the `infra.yaml` there is the PR author's
copy. Anyone with write access could lower the bar for their own `/apply` in it (`permissions:
{apply: read}`, `apply_requirements: []`, `allow_forks: true`). So the keys that decide who may
do what come from the base commit, where a change to them was reviewed and merged, and take
effect only once merged. What describes the code being planned (layer paths, engines, `watch`
globs, suites, probes) comes from the head: a PR may add a layer and plan it.

`merge_policy` is the pure rule; `adapters/base_config.policy_at_base` fetches the base's copy
through the contents API and applies it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..config import Config, Layer

# Top-level keys taken from the base commit.
POLICY_KEYS: Final = (
    "permissions",
    "allow_forks",
    "apply_requirements",
    "plan_drafts",
    "bot_login",
)


@dataclass(frozen=True)
class Policy:
    config: Config  # the head's config with the base's policy in it
    notes: tuple[str, ...]  # where the head's copy was overruled, for the job log


def merge_policy(head: Config, base: Config | None, *, present: Callable[[Layer], bool]) -> Policy:
    """`head` with the policy of `base`: the `POLICY_KEYS`, and per layer its existence and
    `auto_apply`. A layer new in the head is kept (the PR adds it); a layer the head drops stays
    while `present(layer)` says its directory is still in the checkout, so a PR cannot take code
    out of the pipeline's sight by unlisting it (once the directory is gone there is nothing
    left to plan). Without a base copy (the PR that adopts infra-pipeline) the head's policy
    stands."""
    if base is None:
        first = "no infra.yaml at the base commit (first adoption): this pull request's is used"
        return Policy(head, (first,))
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
            layers[name] = layer
            continue
        if layer.auto_apply != reviewed.auto_apply:
            notes.append(f"`layers.{name}.auto_apply` from the base branch")
        layers[name] = layer.model_copy(update={"auto_apply": reviewed.auto_apply})
    for name, layer in base.layers.items():
        if name in head.layers:
            continue
        if present(layer):
            notes.append(f"layer `{name}` stays until its removal is merged")
            layers[name] = layer
        else:
            notes.append(f"layer `{name}` and its directory are removed by this pull request")
    policy = {key: getattr(base, key) for key in POLICY_KEYS}
    # model_copy does not validate: a layer kept from the base may share an `order` with a
    # layer the head added, which only makes their relative order the config's.
    return Policy(head.model_copy(update={**policy, "layers": layers}), tuple(notes))
