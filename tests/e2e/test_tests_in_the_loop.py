"""End to end: tests in the loop (issue 16) through `issuesmith serve` and `issuesmith worker` as real processes.

The reproduction phase (the deployment's default), the base run, the Coder's `run_tests` and the test
step's fix rounds, with real Redis, git, the sandbox and the sample repository's pytest suite; the model is
scripted per issue (every reply matched to its role and the issue's title, so one test's replies never
reach another's run). What is asserted is what people see: the pull request (draft or ready, its body),
the comments, the branch, and what the model was sent (the Tester told why its try was rejected, the
Coder's test runs and refused `finish`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from bot.runs.model import State
from standins.github import Pull
from standins.openai import Reply
from tests.e2e.processes import Deployment
from tests.e2e.test_interrupted_steps import approve, asked
from tests.integration.test_baseline import NETWORK_TEST
from tests.integration.test_coder_tests import FINISH, UNFIX, WRONG_FIX, run_tests
from tests.integration.test_reproduction import FAILING, NOTHING_ADDED, PASSING, TEST_ID, WROTE
from tests.world import APPROVE, CODER, FIX, REPO, REPRO_PATH, REVIEWER, RUN_REPRO, TESTER, reproduction_replies

REPRO_ID = f"{REPRO_PATH}::test_repeated_spaces"  # the test `reproduction_replies` writes
RUN_ALL = run_tests("")
RESULTS = "### Review and tests"
LOOK = ("view_file", {"path": "textstats/__init__.py"})
STILL_SPLITS_ON_SPACES = ("replace_text", {"path": "textstats/__init__.py", "old_text": 'return len(text.split(" "))',
                                           "new_text": 'return len(text.strip().split(" "))'})
SPLIT_ON_WHITESPACE = ("replace_text", {"path": "textstats/__init__.py",
                                        "old_text": 'return len(text.strip().split(" "))',
                                        "new_text": "return len(text.split())"})


def tool_results(messages: list[dict]) -> list[str]:
    """What the tools answered in one request's conversation, in order."""
    return [m["content"] for m in messages if m["role"] == "tool"]


def pull_of(d: Deployment, number: int) -> Pull:
    """The issue's pull request, once the report step has posted its results comment (the run's last word); a
    failure comment instead fails the test at once, with its text."""
    said = d._wait(lambda: next((b for b in d.bot_comments(number) if RESULTS in b or "issuesmith stopped at" in b),
                                None), "the run's results comment (or a failure comment)")
    assert RESULTS in said, said
    [pull] = [p for p in d.github.pulls(REPO) if f"Closes #{number}" in p.body]
    return pull


def on_branch(d: Deployment, branch: str, path: str) -> str:
    return subprocess.run(["git", "show", f"{branch}:{path}"], cwd=d.github.repo_path(REPO), capture_output=True,
                          text=True, check=True).stdout


@pytest.fixture
def failing_on_main(deployment: Deployment) -> Iterator[None]:
    """A test that fails on main whatever the change (no network in the sandbox), pushed by alice; removed after.
    A new commit on main means a new base run: the tests using this come last in the module, so that the others
    share the cached base run of main as it came."""
    deployment.github.push_commit(REPO, "main", NETWORK_TEST, by="alice")
    yield
    deployment.github.push_commit(REPO, "main", dict.fromkeys(NETWORK_TEST), by="alice", message="Remove it")


def test_a_reproduction_passing_on_main_goes_back_to_the_tester_and_its_failing_retry_is_taken(
        deployment: Deployment) -> None:
    d, title = deployment, "Reproduction passes on main at first"
    d.openai.script(Reply.tool_calls([("create_file", {"path": REPRO_PATH, "content": PASSING})]), WROTE,
                    Reply.tool_calls([("write_file", {"path": REPRO_PATH, "content": FAILING})]), WROTE,
                    NOTHING_ADDED, match=(TESTER, title))
    d.openai.script(Reply.tool_calls([FIX, RUN_REPRO]), Reply.tool_calls([FINISH]), match=(CODER, title))
    d.openai.script(Reply.json(APPROVE), match=(REVIEWER, title))
    number, since = approve(d, title)

    pull = pull_of(d, number)
    tester = asked(d, TESTER, since)  # each try: its edit, then its answer
    first, second = tester[0][1]["content"], tester[2][1]["content"]
    assert "Your last try was rejected" not in first
    assert "Your last try was rejected" in second and "every test passed on the base tree" in second
    assert "1 passed" in second and "Output (end)" in second
    assert not pull.draft
    assert f"`{TEST_ID}`: failed on `main` before the change; passes with it." in pull.body
    assert on_branch(d, pull.head, REPRO_PATH) == FAILING  # the retry, not the rejected try
    assert d.run(number).state == State.PR_OPEN  # type: ignore[union-attr]


def test_the_coder_sees_its_wrong_fix_fail_through_run_tests_and_fixes_it(deployment: Deployment) -> None:
    d, title = deployment, "The Coder's first fix is wrong"
    d.openai.script(*reproduction_replies(), NOTHING_ADDED, match=(TESTER, title))
    d.openai.script(Reply.tool_calls([STILL_SPLITS_ON_SPACES, RUN_REPRO]),
                    Reply.tool_calls([SPLIT_ON_WHITESPACE, RUN_REPRO]), Reply.tool_calls([FINISH]),
                    match=(CODER, title))
    d.openai.script(Reply.json(APPROVE), match=(REVIEWER, title))
    number, since = approve(d, title)

    pull = pull_of(d, number)
    coder = asked(d, CODER, since)
    assert len(coder) == 3  # its finish was taken at once: no refusal
    _, failed, _, passed = tool_results(coder[-1])
    assert f"--- {REPRO_ID} (failed)" in failed and "assert 3 == 2" in failed
    assert f"Reproduction tests ({REPRO_ID}): still failing." in failed
    assert "Result: 1 passed, 0 failed" in passed and f"Reproduction tests ({REPRO_ID}): passing now." in passed
    assert not pull.draft and "4 passed, 0 failed" in pull.body
    assert f"`{REPRO_ID}`: failed on `main` before the change; passes with it." in pull.body
    assert "return len(text.split())" in on_branch(d, pull.head, "textstats/__init__.py")


def test_a_regression_refuses_the_coders_finish_until_it_is_fixed(deployment: Deployment) -> None:
    d, title = deployment, "The Coder breaks a passing test"
    d.openai.script(*reproduction_replies(), NOTHING_ADDED, match=(TESTER, title))
    d.openai.script(Reply.tool_calls([WRONG_FIX, RUN_ALL]), Reply.tool_calls([FINISH]),
                    Reply.tool_calls([UNFIX, RUN_ALL]), Reply.tool_calls([FINISH]), match=(CODER, title))
    d.openai.script(Reply.json(APPROVE), match=(REVIEWER, title))
    number, since = approve(d, title)

    pull = pull_of(d, number)
    coder = asked(d, CODER, since)
    assert len(coder) == 4
    results = tool_results(coder[-1])
    [refused] = [r for r in results if r.startswith("Not a valid CoderReport")]
    assert refused.startswith("Not a valid CoderReport: not finished: your latest test run")
    assert "tests/test_textstats.py::test_word_count_simple" in refused
    _, broken, _, _, fixed = results
    assert "--- tests/test_textstats.py::test_word_count_simple (failed)" in broken
    assert "Result: 4 passed, 0 failed" in fixed
    assert not pull.draft and "4 passed, 0 failed" in pull.body
    assert "return len(text.split())" in on_branch(d, pull.head, "textstats/__init__.py")


def test_fix_rounds_that_change_nothing_do_not_run_the_suite_again(deployment: Deployment) -> None:
    d, title = deployment, "Fix rounds change nothing"
    d.openai.script(*reproduction_replies(), NOTHING_ADDED, match=(TESTER, title))
    d.openai.script(Reply.tool_calls([WRONG_FIX, RUN_REPRO]), Reply.tool_calls([FINISH]),  # the regression unseen
                    *(Reply.tool_calls([LOOK, RUN_REPRO]), Reply.tool_calls([FINISH])) * 2,  # two fix rounds
                    match=(CODER, title))
    d.openai.script(Reply.json(APPROVE), match=(REVIEWER, title))
    number, since = approve(d, title)

    pull = pull_of(d, number)
    assert pull.draft and pull.body.startswith("> [!WARNING]\n> Draft: tests failing: 1.")
    results = d.wait_comment(number, RESULTS)
    assert "❌ failing" in results and "test_word_count_simple" in results
    fix_prompts = [m[1]["content"] for m in asked(d, CODER, since) if "test results" in m[1]["content"]]
    assert len(fix_prompts) == 4  # two rounds, each asked twice (its run, then its finish)
    assert "--- tests/test_textstats.py::test_word_count_simple (failed)" in fix_prompts[0]  # as run_tests takes it
    log = pull.body.split("<summary>Execution log</summary>")[1]  # the pull request's execution log
    assert len([line for line in log.splitlines() if line.startswith("| test | tests |")]) == 1  # the suite, once
    assert "| test | tests_not_rerun | `round=1, reason=the fix round changed nothing` |" in log
    assert "| test | tests_not_rerun | `round=2, reason=the fix round changed nothing` |" in log


def test_a_test_already_failing_on_main_leaves_the_pull_request_ready_without_a_fix_round(
        deployment: Deployment, failing_on_main: None) -> None:
    d, title = deployment, "A test fails on main already"
    already = "4 passed, 1 already failing on `main` (not caused by this change)"
    d.openai.script(*reproduction_replies(), NOTHING_ADDED, match=(TESTER, title))
    d.openai.script(Reply.tool_calls([FIX, RUN_REPRO]), Reply.tool_calls([FINISH]), match=(CODER, title))
    d.openai.script(Reply.json(APPROVE), match=(REVIEWER, title))
    number, since = approve(d, title)

    pull = pull_of(d, number)
    assert not pull.draft and "Draft:" not in pull.body
    assert f"`python -m pytest -q`: {already} — ✅ passed" in pull.body
    assert "tests/test_network.py::test_downloads_the_word_list" in pull.body
    assert already in d.wait_comment(number, RESULTS)
    assert len(asked(d, CODER, since)) == 2  # the implementation's two replies: no fix round
