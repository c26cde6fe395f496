"""Candidates: several Coder attempts at one plan, judged by the tests; a passing one is published.

Real git, Redis, RQ, sandbox and the sample repository's pytest suite (the reproduction phase on, as by
default); the model is scripted. `candidates` comes from the repository's `.github/issuesmith.yml`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.runs.model import State
from standins.openai import Reply
from tests.integration.test_agent_stops import failure_notice
from tests.integration.test_coder_tests import FINISH, WRONG_FIX, branch_file, run_tests
from tests.integration.test_reproduction import FAILING, NOTHING_ADDED, REPRO, WROTE, create
from tests.world import APPROVE, CODER, FIX, REPO, REVIEWER, TESTER, World, make_world


def events(world: World, run_id: str, event: str) -> list[dict]:
    return [e for e in world.services.store.entries(run_id) if e["event"] == event]


@pytest.fixture
def two_candidates(tmp_path: Path, redis_url: str, app_keys: tuple[str, str]) -> Iterator[World]:
    """A world whose repository asks for two Coder attempts."""
    w = make_world(tmp_path, redis_url, app_keys, reproduce=True, candidate_temperature=0.7)
    try:
        w.github.push_commit(REPO, "main", {".github/issuesmith.yml": "candidates: 2\n"}, by="alice")
        yield w
        assert not w.contract_problems()
    finally:
        w.close()


FIRST, SECOND = (CODER, "attempt 1 of 2"), (CODER, "attempt 2 of 2")  # the two attempts work at once


def requests_with(world: World, text: str) -> list[dict]:
    return [r for r in world.openai.requests if any(text in str(m.get("content")) for m in r["messages"])]


def script_reproduction(world: World) -> None:
    world.openai.script(Reply.tool_calls([create(FAILING)]), WROTE, NOTHING_ADDED, match=TESTER)
    world.openai.script(Reply.json(APPROVE), match=REVIEWER)


def test_of_two_candidates_the_one_that_breaks_a_passing_test_is_dropped_and_the_other_published(
        two_candidates: World) -> None:
    world = two_candidates
    script_reproduction(world)
    # attempt 1 splits on two spaces: the reproduction passes, but "one two three" counts 1 (a regression)
    world.openai.script(Reply.tool_calls([WRONG_FIX, run_tests(REPRO)]), Reply.tool_calls([FINISH]), match=FIRST)
    world.openai.script(Reply.tool_calls([FIX, run_tests(REPRO)]), Reply.tool_calls([FINISH]), match=SECOND)
    run_id = world.plan_and_approve()

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN, world.services.store.entries(run_id)[-5:]
    first, second = sorted(events(world, run_id, "candidate"), key=lambda e: e["index"])  # as each ended
    assert (first["kept"], second["kept"]) == (False, True)
    assert "the tests fail where the base branch passes" in first["why"]
    [chosen] = events(world, run_id, "candidate_chosen")
    assert (chosen["index"], chosen["tried"]) == (2, 2)
    # the first attempt is greedy, the second sampled at the deployment's candidate temperature
    assert {r["temperature"] for r in requests_with(world, FIRST[1])} == {0.0}
    assert {r["temperature"] for r in requests_with(world, SECOND[1])} == {0.7}
    [pull] = world.github.pulls(REPO)
    assert not pull.draft
    assert "### Candidates\n2 Coder attempts were made (2 asked, 2 at a time), each judged by the tests:" in pull.body
    assert "- Attempt 1 (greedy, 2 changed lines): not kept: the tests fail where the base branch passes" in pull.body
    assert "- Attempt 2 (sampled, 2 changed lines): kept: the tests pass" in pull.body
    assert "1 of 2 attempts passed the tests; no two attempts made the same change: attempt 2 is used" in pull.body
    assert "return len(text.split())" in branch_file(world, pull.head, "textstats/__init__.py")
    assert branch_file(world, pull.head, REPRO) == FAILING  # the reproduction test goes with the chosen change


def test_an_attempt_that_gives_up_is_recorded_and_the_next_one_is_published(two_candidates: World) -> None:
    world = two_candidates
    script_reproduction(world)
    world.openai.script(Reply.tool_calls([("give_up", {"reason": "I cannot find where words are counted."})]),
                        match=FIRST)
    world.openai.script(Reply.tool_calls([FIX, run_tests(REPRO)]), Reply.tool_calls([FINISH]), match=SECOND)
    run_id = world.plan_and_approve()

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN, world.services.store.entries(run_id)[-5:]
    [pull] = world.github.pulls(REPO)
    assert "- Attempt 1 (greedy, 0 changed lines): failed: " in pull.body
    assert "I cannot find where words are counted." in pull.body
    assert "1 of 2 attempts passed the tests" in pull.body and "attempt 2 is used" in pull.body


def test_when_every_attempt_gives_up_the_run_fails_with_the_first_reason(two_candidates: World) -> None:
    world = two_candidates
    world.openai.script(Reply.tool_calls([create(FAILING)]), WROTE, match=TESTER)
    world.openai.script(Reply.tool_calls([("give_up", {"reason": "The plan names the wrong module."})]), match=FIRST)
    world.openai.script(Reply.tool_calls([("give_up", {"reason": "Still the wrong module."})]), match=SECOND)
    world.plan_and_approve()

    run = world.run()
    assert run is not None and run.state == State.FAILED and run.failed_step == "code"
    notice = failure_notice(world, "code")
    assert "the Coder gave up: “The plan names the wrong module." in notice
    assert not world.github.pulls(REPO)
