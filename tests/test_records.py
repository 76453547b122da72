"""What the records' `__repr__`, `__eq__` and `lean` keep out, now that records are msgspec
Structs (which have no per-field `repr=False` or `compare=False`)."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from msgspec import Struct, field

from infra_pipeline.adapters.actions_env import ActionsEnv, ApiAccess
from infra_pipeline.adapters.kubeconfig import KubeTarget
from infra_pipeline.adapters.pg_locks import PgState
from infra_pipeline.models import LayerRun, Outcome, PlanCounts, PlanResult
from infra_pipeline.records import lean

SECRET = "s3cr3t-value-that-must-not-show"


def plan(document: dict[str, object] | None) -> PlanResult:
    return PlanResult(
        layer="app",
        counts=PlanCounts(add=1),
        resource_changes=(),
        output_changes=(),
        drift=(),
        diagnostics=(),
        fingerprint="f",
        text="+ x",
        document=document,
    )


@pytest.mark.parametrize(
    "record",
    [
        ApiAccess(SECRET, "o/r", ""),
        ActionsEnv.from_env({"GITHUB_TOKEN": SECRET, "GITHUB_REPOSITORY": "o/r"}),
        KubeTarget("https://k", token=SECRET, client_cert_pem=SECRET, client_key_pem=SECRET),
        PgState("postgres://db/x", env={"PGPASSWORD": SECRET}),
        plan({"planned_values": {"password": SECRET}}),
        LayerRun("app", Outcome.FAILED, log=f"Error: {SECRET}"),
    ],
    ids=lambda record: type(record).__name__,
)
def test_a_records_repr_never_shows_its_secrets(record: Struct) -> None:
    shown = repr(record)
    assert SECRET not in shown
    assert shown.startswith(f"{type(record).__name__}(")
    assert str(record) == shown  # what an f-string or a traceback's locals would print


def test_actions_env_keeps_the_secrets_it_hides() -> None:
    env = ActionsEnv.from_env({"GITHUB_TOKEN": SECRET})
    assert SECRET in env.secrets


def test_a_plans_document_is_not_part_of_its_equality() -> None:
    assert plan({"a": 1}) == plan(None)
    assert hash(plan({"a": 1})) == hash(plan(None))
    assert plan(None) != msgspec.structs.replace(plan(None), text="- x")
    assert plan(None) != "not a plan"


def test_where_pg_state_lives_is_its_equality_not_its_environment() -> None:
    one = PgState("postgres://db/x", env={"PGUSER": "a"})
    assert one == PgState("postgres://db/x", env={"PGUSER": "b"})
    assert one != PgState("postgres://db/y", env={"PGUSER": "a"})
    assert len({one, PgState("postgres://db/x")}) == 1


class Inner(Struct, frozen=True):
    kind: str = "plain"
    tags: tuple[str, ...] = ()


class Outer(Struct, frozen=True):
    name: str
    inner: Inner = Inner()
    items: list[Inner] = field(default_factory=list)
    when: datetime | None = None


def test_lean_leaves_out_every_field_at_its_default_at_any_depth() -> None:
    assert lean(Outer("x")) == {"name": "x"}
    value = Outer(
        "x",
        inner=Inner(tags=("a",)),
        items=[Inner(), Inner(kind="odd")],
        when=datetime(2026, 12, 1, 2, 30, tzinfo=UTC),
    )
    assert lean(value) == {
        "name": "x",
        "inner": {"tags": ["a"]},
        "items": [{}, {"kind": "odd"}],
        "when": "2026-12-01T02:30:00Z",
    }
    assert msgspec.convert(lean(value), Outer) == value
