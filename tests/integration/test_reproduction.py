"""Reproduction first: the Tester writes a test that must fail on the base tree before the Coder starts.

Real git, Redis, RQ, sandbox and the sample repository's pytest suite; the model is scripted.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.runs.model import State
from standins.openai import Reply
from tests.integration.test_coder_tests import FINISH, branch_file, events, requests_of, run_tests, tool_results
from tests.world import (
    APPROVE,
    CODER,
    FIX,
    REPO,
    REVIEWER,
    SAMPLE_PLAN,
    TESTER,
    World,
    make_world,
)

REPRO = "tests/test_issue.py"
FAILING = 'from textstats import word_count\n\n\ndef test_tabs_and_spaces():\n    assert word_count("a  b") == 2\n'
PASSING = 'from textstats import word_count\n\n\ndef test_tabs_and_spaces():\n    assert word_count("a b") == 2\n'
WROTE = Reply.json({"summary": "A test of the issue.", "tests_added": ["test_tabs_and_spaces"]})
NOTHING_ADDED = Reply.json({"summary": "The reproduction covers it.", "tests_added": []})
TEST_ID = f"{REPRO}::test_tabs_and_spaces"


@pytest.fixture
def repro_world(tmp_path: Path, redis_url: str, app_keys: tuple[str, str]) -> Iterator[World]:
    """A world with the reproduction phase on (ISSUESMITH_REPRODUCE=1)."""
    w = make_world(tmp_path, redis_url, app_keys, reproduce=True)
    try:
        yield w
        assert not w.contract_problems()
    finally:
        w.close()


def create(content: str) -> tuple[str, dict[str, Any]]:
    return ("create_file", {"path": REPRO, "content": content})


def test_the_reproduction_fails_on_base_the_coder_is_held_to_it_and_the_pull_request_names_it(
        repro_world: World) -> None:
    world = repro_world
    world.openai.script(Reply.tool_calls([create(FAILING)]), WROTE, NOTHING_ADDED, match=TESTER)
    world.openai.script(Reply.tool_calls([FIX]), Reply.tool_calls([FINISH]), Reply.tool_calls([run_tests(REPRO)]),
                        Reply.tool_calls([FINISH]), match=CODER)
    world.openai.script(Reply.json(APPROVE), match=REVIEWER)
    run_id = world.plan_and_approve()

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN, world.services.store.entries(run_id)[-5:]
    [on_base] = events(world, run_id, "reproduction")
    assert (on_base["passed"], on_base["failed"], on_base["errors"]) == (0, 1, 0)
    [found] = events(world, run_id, "reproduced")
    assert (found["attempt"], found["tests"], found["paths"]) == (1, [TEST_ID], [REPRO])
    coder_request = requests_of(world, CODER)[-1]
    assert TEST_ID in coder_request["messages"][1]["content"]  # the Coder is told which test reproduces the issue
    _, refused, ran = tool_results(coder_request)
    assert refused.startswith("Not a valid CoderReport: not finished: the tests that reproduce the issue")
    assert f"Reproduction tests ({TEST_ID}): passing now." in ran
    [judged] = events(world, run_id, "tests")
    assert judged["ok"] and judged["already_failing"] == 0
    [pull] = world.github.pulls(REPO)
    assert f"`{TEST_ID}`: failed on `main` before the change; passes with it." in pull.body
    assert branch_file(world, pull.head, REPRO) == FAILING


def test_a_reproduction_that_passes_on_base_is_rejected_with_the_output_and_the_second_try_is_taken(
        repro_world: World) -> None:
    world = repro_world
    world.openai.script(Reply.tool_calls([create(PASSING)]), WROTE,
                        Reply.tool_calls([("write_file", {"path": REPRO, "content": FAILING})]), WROTE,
                        NOTHING_ADDED, match=TESTER)
    world.openai.script(Reply.tool_calls([FIX, run_tests("")]), Reply.tool_calls([FINISH]), match=CODER)
    world.openai.script(Reply.json(APPROVE), match=REVIEWER)
    run_id = world.plan_and_approve()

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN, world.services.store.entries(run_id)[-5:]
    [rejected] = events(world, run_id, "reproduction_rejected")
    assert rejected["attempt"] == 1 and "every test passed on the base tree" in rejected["reason"]
    second = requests_of(world, TESTER)[2]["messages"][1]["content"]
    assert "Your last try was rejected" in second and "1 passed" in second and "Output (end)" in second
    assert [(e["attempt"], e["tests"]) for e in events(world, run_id, "reproduced")] == [(2, [TEST_ID])]
    assert [(e["passed"], e["failed"]) for e in events(world, run_id, "reproduction")] == [(1, 0), (0, 1)]
    [pull] = world.github.pulls(REPO)
    assert f"`{TEST_ID}`: failed on `main` before the change; passes with it." in pull.body


def test_a_reproduction_never_failing_on_base_is_skipped_with_its_reason_and_the_run_goes_on(
        repro_world: World) -> None:
    world = repro_world
    world.openai.script(Reply.tool_calls([create(PASSING)]), WROTE, WROTE, NOTHING_ADDED, match=TESTER)
    world.openai.script(Reply.tool_calls([FIX]), Reply.tool_calls([FINISH]), match=CODER)
    world.openai.script(Reply.json(APPROVE), match=REVIEWER)
    run_id = world.plan_and_approve()

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN, world.services.store.entries(run_id)[-5:]
    assert [e["attempt"] for e in events(world, run_id, "reproduction_rejected")] == [1, 2]
    [skipped] = events(world, run_id, "reproduction_skipped")
    assert skipped["reason"] == "no test failed on the base tree after 2 tries"
    assert not events(world, run_id, "reproduced")
    [pull] = world.github.pulls(REPO)
    assert "### Reproduction" not in pull.body
    with pytest.raises(subprocess.CalledProcessError):  # the rejected test is not pushed
        branch_file(world, pull.head, REPRO)


def add_to_the_suite(test: str) -> tuple[str, dict[str, Any]]:
    """The Tester adds `test` to the sample's own test file, whose test of repeated spaces already fails on main."""
    return ("replace_text", {"path": "tests/test_textstats.py", "old_text": "def test_longest_word():",
                             "new_text": f"{test}\n\n\ndef test_longest_word():"})


NEW_FAILING = 'def test_tabs():\n    assert word_count("a\\tb") == 2'
NEW_PASSING = 'def test_one_word():\n    assert word_count("a") == 1'


def test_a_test_already_failing_on_base_in_the_file_the_tester_edits_is_no_reproduction(
        repro_world: World) -> None:
    world = repro_world
    world.openai.script(Reply.tool_calls([add_to_the_suite(NEW_PASSING)]), WROTE,
                        Reply.tool_calls([add_to_the_suite(NEW_FAILING)]), WROTE, NOTHING_ADDED, match=TESTER)
    world.openai.script(Reply.tool_calls([FIX, run_tests("tests/test_textstats.py")]), Reply.tool_calls([FINISH]),
                        match=CODER)
    world.openai.script(Reply.json(APPROVE), match=REVIEWER)
    run_id = world.plan_and_approve()

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN, world.services.store.entries(run_id)[-5:]
    # the first try only shows the old failure: rejected, and the Tester is told why
    [rejected] = events(world, run_id, "reproduction_rejected")
    assert rejected["reason"].startswith("every test that failed (1) fails on main without your tests too")
    second_try = [r for r in requests_of(world, TESTER) if "reproduces the issue" in r["messages"][0]["content"]][-1]
    assert "none of them reproduces this issue" in second_try["messages"][1]["content"]
    # the second try adds a failing test: only it is the reproduction, the old failure stays already failing
    [found] = events(world, run_id, "reproduced")
    assert found["tests"] == ["tests/test_textstats.py::test_tabs"]
    assert [e["tests"] for e in events(world, run_id, "reproduction_already_failing")] == [1, 1]
    [pull] = world.github.pulls(REPO)
    assert "`tests/test_textstats.py::test_tabs`: failed on `main` before the change; passes with it." in pull.body
    assert "test_word_count_ignores_repeated_spaces`: failed" not in pull.body


def test_a_coder_that_leaves_only_the_reproduction_test_made_no_change(repro_world: World) -> None:
    world = repro_world
    undo = ("replace_text", {"path": "textstats/__init__.py", "old_text": "return len(text.split())",
                             "new_text": 'return len(text.split(" "))'})
    world.openai.script(Reply.tool_calls([create(FAILING)]), WROTE, match=TESTER)
    world.openai.script(Reply.tool_calls([FIX]), Reply.tool_calls([undo]), *(Reply.tool_calls([FINISH]),) * 3,
                        match=CODER)
    world.plan_and_approve()

    run = world.run()
    assert run is not None and run.state == State.FAILED and run.failed_step == "code"
    notice = next(c.body for c in world.bot_comments() if "stopped at the **code** step" in c.body)
    assert "the Coder made no change" in notice
    assert not world.github.pulls(REPO)  # the reproduction test alone is no pull request


def approved_with_the_testers_reply_held(world: World) -> list[bool]:
    """A run planned, approved and worked to its end, the Tester's first reproduction reply held until the base run
    is in the log (`released_once_the_base_run_is_made`): the Tester writes a failing test, the Coder fixes and
    runs it, the Reviewer approves. Returns that watcher's list (True once the base run came while held)."""
    held = threading.Event()
    world.openai.script(replace(Reply.tool_calls([create(FAILING)]), until=held), WROTE, NOTHING_ADDED,
                        match=TESTER)
    world.openai.script(Reply.tool_calls([FIX]), Reply.tool_calls([run_tests(REPRO)]), Reply.tool_calls([FINISH]),
                        match=CODER)
    world.openai.script(Reply.json(APPROVE), match=REVIEWER)
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    world.say("/approve", by="carol")
    with released_once_the_base_run_is_made(world, held) as seen:
        world.drain()  # the jobs run on this test's thread (RQ's in-process worker needs its signals)
    return seen


@contextmanager
def released_once_the_base_run_is_made(world: World, held: threading.Event) -> Iterator[list[bool]]:
    """Watch the current run's log from another thread and set `held` once its base run is in it (or after 90 s);
    the list yielded holds True once the base run was seen before the release."""
    seen: list[bool] = []

    def watch() -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not seen:
            run = world.run()
            seen.extend([True] if run and events(world, run.id, "baseline") else [])
            time.sleep(0.05)
        held.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        held.set()
        watcher.join(10)


def test_the_setup_command_and_the_base_run_are_made_while_the_tester_writes(repro_world: World) -> None:
    """They need only the base commit: the Tester writes in a spare tree while they run on the job's tree. The
    Tester's first reply is held until the base run is in the log; made after the Tester's work (as before), it
    never would be, and the wait below fails."""
    world = repro_world
    world.services.settings.setup_command = "echo 'ANSWER = 42' > built_dep.py"
    seen = approved_with_the_testers_reply_held(world)
    assert seen, "the base run was not made while the Tester's reply was held: it waited for the Tester"
    run = world.run()
    assert run is not None and run.state == State.PR_OPEN
    entries = world.services.store.entries(run.id)
    order = [e["event"] for e in entries if e["event"] in ("setup", "baseline", "reproduction")]
    assert order == ["setup", "baseline", "reproduction"]  # made once, before the Tester's test is judged
    [found] = events(world, run.id, "reproduced")
    assert found["paths"] == [REPRO]
    [pull] = world.github.pulls(REPO)
    assert branch_file(world, pull.head, REPRO) == FAILING  # the test written in the spare tree reached the branch
