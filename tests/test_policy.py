"""Policy from the base branch: a pull request cannot lower the bar for its own `/apply` by
editing `infra.yaml`, while the layers it plans are the ones its own `infra.yaml` describes."""

from __future__ import annotations

from pathlib import Path

from infra_pipeline.config import Config, parse_config
from infra_pipeline.core.policy import merge_policy

BASE = """
version: 1
layers:
  network: {path: network, order: 1, auto_apply: false}
  apps:    {path: apps,    order: 2}
permissions: {apply: maintain}
apply_requirements: [approved]
"""


def _config(root: Path, text: str) -> Config:
    for name in ("network", "apps", "dns"):
        (root / name).mkdir(exist_ok=True)
    return parse_config(text, root / "infra.yaml")


def _everywhere(layer: object) -> bool:
    return True


# -- the rule -------------------------------------------------------------------------------------


def test_the_base_decides_the_policy_keys_and_auto_apply(tmp_path: Path) -> None:
    base = _config(tmp_path, BASE)
    head = _config(
        tmp_path,
        BASE.replace("maintain", "read")
        .replace("[approved]", "[]")
        .replace("auto_apply: false", "auto_apply: true")
        + "allow_forks: true\nplan_drafts: true\n",
    )

    merged = merge_policy(head, base, present=_everywhere)

    assert merged.config.role_for("apply").value == "maintain"
    assert merged.config.apply_requirements == ("approved",)
    assert merged.config.allow_forks is False and merged.config.plan_drafts is False
    assert merged.config.layers["network"].auto_apply is False
    assert len(merged.notes) == 5  # four keys and one layer, each said in the log


def test_layers_paths_and_engines_come_from_the_head(tmp_path: Path) -> None:
    base = _config(tmp_path, BASE)
    head = _config(
        tmp_path,
        BASE.replace(
            "{path: apps,    order: 2}",
            "{path: dns, order: 2, engine: tofu}\n  edge: {path: dns, order: 3}",
        ),
    )

    merged = merge_policy(head, base, present=_everywhere)

    assert [layer.name for layer in merged.config.ordered_layers] == ["network", "apps", "edge"]
    apps = merged.config.layers["apps"]
    assert (apps.path, apps.engine.value) == ("dns", "tofu")
    assert merged.config.root == head.root
    assert "layer `edge` is new in this pull request" in merged.notes


def test_a_layer_the_pull_request_unlists_stays_while_its_directory_does(tmp_path: Path) -> None:
    base = _config(tmp_path, BASE)
    head = _config(tmp_path, BASE.replace("  apps:    {path: apps,    order: 2}\n", ""))

    kept = merge_policy(head, base, present=_everywhere)
    gone = merge_policy(head, base, present=lambda layer: False)

    assert list(kept.config.layers) == ["network", "apps"]
    assert "stays until its removal is merged" in " ".join(kept.notes)
    assert list(gone.config.layers) == ["network"]


def test_without_a_base_copy_the_head_policy_stands_and_says_so(tmp_path: Path) -> None:
    head = _config(tmp_path, BASE.replace("maintain", "read"))

    merged = merge_policy(head, None, present=_everywhere)

    assert merged.config is head
    assert "first adoption" in merged.notes[0]
