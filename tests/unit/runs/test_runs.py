"""The run state machine (pure)."""

from __future__ import annotations

import itertools

import pytest

from bot.runs.model import ACTIVE, TRANSITIONS, Run, State, allowed, sources_of


def test_happy_path_is_allowed() -> None:
    path = [State.PLANNING, State.AWAITING_APPROVAL, State.APPROVED, State.IMPLEMENTING, State.TESTING,
            State.PR_OPEN]
    for current, target in itertools.pairwise(path):
        assert allowed(current, target), (current, target)


@pytest.mark.parametrize(("current", "target"), [
    (State.PLANNING, State.APPROVED),
    (State.CANCELLED, State.PLANNING),
    (State.AWAITING_APPROVAL, State.PR_OPEN),
    (State.PR_OPEN, State.CANCELLED),
])
def test_illegal_moves_are_refused(current: State, target: State) -> None:
    assert not allowed(current, target)


def test_every_active_state_can_be_cancelled_and_failed() -> None:
    for state in ACTIVE:
        assert allowed(state, State.CANCELLED)
        assert allowed(state, State.FAILED)
    assert TRANSITIONS[State.CANCELLED] == frozenset()


def test_sources_of_inverts_the_table() -> None:
    assert set(sources_of(State.APPROVED)) == {State.AWAITING_APPROVAL, State.FAILED}


def test_run_roundtrips_through_a_redis_hash() -> None:
    run = Run(id="r1", repo="o/r", issue=3, installation_id=9, state=State.FAILED, plan_version=2,
              revise_notes=["shorter", "add | pipes\nand lines"], created_at=1.5)
    again = Run.from_hash(run.to_hash())
    assert again == run
