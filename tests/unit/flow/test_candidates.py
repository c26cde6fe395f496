"""The Coder's attempts: the vote on normalized diffs, what keeps an attempt, their budget, running them at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.core.errors import GitError
from bot.flow.candidates import (
    Attempt,
    AttemptsStopped,
    Bench,
    choose,
    judged_reason,
    normalized,
    render,
    run_all,
    share,
    told,
)
from bot.workspace.git import Git
from bot.workspace.tree import Tree

SPLIT = """diff --git a/t/__init__.py b/t/__init__.py
--- a/t/__init__.py
+++ b/t/__init__.py
@@ -1,2 +1,2 @@
 def word_count(text):
-    return len(text.split(" "))
+    return len(text.split())
"""
SPLIT_COMMENTED = SPLIT.replace("+    return len(text.split())",
                                "+    # any whitespace separates words\n+    return len( text.split() )\n+")
REGEX = SPLIT.replace("+    return len(text.split())", "+    return len(re.findall(r'\\S+', text))\n+import re")


def attempt(index: int, change: str, kept: bool = True) -> Attempt:
    return Attempt(index, index > 1, patch=change, change=change, kept=kept, why="the tests pass")


def test_diffs_that_differ_only_in_comments_blank_lines_and_spacing_are_one_change() -> None:
    assert normalized(SPLIT) == normalized(SPLIT_COMMENTED) != normalized(REGEX)
    assert normalized(SPLIT) == '@ b/t/__init__.py\n-return len(text.split(" "))\n+return len(text.split())'
    assert attempt(1, SPLIT).lines == 2 and attempt(2, REGEX).lines == 3


def test_the_change_most_attempts_agree_on_wins_then_the_smallest_then_the_earliest() -> None:
    voted = choose([attempt(1, REGEX), attempt(2, SPLIT), attempt(3, SPLIT_COMMENTED)])
    assert voted.chosen is not None and voted.chosen.index == 2
    assert voted.reason == "3 of 3 attempts passed the tests; attempts 2, 3 made the same change: attempt 2 is used"
    smallest = choose([attempt(1, REGEX), attempt(2, SPLIT)])
    assert smallest.chosen is not None and smallest.chosen.index == 2
    assert "it is the simplest of the 2 different changes that passed (2 changed lines)" in smallest.reason
    tie = choose([attempt(1, SPLIT), attempt(2, SPLIT.replace("split()", "split(None)"))])
    assert tie.chosen is not None and tie.chosen.index == 1


def test_only_kept_attempts_are_voted_on_and_without_any_the_first_change_goes_on() -> None:
    only = choose([attempt(1, SPLIT, kept=False), attempt(2, SPLIT, kept=False), attempt(3, REGEX)])
    assert only.chosen is not None and only.chosen.index == 3
    none_kept = choose([Attempt(1, False, error="gave up"), attempt(2, REGEX, kept=False), attempt(3, SPLIT, False)])
    assert none_kept.chosen is not None and none_kept.chosen.index == 2
    assert none_kept.reason.startswith("no attempt passed the tests; attempt 2, the first with a change")
    only_tests = choose([Attempt(1, False, patch="the reproduction test", kept=False), attempt(2, REGEX, kept=False)])
    assert only_tests.chosen is not None and only_tests.chosen.index == 2  # the reproduction alone is no change
    nothing = choose([Attempt(1, False, error="gave up"), Attempt(2, True)])
    assert nothing.chosen is None and nothing.reason == "none of the 2 attempts changed anything"


def test_an_attempt_is_kept_only_with_a_change_its_reproduction_passing_and_no_new_failure() -> None:
    assert judged_reason(False, True, 0, [], "4 passed") == (False, "it changed nothing")
    assert judged_reason(True, None, 0, [], "") == (True, "there is no test command: judged by the vote only")
    assert judged_reason(True, True, 0, [True, False], "3 passed, 1 failed") == (
        False, "1 of the 2 reproduction tests still fail (3 passed, 1 failed)")
    assert judged_reason(True, False, 1, [True], "3 passed, 1 failed") == (
        False, "the tests fail where the base branch passes (3 passed, 1 failed)")
    assert judged_reason(True, True, 0, [True], "4 passed") == (
        True, "the tests pass (4 passed), reproduction tests included")


def test_each_attempt_gets_one_part_of_the_budget_left_and_the_test_step_one_more() -> None:
    assert share((0.5, 100_000), (2.0, 600_000), 2) == (pytest.approx(0.5), 166_666)
    assert share((0.0, 0), (2.0, 600_000), 4) == (pytest.approx(0.4), 120_000)
    assert share((3.0, 700_000), (2.0, 600_000), 2) == (0.0, 0)  # nothing left: nothing to share


def test_the_coder_is_told_which_attempt_it_is_only_among_several() -> None:
    assert told(1, 1) == ""
    assert told(2, 3).startswith("This is attempt 2 of 3: 3 independent attempts at this plan are made")


def test_attempts_run_at_once_and_come_back_in_their_order(tmp_path: Path) -> None:
    together = threading.Barrier(3, timeout=30)  # broken unless all three wait at the same time

    def job(index: int) -> Callable[[], Attempt]:
        def run() -> Attempt:
            together.wait()
            time.sleep(0.01 * (3 - index))  # the last one ends first
            return Attempt(index, sampled=index > 1)
        return run

    attempts = run_all([job(1), job(2), job(3)], 3, Bench(tree(tmp_path), []))
    assert [a.index for a in attempts] == [1, 2, 3]


def test_at_once_bounds_how_many_attempts_work_together(tmp_path: Path) -> None:
    busy, most, lock = [0], [0], threading.Lock()

    def job(index: int) -> Callable[[], Attempt]:
        def run() -> Attempt:
            with lock:
                busy[0] += 1
                most[0] = max(most[0], busy[0])
            time.sleep(0.02)
            with lock:
                busy[0] -= 1
            return Attempt(index, sampled=True)
        return run

    run_all([job(i) for i in range(1, 5)], 2, Bench(tree(tmp_path), []))
    assert most[0] == 2


def test_an_error_of_ours_in_one_attempt_stops_the_others_and_is_raised(tmp_path: Path) -> None:
    bench = Bench(tree(tmp_path), [])
    seen: list[str] = []

    def broken() -> Attempt:
        raise GitError("the spare tree could not be cloned")

    def waiting() -> Attempt:
        assert bench.stop.wait(30), "never stopped"
        try:
            bench.check()
        except AttemptsStopped:
            seen.append("stopped")
            raise
        return Attempt(2, sampled=True)

    with pytest.raises(GitError, match="could not be cloned"):
        run_all([waiting, broken, waiting], 2, bench)
    assert seen == ["stopped", "stopped"]  # each waiting attempt ended, the one queued behind them too


def tree(root: Path) -> Tree:
    return Tree(Git(lambda text: text), root, "0" * 40)


def test_the_pull_request_lines_name_each_attempt_and_the_choice() -> None:
    rows = render([{"index": 1, "sampled": False, "lines": 2, "error": "", "kept": False, "why": "it changed nothing"},
                   {"index": 2, "sampled": True, "lines": 0, "error": "the Coder gave up: no idea"}],
                  "chosen: attempt 1", stopped="out of budget")
    assert rows == ["- Attempt 1 (greedy, 2 changed lines): not kept: it changed nothing",
                    "- Attempt 2 (sampled, 0 changed lines): failed: the Coder gave up: no idea",
                    "- No further attempt: out of budget", "\nchosen: attempt 1"]
