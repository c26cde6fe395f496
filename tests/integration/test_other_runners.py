"""Projects that are not pytest ones, end to end: the detected command runs sandboxed and people read what happened.

The sample repository is turned into a Node project and into a Make project (its Python tests
removed, so detection picks the other runner); the real command runs through the worker's sandbox,
and the pull request's draft reason and the results comment are what a person would see.
"""

from __future__ import annotations

import json
import shutil

import pytest

from standins.openai import Reply
from tests.world import APPROVE, CODER, FIX, REPO, REVIEWER, SAMPLE_PLAN, TESTER, World, plan_with

NODE_TEST = """import test from 'node:test';
import assert from 'node:assert/strict';

test('counts words across tabs', () => {
  assert.equal('a\\tb'.split(' ').length, 2, 'a tab separates words');
});
"""
NPM_INIT = json.dumps({"name": "textstats", "scripts": {"test": 'echo "Error: no test specified" && exit 1'}})
MAKEFILE = "test:\n\t@echo 'checking word_count'\n\t@echo \"word_count('a  b') gave 3, expected 2\" >&2\n\t@exit 1\n"
NOT_PYTHON = {"pyproject.toml": None, "tests/test_textstats.py": None}


def script_failing_run(world: World) -> None:
    """The Coder fixes, the Reviewer approves, the Tester adds nothing, and two fix rounds change nothing."""
    world.openai.script(Reply.tool_calls([FIX]), Reply.json({"summary": "Split on any whitespace.", "notes": ""}),
                        match=CODER)
    world.openai.script(Reply.json(APPROVE), match=REVIEWER)
    world.openai.script(Reply.json({"summary": "Nothing to add.", "tests_added": []}), match=TESTER)
    for _ in range(2):
        world.openai.script(Reply.tool_calls([("view_file", {"path": "textstats/__init__.py"})]),
                            Reply.json({"summary": "Tried.", "notes": ""}), match=CODER)


def plan_and_approve(world: World) -> None:
    """The sample plan, naming only the source file (the Python tests are gone), planned and approved."""
    world.new_issue()
    world.script_plan(plan_with(files=SAMPLE_PLAN["files"][:1]))
    world.label()
    world.drain()
    world.say("/approve", by="carol")
    world.drain()


def results_comment(world: World) -> str:
    return next(c.body for c in world.bot_comments() if "### Review and tests" in c.body)


def fix_prompts(world: World) -> list[str]:
    return [r["messages"][-1]["content"] for r in world.openai.requests
            if CODER in r["messages"][0]["content"] and "test results" in r["messages"][-1]["content"]]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_a_failing_node_test_run_is_counted_and_named(world: World) -> None:
    world.services.settings.test_baseline = False  # the test fails on main too: only without a base run it counts
    world.github.push_commit(REPO, "main", {**NOT_PYTHON, "package.json": NPM_INIT, "test/words.test.mjs": NODE_TEST},
                             by="alice")
    script_failing_run(world)
    plan_and_approve(world)

    plan = next(c.body for c in world.bot_comments() if "Plan v1" in c.body)
    assert "Test command: `node --test`" in plan  # npm's placeholder script is not a test command
    [pull] = world.github.pulls(REPO)
    assert pull.draft and pull.body.startswith("> [!WARNING]\n> Draft: tests failing: 1.")
    results = results_comment(world)
    assert "`node --test`: 0 passed, 1 failed, 0 errors, 0 skipped — ❌ failing" in results
    assert "<code>counts words across tabs</code>" in results and "a tab separates words" in results
    assert "a tab separates words" in fix_prompts(world)[0]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_a_node_test_failing_on_main_too_is_named_as_already_failing(world: World) -> None:
    passing = "\ntest('counts words', () => {\n  assert.equal('a b'.split(' ').length, 2);\n});\n"
    world.github.push_commit(REPO, "main", {**NOT_PYTHON, "package.json": NPM_INIT,
                                            "test/words.test.mjs": NODE_TEST + passing}, by="alice")
    script_failing_run(world)
    plan_and_approve(world)

    [pull] = world.github.pulls(REPO)
    assert not pull.draft  # its failing TAP test is matched by name with the one failing on main
    assert "1 passed, 1 already failing on `main` (not caused by this change) — ✅ passed" in results_comment(world)
    assert fix_prompts(world) == []


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_a_failing_make_target_says_counts_unknown_and_shows_its_output(world: World) -> None:
    world.github.push_commit(REPO, "main", {**NOT_PYTHON, "Makefile": MAKEFILE}, by="alice")
    script_failing_run(world)
    plan_and_approve(world)

    [pull] = world.github.pulls(REPO)
    assert pull.draft and pull.body.startswith("> [!WARNING]\n> Draft: tests failing (counts unknown, exit 2).")
    results = results_comment(world)
    assert "`make test`: counts unknown (exit 2) — ❌ failing" in results and "0 passed" not in results
    assert "word_count('a  b') gave 3, expected 2" in results  # the output's end, since nothing was counted
    assert "Tests: counts unknown (exit 2)" in world.status()
    assert "Result: counts unknown (exit 2)" in fix_prompts(world)[0]


def test_a_test_command_that_is_not_there_failed_before_any_test_ran(world: World) -> None:
    world.github.push_commit(REPO, "main", {".github/issuesmith.yml": "test_command: nosuchrunner --all\n"},
                             by="alice")
    script_failing_run(world)
    plan_and_approve(world)

    [pull] = world.github.pulls(REPO)
    assert pull.body.startswith("> [!WARNING]\n> Draft: the test command failed before any test ran.")
    results = results_comment(world)
    assert ("`nosuchrunner --all`: the command failed before any test ran (exit 127: command not found)"
            in results) and "nosuchrunner" in results.split("The end of the output", 1)[1]


def test_without_a_test_command_the_plan_says_so_and_no_fix_round_is_spent(world: World) -> None:
    world.github.push_commit(REPO, "main", dict(NOT_PYTHON), by="alice")
    world.openai.script(Reply.tool_calls([FIX]), Reply.json({"summary": "Split on any whitespace.", "notes": ""}),
                        match=CODER)
    world.openai.script(Reply.json(APPROVE), match=REVIEWER)
    world.openai.script(Reply.json({"summary": "Nothing to add.", "tests_added": []}), match=TESTER)
    plan_and_approve(world)

    plan = next(c.body for c in world.bot_comments() if "Plan v1" in c.body)
    assert "Test command: none detected or configured" in plan and "`test_command`" in plan
    [pull] = world.github.pulls(REPO)
    assert pull.draft
    assert "no test command was detected or configured" in results_comment(world)
    assert fix_prompts(world) == []  # the Coder is not sent to fix tests that do not exist
