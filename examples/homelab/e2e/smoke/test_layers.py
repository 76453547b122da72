"""After an apply, every layer's state holds its resources and the outputs it declares."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest


def read_state(layer_dir: Path) -> dict[str, Any]:
    path = layer_dir / "terraform.tfstate"
    if not path.is_file():
        pytest.fail(f"{path} does not exist: has this layer been applied?")
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def test_state_has_resources(layer: str, layer_dir: Path) -> None:
    state = read_state(layer_dir)
    assert state["version"] == 4
    managed = [r for r in state["resources"] if r["mode"] == "managed"]
    assert managed, f"{layer}: no managed resources in its state"
    assert all(r["instances"] for r in managed), f"{layer}: resources without instances"


def test_nothing_is_tainted(layer: str, layer_dir: Path) -> None:
    state = read_state(layer_dir)
    tainted = [
        f"{r.get('module', '')}{r['type']}.{r['name']}"
        for r in state["resources"]
        for instance in r["instances"]
        if instance.get("status") == "tainted"
    ]
    assert not tainted, f"{layer}: tainted resources {tainted}"


def test_declared_outputs_are_in_state(layer: str, layer_dir: Path) -> None:
    declared = {
        name
        for tf in layer_dir.glob("*.tf")
        for name in re.findall(r'^output\s+"([^"]+)"', tf.read_text(), flags=re.MULTILINE)
    }
    outputs = read_state(layer_dir).get("outputs", {})
    missing = sorted(declared - set(outputs))
    assert not missing, f"{layer}: outputs missing from state: {missing}"
