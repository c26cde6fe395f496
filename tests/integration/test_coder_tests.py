"""The Coder runs the tests itself; the Reviewer comes after the tests and sees their results.

Real git, Redis, RQ, sandbox and the sample repository's pytest suite; the model is scripted.
"""

from __future__ import annotations

import subprocess
from typing import Any

from bot.runs.model import State
from standins.openai import Reply
from tests.world import APPROVE, CODER, FIX, REPO, REVIEWER, TESTER, World

WRONG_FIX = ("replace_text", {"path": "textstats/__init__.py", "old_text": 'return len(text.split(" "))',
                              "new_text": 'return len(text.split("  "))'})
UNFIX = ("replace_text", {"path": "textstats/__init__.py", "old_text": 'return len(text.split("  "))',
                          "new_text": "return len(text.split())"})
FINISH = ("finish", {"summary": "Split on any whitespace.", "notes": ""})
WEAKEN = ("replace_text", {"path": "tests/test_textstats.py", "old_text": 'assert word_count("one two three") == 3',
                           "new_text": 'assert word_count("one two three") >= 1'})
RESTORE = ("replace_text", {"path": "tests/test_textstats.py", "old_text": 'assert word_count("one two three") >= 1',
                            "new_text": 'assert word_count("one two three") == 3'})
LONG_WORD_COUNT = '''"""Small text statistics helpers."""


def word_count(text):
    """Number of words in text.

    Words are what the text holds between separators;
    the count is what callers show to people,
    so it must not count empty strings between
    two separators as words.
    """
    return len(text.split(" "))


def longest_word(text):
    """The longest word in text (the first one on ties)."""
    words = text.split()
    return max(words, key=len) if words else ""
'''


def run_tests(selector: str) -> tuple[str, dict[str, Any]]:
    return ("run_tests", {"selector": selector})


def requests_of(world: World, agent: str) -> list[dict[str, Any]]:
    return [r for r in world.openai.requests if agent in r["messages"][0]["content"]]


def tool_results(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


def branch_file(world: World, branch: str, path: str) -> str:
    return subprocess.run(["git", "show", f"{branch}:{path}"], cwd=world.github.repo_path(REPO),
                          capture_output=True, text=True, check=True).stdout


def events(world: World, run_id: str, name: str) -> list[dict[str, Any]]:
    return [e for e in world.services.store.entries(run_id) if e["event"] == name]


def test_the_coder_runs_the_tests_sees_a_regression_is_refused_finish_fixes_and_finishes(world: World) -> None:
    world.openai.script(Reply.tool_calls([WRONG_FIX, run_tests("tests/test_textstats.py")]),
                        Reply.tool_calls([FINISH]),
                        Reply.tool_calls([UNFIX, run_tests("tests/test_textstats.py::test_word_count_simple")]),
                        Reply.tool_calls([FINISH]), match=CODER)
    world.openai.script(Reply.json(APPROVE), match=REVIEWER)
    world.openai.script(Reply.json({"summary": "Nothing to add.", "tests_added": []}), match=TESTER)
    run_id = world.plan_and_approve()

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN, world.services.store.entries(run_id)[-5:]
    _, first, refused, _, second = tool_results(requests_of(world, CODER)[-1])
    assert "Result: 2 passed, 1 failed, 0 errors, 0 skipped" in first
    assert "--- tests/test_textstats.py::test_word_count_simple (failed)" in first  # as pytest takes it back
    assert "AssertionError" in first and "(4 test runs left" in first
    assert refused.startswith("Not a valid CoderReport: not finished: your latest test run")
    assert "tests/test_textstats.py::test_word_count_simple" in refused
    assert "Result: 1 passed, 0 failed" in second and "(3 test runs left" in second
    coder_runs = events(world, run_id, "coder_tests")
    assert [(e["ok"], e["passed"], e["failed"]) for e in coder_runs] == [(False, 2, 1), (True, 1, 0)]
    assert [e["cached"] for e in events(world, run_id, "baseline")] == [False]  # made once, kept for the test step
    [judged] = events(world, run_id, "tests")
    assert (judged["ok"], judged["passed"]) == (True, 3)
    [pull] = world.github.pulls(REPO)
    assert not pull.draft and "return len(text.split())" in branch_file(world, pull.head, "textstats/__init__.py")


def test_the_test_step_takes_the_coders_whole_run_of_the_same_tree_instead_of_running_it_again(world: World) -> None:
    """The Coder ran the whole test command on the tree it finished with and the Tester added nothing: the test step
    has that tree's result already (same job, same HOME). When the Tester adds a test, the tree differs: it runs."""
    world.openai.script(Reply.tool_calls([FIX, run_tests("")]), Reply.tool_calls([FINISH]), match=CODER)
    world.openai.script(Reply.json(APPROVE), match=REVIEWER)
    world.openai.script(Reply.json({"summary": "Nothing to add.", "tests_added": []}), match=TESTER)
    run_id = world.plan_and_approve()

    [pull] = world.github.pulls(REPO)
    assert not pull.draft and "3 passed, 0 failed" in pull.body
    assert [(e["ok"], e["passed"]) for e in events(world, run_id, "coder_tests")] == [(True, 3)]
    assert events(world, run_id, "tests") == []  # not run a second time
    [reused] = events(world, run_id, "tests_not_rerun")
    assert reused["reason"] == "the code step ran the whole test command on this same tree" and reused["ok"]

    world.openai.script(Reply.tool_calls([FIX, run_tests("")]), Reply.tool_calls([FINISH]), match=CODER)
    world.openai.script(Reply.json(APPROVE), match=REVIEWER)
    world.openai.script(Reply.tool_calls([("create_file", {"path": "tests/test_more.py", "content":
                                                           "def test_more():\n    assert True\n"})]),
                        Reply.json({"summary": "One more.", "tests_added": ["test_more"]}), match=TESTER)
    second = world.plan_and_approve(title="count words once more")
    assert [(e["ok"], e["passed"]) for e in events(world, second, "tests")] == [(True, 4)]
    assert events(world, second, "tests_not_rerun") == []


def test_a_fix_round_names_the_failing_tests_as_run_tests_takes_them_back(world: World) -> None:
    """The test step's failures go to the Coder as pytest node ids (`tests/test_x.py::test_y`), the form its
    `run_tests` says it takes "as failing tests are listed"; JUnit's `tests.test_x::test_y` is no file to pytest."""
    simple = "tests/test_textstats.py::test_word_count_simple"
    world.openai.script(Reply.tool_calls([WRONG_FIX]), Reply.tool_calls([FINISH]),  # no run: the regression unseen
                        Reply.tool_calls([UNFIX, run_tests(simple)]), Reply.tool_calls([FINISH]), match=CODER)
    world.openai.script(Reply.json(APPROVE), match=REVIEWER)
    world.openai.script(Reply.json({"summary": "Nothing to add.", "tests_added": []}), match=TESTER)
    run_id = world.plan_and_approve()

    fix = requests_of(world, CODER)[-1]
    told = fix["messages"][1]["content"].split('source="test results"')[1]
    assert f"--- {simple} (failed)" in told and "tests.test_textstats::" not in told
    [ran] = [r for r in tool_results(fix) if r.startswith("Command:")]
    assert "Result: 1 passed, 0 failed" in ran
    assert [(e["ok"], e["passed"]) for e in events(world, run_id, "coder_tests")] == [(True, 1)]
    reviewed = requests_of(world, REVIEWER)[-1]["messages"][-1]["content"]
    assert "tests.test_textstats::" not in reviewed  # the Reviewer sees the ids the Coder was given too


def test_the_reviewer_sees_the_test_results_the_function_diff_and_an_edited_assertion(world: World) -> None:
    world.github.push_commit(REPO, "main", {"textstats/__init__.py": LONG_WORD_COUNT}, by="alice")
    world.openai.script(Reply.tool_calls([FIX]), Reply.tool_calls([FINISH]),
                        Reply.tool_calls([RESTORE]), Reply.tool_calls([FINISH]), match=CODER)
    world.openai.script(Reply.tool_calls([WEAKEN]), Reply.json({"summary": "Adjusted.", "tests_added": []}),
                        match=TESTER)
    changes = {"verdict": "request_changes", "summary": "The test was weakened.", "findings": [
        {"severity": "major", "file": "tests/test_textstats.py", "line": 5, "message": "restore the assertion"},
        {"severity": "blocker", "file": "README.md", "line": 1, "message": "not part of the change"}]}
    world.openai.script(Reply.json(changes), Reply.json(APPROVE), match=REVIEWER)
    run_id = world.plan_and_approve()

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN, world.services.store.entries(run_id)[-5:]
    first, second = (r["messages"][-1]["content"] for r in requests_of(world, REVIEWER))
    assert "\n def word_count(text):\n" in first  # the enclosing function, beyond three lines of context
    assert "Result: 3 passed, 0 failed, 0 errors, 0 skipped" in first.split('source="test results"')[1]
    edits = first.split('source="assertion edits"')[1]
    assert 'tests/test_textstats.py:5 (before the change): assert word_count("one two three") == 3' in edits
    assert "(none)" in second.split('source="assertion edits"')[1]
    [dropped] = events(world, run_id, "finding_dropped")
    assert (dropped["file"], dropped["round"]) == ("README.md", 1) and "not changed" in dropped["reason"]
    assert [(e["round"], e["verdict"], e["findings"]) for e in events(world, run_id, "review")] == [
        (1, "request_changes", 1), (2, "approve", 0)]
    revise_prompt = requests_of(world, CODER)[-1]["messages"][1]["content"]
    assert "restore the assertion" in revise_prompt and "not part of the change" not in revise_prompt
    assert len(events(world, run_id, "tests")) == 2  # run again after the revision changed the tree
    checklist = world.checklist()
    assert checklist.index("✅ Tests: 3 passed, 0 failed, 0 errors, 0 skipped") < checklist.index(
        "✅ Review round 1: changes requested") < checklist.index("✅ Review round 2: approved")
    [pull] = world.github.pulls(REPO)
    assert 'assert word_count("one two three") == 3' in branch_file(world, pull.head, "tests/test_textstats.py")
