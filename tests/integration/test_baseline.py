"""Tests already failing on the default branch are not blamed on the change; regressions are.

The sample repository gets a test that fails on main whatever the change does (it needs a
network the sandbox does not have); the tests run sandboxed on the base commit and after the
change, and the pull request, the comments and the Coder's fix rounds are what people would see.
"""

from __future__ import annotations

from standins.openai import Reply
from tests.world import APPROVE, CODER, FIX, REPO, REVIEWER, TESTER, World

NETWORK_TEST = {"tests/test_network.py": "def test_downloads_the_word_list():\n"
                                         "    raise ConnectionError('no network here')\n"}
WRONG_FIX = ("replace_text", {"path": "textstats/__init__.py", "old_text": 'return len(text.split(" "))',
                              "new_text": 'return len(text.split("  "))'})
UNFIX = ("replace_text", {"path": "textstats/__init__.py", "old_text": 'return len(text.split("  "))',
                          "new_text": "return len(text.split())"})
ALREADY = "3 passed, 1 already failing on `main` (not caused by this change)"


def script(world: World, first: tuple[str, dict], *fixes: tuple[str, dict]) -> None:
    """The Coder makes `first`, the Reviewer approves, the Tester adds nothing, then one fix round per `fixes`."""
    world.openai.script(Reply.tool_calls([first]), Reply.json({"summary": "Changed word_count.", "notes": ""}),
                        match=CODER)
    world.openai.script(Reply.json(APPROVE), match=REVIEWER)
    world.openai.script(Reply.json({"summary": "Nothing to add.", "tests_added": []}), match=TESTER)
    for call in fixes:
        world.openai.script(Reply.tool_calls([call]), Reply.json({"summary": "Fixed.", "notes": ""}), match=CODER)


def fix_prompts(world: World) -> list[str]:
    return [r["messages"][-1]["content"] for r in world.openai.requests
            if CODER in r["messages"][0]["content"] and "test results" in r["messages"][-1]["content"]]


def results_comment(world: World) -> str:
    return next(c.body for c in world.bot_comments() if "### Review and tests" in c.body)


def events(world: World, run_id: str, name: str) -> list[dict]:
    return [e for e in world.services.store.entries(run_id) if e["event"] == name]


def test_a_test_failing_on_main_too_leaves_the_pull_request_ready_and_the_coder_alone(world: World) -> None:
    world.github.push_commit(REPO, "main", NETWORK_TEST, by="alice")
    script(world, FIX)
    run_id = world.plan_and_approve()

    [pull] = world.github.pulls(REPO)
    assert not pull.draft and "Draft:" not in pull.body
    assert f"`python -m pytest -q`: {ALREADY} — ✅ passed" in pull.body
    assert "1 already failing on <code>main</code> without this change" in pull.body
    assert "tests/test_network.py::test_downloads_the_word_list" in pull.body  # as pytest takes it back
    assert ALREADY in results_comment(world)
    assert "✅ Tests: 3 passed, 1 already failing on main (not caused by this change)" in world.checklist()
    assert fix_prompts(world) == []  # no fix round for a test the change did not break
    [base] = events(world, run_id, "base_tests")
    assert (base["passed"], base["failed"]) == (2, 2)  # on main: the bug's own test and the network one
    [judged] = events(world, run_id, "tests")
    assert (judged["ok"], judged["already_failing"], judged["baseline"]) == (True, 1, "known")


def test_a_second_run_from_the_same_base_reuses_the_base_run(world: World) -> None:
    world.github.push_commit(REPO, "main", NETWORK_TEST, by="alice")
    script(world, FIX)
    first = world.plan_and_approve()
    script(world, FIX)
    second = world.plan_and_approve(title="word_count again")

    assert [e["cached"] for e in events(world, first, "baseline")] == [False]
    assert [e["cached"] for e in events(world, second, "baseline")] == [True]
    assert events(world, second, "base_tests") == []
    [pull, _] = world.github.pulls(REPO)
    assert ALREADY in pull.body


def test_a_broken_passing_test_is_a_regression_sent_to_the_coder_alone(world: World) -> None:
    world.github.push_commit(REPO, "main", NETWORK_TEST, by="alice")
    script(world, WRONG_FIX, UNFIX)
    run_id = world.plan_and_approve()

    [prompt] = fix_prompts(world)
    assert "test_word_count_simple" in prompt and "Result: 2 passed, 1 failing, 1 already failing on main" in prompt
    assert "test_downloads_the_word_list" not in prompt and "no network here" not in prompt
    assert "1 of the failing tests fail on main without this change too" in prompt
    [pull] = world.github.pulls(REPO)
    assert not pull.draft and ALREADY in pull.body
    assert [(e["ok"], e["already_failing"]) for e in events(world, run_id, "tests")] == [(False, 1), (True, 1)]


def test_a_regression_left_unfixed_is_the_draft_reason_and_unchanged_trees_are_not_retested(world: World) -> None:
    world.github.push_commit(REPO, "main", NETWORK_TEST, by="alice")
    look = ("view_file", {"path": "textstats/__init__.py"})
    script(world, WRONG_FIX, look, look)
    run_id = world.plan_and_approve()

    [pull] = world.github.pulls(REPO)
    assert pull.draft
    assert pull.body.startswith("> [!WARNING]\n> Draft: tests failing: 1 (and 1 already failing on `main`).")
    results = results_comment(world)
    assert "2 passed, 1 failing, 1 already failing on `main`" in results and "❌ failing" in results
    assert "<code>tests/test_textstats.py::test_word_count_simple</code>" in results
    assert len(fix_prompts(world)) == 2
    assert len(events(world, run_id, "tests")) == 1  # neither fix round changed anything
    assert [e["round"] for e in events(world, run_id, "tests_not_rerun")] == [1, 2]
