"""Every state × event pair of the commit state machine against a table written out by hand."""

from __future__ import annotations

import pytest

from infra_pipeline.core.dashboard.state_machine import Event, State, allowed_events, transition
from infra_pipeline.errors import InfraError

S, E = State, Event

# The spec's arrows, then the extra ones the module documents. Written out here on purpose (not
# derived from the module) so a changed arrow shows up as a failing test.
EXPECTED: dict[tuple[State, Event], State] = {
    # spec
    (S.CREATED, E.CI_STARTED): S.CI_RUNNING,
    (S.CI_RUNNING, E.CI_PASSED): S.CI_PASSED,
    (S.CI_RUNNING, E.CI_FAILED): S.CI_FAILED,
    (S.CI_PASSED, E.PLAN_STARTED): S.PLAN_RUNNING,
    (S.PLAN_RUNNING, E.PLAN_NO_CHANGES): S.PLAN_READY,
    (S.PLAN_RUNNING, E.PLAN_CHANGES): S.PLAN_DIFF,
    (S.PLAN_RUNNING, E.PLAN_FAILED): S.PLAN_FAILED,
    (S.PLAN_DIFF, E.PLAN_REVIEWED): S.APPLY_WAITING,
    (S.APPLY_WAITING, E.APPLY_STARTED): S.APPLY_RUNNING,
    (S.APPLY_RUNNING, E.APPLY_SUCCEEDED): S.APPLY_DONE,
    (S.APPLY_RUNNING, E.APPLY_FAILED): S.APPLY_FAILED,
    (S.APPLY_DONE, E.REVIEW_STARTED): S.REVIEW_RUNNING,
    (S.REVIEW_RUNNING, E.REVIEW_PASSED): S.READY_MERGE,
    (S.PLAN_READY, E.NOTHING_TO_APPLY): S.READY_MERGE,
    # re-plan on the same commit
    (S.PLAN_READY, E.PLAN_STARTED): S.PLAN_RUNNING,
    (S.PLAN_DIFF, E.PLAN_STARTED): S.PLAN_RUNNING,
    (S.PLAN_FAILED, E.PLAN_STARTED): S.PLAN_RUNNING,
    (S.APPLY_FAILED, E.PLAN_STARTED): S.PLAN_RUNNING,
    (S.APPLY_DONE, E.PLAN_STARTED): S.PLAN_RUNNING,
    (S.APPLY_WAITING, E.PLAN_STARTED): S.PLAN_RUNNING,
    (S.READY_MERGE, E.PLAN_STARTED): S.PLAN_RUNNING,
    # retry an apply (the next layer's apply starts from Apply_Waiting, a spec arrow)
    (S.APPLY_FAILED, E.APPLY_STARTED): S.APPLY_RUNNING,
    # review skipped
    (S.REVIEW_RUNNING, E.REVIEW_SKIPPED): S.READY_MERGE,
    # re-run the workflow from any idle state
    (S.CI_PASSED, E.CI_STARTED): S.CI_RUNNING,
    (S.CI_FAILED, E.CI_STARTED): S.CI_RUNNING,
    (S.PLAN_READY, E.CI_STARTED): S.CI_RUNNING,
    (S.PLAN_DIFF, E.CI_STARTED): S.CI_RUNNING,
    (S.PLAN_FAILED, E.CI_STARTED): S.CI_RUNNING,
    (S.APPLY_WAITING, E.CI_STARTED): S.CI_RUNNING,
    (S.APPLY_DONE, E.CI_STARTED): S.CI_RUNNING,
    (S.APPLY_FAILED, E.CI_STARTED): S.CI_RUNNING,
    (S.READY_MERGE, E.CI_STARTED): S.CI_RUNNING,
}

PAIRS = [(state, event) for state in State for event in Event]


@pytest.mark.parametrize(("state", "event"), PAIRS, ids=[f"{s}-{e}" for s, e in PAIRS])
def test_every_pair(state: State, event: Event) -> None:
    expected = EXPECTED.get((state, event))
    if expected is not None:
        assert transition(state, event) is expected
        return
    with pytest.raises(InfraError) as raised:
        transition(state, event)
    message = str(raised.value)
    assert str(state) in message
    assert str(event) in message
    for allowed in allowed_events(state):
        assert str(allowed) in message


def test_allowed_events_match_the_table() -> None:
    for state in State:
        assert set(allowed_events(state)) == {e for (s, e) in EXPECTED if s is state}


def test_running_states_refuse_to_start_anything_else() -> None:
    # A second job must not start CI, a plan or an apply while one is in flight.
    for running in (S.CI_RUNNING, S.PLAN_RUNNING, S.APPLY_RUNNING, S.REVIEW_RUNNING):
        for start in (E.CI_STARTED, E.PLAN_STARTED, E.APPLY_STARTED):
            assert (running, start) not in EXPECTED


def test_refusal_message_names_state_allowed_events_and_a_hint() -> None:
    with pytest.raises(InfraError) as raised:
        transition(S.PLAN_RUNNING, E.APPLY_STARTED)
    assert raised.value.message == (
        "cannot handle apply_started while the commit is in state Plan_Running "
        "(allowed events: plan_no_changes, plan_changes, plan_failed)"
    )
    assert "wait" in raised.value.hint


def test_every_state_is_reachable_from_created() -> None:
    seen, frontier = {S.CREATED}, [S.CREATED]
    while frontier:
        state = frontier.pop()
        for event in allowed_events(state):
            nxt = transition(state, event)
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(State)
