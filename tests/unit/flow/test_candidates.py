"""Choosing among the Coder's attempts: the vote on normalized diffs, what keeps an attempt, the budget check."""

from __future__ import annotations

from bot.flow.candidates import Attempt, budget_short, choose, judged_reason, normalized, render

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


def test_another_attempt_starts_only_while_the_budget_left_covers_twice_the_first() -> None:
    assert budget_short((0.10, 10_000), (0.10, 10_000), (2.0, 600_000)) == ""
    short = budget_short((1.5, 100_000), (0.30, 40_000), (2.0, 600_000))
    assert short.startswith("the run's budget left ($0.5000, 500,000 tokens) is less than twice what the first "
                            "attempt took ($0.3000, 40,000 tokens)")
    assert budget_short((0.1, 500_000), (0.01, 60_000), (2.0, 600_000))  # tokens run short first


def test_the_pull_request_lines_name_each_attempt_and_the_choice() -> None:
    rows = render([{"index": 1, "sampled": False, "lines": 2, "error": "", "kept": False, "why": "it changed nothing"},
                   {"index": 2, "sampled": True, "lines": 0, "error": "the Coder gave up: no idea"}],
                  "chosen: attempt 1", stopped="out of budget")
    assert rows == ["- Attempt 1 (greedy, 2 changed lines): not kept: it changed nothing",
                    "- Attempt 2 (sampled, 0 changed lines): failed: the Coder gave up: no idea",
                    "- No further attempt: out of budget", "\nchosen: attempt 1"]
