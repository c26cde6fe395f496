"""End to end: candidates (issue 16) through `issuesmith serve` and `issuesmith worker` as real processes.

The repository asks for two Coder attempts. They work at the same time, each in a spare clone of its own;
their test runs take turns on the job's work tree in the real sandbox, after one setup and one base run.
What is asserted is what people see: the pull request's Candidates section, the branch, and what each
attempt was told and sent.
"""

from __future__ import annotations

import subprocess

from standins.openai import Reply
from tests.e2e.processes import Deployment
from tests.e2e.test_interrupted_steps import approve
from tests.integration.test_coder_tests import FINISH, WRONG_FIX, run_tests
from tests.world import APPROVE, CODER, FIX, REPO, REPRO_PATH, REVIEWER, RUN_REPRO, TESTER, reproduction_replies

RESULTS = "### Review and tests"


def on_branch(d: Deployment, branch: str, path: str) -> str:
    return subprocess.run(["git", "show", f"{branch}:{path}"], cwd=d.github.repo_path(REPO), capture_output=True,
                          text=True, check=True).stdout


def test_two_candidates_at_once_the_one_breaking_a_passing_test_is_dropped_and_the_other_published(
        deployment: Deployment) -> None:
    d, title = deployment, "Two attempts at counting words"
    d.github.push_commit(REPO, "main", {".github/issuesmith.yml": "candidates: 2\n"}, by="alice")
    first, second = (CODER, title, "attempt 1 of 2"), (CODER, title, "attempt 2 of 2")
    d.openai.script(*reproduction_replies(), match=(TESTER, title))
    # attempt 1 splits on two spaces: its reproduction passes, but "one two three" counts 1 (a regression)
    d.openai.script(Reply.tool_calls([WRONG_FIX, RUN_REPRO]), Reply.tool_calls([FINISH]), match=first)
    d.openai.script(Reply.tool_calls([FIX, run_tests("")]), Reply.tool_calls([FINISH]), match=second)
    d.openai.script(Reply.json(APPROVE), match=(REVIEWER, title))
    d.openai.script(Reply.json({"summary": "Already covered.", "tests_added": []}), match=(TESTER, title))
    number, since = approve(d, title)

    said = d._wait(lambda: next((b for b in d.bot_comments(number) if RESULTS in b or "issuesmith stopped at" in b),
                                None), "the run's results comment (or a failure comment)")
    assert RESULTS in said, said
    [pull] = [p for p in d.github.pulls(REPO) if f"Closes #{number}" in p.body]
    assert not pull.draft
    assert "2 Coder attempts were made (2 asked, 2 at a time), each judged by the tests:" in pull.body
    assert "- Attempt 1 (greedy, 2 changed lines): not kept: the tests fail where the base branch passes" in pull.body
    assert "- Attempt 2 (sampled, 2 changed lines): kept: the tests pass" in pull.body
    assert "attempt 2 is used" in pull.body
    assert "return len(text.split())" in on_branch(d, pull.head, "textstats/__init__.py")
    assert on_branch(d, pull.head, REPRO_PATH)  # the reproduction test goes with the chosen change
    coder = [r for r in d.openai.requests[since:] if CODER in str(r["messages"][0])]
    of = {n: [r for r in coder if f"attempt {n} of 2" in text(r)] for n in (1, 2)}
    assert (len(of[1]), len(of[2])) == (2, 2) and {r["temperature"] for r in of[1]} == {0.0}
    # each attempt's test run saw its own change: attempt 1 its reproduction passing, attempt 2 the whole suite
    assert "passing now" in " ".join(answers(of[1][-1])), answers(of[1][-1])
    assert "4 passed, 0 failed" in " ".join(answers(of[2][-1])), answers(of[2][-1])


def text(request: dict) -> str:
    return " ".join(str(m.get("content")) for m in request["messages"])


def answers(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]
