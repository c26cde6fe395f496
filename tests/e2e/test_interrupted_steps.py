"""End to end: a worker killed (SIGKILL) or stopped (SIGTERM) in the middle of a step, as real processes.

What a person sees is asserted: one pull request in the end (or a failure comment naming the step
and `/retry`), and the model stand-in asked for the work already done only once. The stand-in has
exactly the replies scripted here: a request asked again would get none and fail the run.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from standins.openai import Reply
from tests.e2e.processes import Deployment, kill_worker_and_start_another, running, start_worker
from tests.world import APPROVE, CODER, FIX, REPO, REVIEWER, RUN_REPRO, TESTER, reproduction_replies

SLOW_TEST = "import time\n\n\ndef test_takes_its_time():\n    time.sleep(4)\n"
TESTS_WITH_THE_CHANGE = "running the tests with the change"
PYTEST_RUN = "junit_family=xunit2"
CODER_ANSWER = Reply.json({"summary": "Split on any whitespace.", "notes": ""})


def script_run(d: Deployment, *coder: Reply) -> None:
    """The Tester's reproduction (the deployment's default), the Coder's edit and test run and answer (or `coder`),
    an approving review, a Tester adding a test that takes 4 s."""
    d.openai.script(*(coder or (Reply.tool_calls([FIX, RUN_REPRO]), CODER_ANSWER)), match=CODER)
    d.openai.script(Reply.json(APPROVE), match=REVIEWER)
    d.openai.script(*reproduction_replies(),
                    Reply.tool_calls([("create_file", {"path": "tests/test_slow.py", "content": SLOW_TEST})]),
                    Reply.json({"summary": "A slow test.", "tests_added": ["tests/test_slow.py"]}), match=TESTER)


def approve(d: Deployment, title: str) -> tuple[int, int]:
    """A planned and approved issue; its number and where its model requests start."""
    number = d.issue(title)
    d.plan_for(title)
    d.github.label_issue(REPO, number, "issuesmith", by="alice")
    d.wait_comment(number, "Plan v1:")
    since = len(d.openai.requests)
    d.github.comment(REPO, number, "/approve", by="alice")
    return number, since


def asked(d: Deployment, role: str, since: int) -> list[Any]:
    """The messages of the requests `role` sent since request `since`."""
    return [r["messages"] for r in d.openai.requests[since:] if role in str(r["messages"][0])]


def wait_for_the_tests(d: Deployment, number: int) -> None:
    """Until the status says the tests run with the change and they do (the worker's sandbox runs pytest, with
    the option the worker adds to it: the work tree's path, under pytest's temporary folder, is no sign)."""
    d.wait_comment(number, TESTS_WITH_THE_CHANGE)
    d._wait(lambda: running(d.procs[-1].pid, PYTEST_RUN), "the repository's tests running")


def assert_one_pull_request(d: Deployment, number: int) -> None:
    d.wait_comment(number, "### Review and tests")
    assert len([p for p in d.github.pulls(REPO) if f"Closes #{number}" in p.body]) == 1
    assert not [b for b in d.bot_comments(number) if "issuesmith stopped at" in b]


def test_worker_killed_while_the_tests_run_resumes_without_asking_the_model_again(deployment: Deployment) -> None:
    d = deployment
    script_run(d)
    number, since = approve(d, "Killed while the tests run")
    wait_for_the_tests(d, number)
    kill_worker_and_start_another(d)
    assert_one_pull_request(d, number)
    assert (len(asked(d, CODER, since)), len(asked(d, REVIEWER, since)), len(asked(d, TESTER, since))) == (2, 1, 4)


def test_worker_alone_killed_while_the_coder_works_takes_its_horse_along(deployment: Deployment) -> None:
    """Only the worker's own process is killed: its horse must not go on beside the job queued again."""
    d = deployment
    script_run(d, Reply.tool_calls([FIX, RUN_REPRO]), CODER_ANSWER.slowly(4), CODER_ANSWER)
    number, since = approve(d, "Worker alone killed while the Coder works")
    d._wait(lambda: len(asked(d, CODER, since)) == 2, "the Coder's second request")
    os.kill(d.procs[-1].pid, signal.SIGKILL)
    d.procs[-1].wait(timeout=10)
    start_worker(d)
    assert_one_pull_request(d, number)
    first, second, third = asked(d, CODER, since)
    assert second == third and first != second  # the edit was not asked for again, the unanswered request was
    assert len(asked(d, TESTER, since)) == 4  # the reproduction's two, not asked again, and the test step's two


def test_a_step_interrupted_twice_fails_with_a_comment_naming_it(deployment: Deployment) -> None:
    d = deployment
    script_run(d)
    number, since = approve(d, "Killed twice while the tests run")
    for _ in range(2):
        wait_for_the_tests(d, number)
        kill_worker_and_start_another(d)
    body = d.wait_comment(number, "issuesmith stopped at the **test** step")
    assert "the worker running this step stopped before the step ended (2 times" in body and "`/retry`" in body
    assert not [p for p in d.github.pulls(REPO) if f"Closes #{number}" in p.body]
    assert (len(asked(d, CODER, since)), len(asked(d, TESTER, since))) == (2, 4)


def test_worker_stopped_while_the_tests_run_stops_them_within_its_grace_and_the_next_worker_finishes(
        deployment: Deployment) -> None:
    d = deployment
    idle = d.procs[-1]
    idle.kill()  # replaced by a worker with a short grace
    idle.wait(timeout=10)
    start_worker(d, ISSUESMITH_SHUTDOWN_GRACE="1")
    script_run(d)
    number, since = approve(d, "Stopped while the tests run")
    wait_for_the_tests(d, number)
    stopping = d.procs[-1]
    stopping.send_signal(signal.SIGTERM)
    assert stopping.wait(timeout=30) == 0
    start_worker(d)
    assert_one_pull_request(d, number)
    assert (len(asked(d, CODER, since)), len(asked(d, TESTER, since))) == (2, 4)
    assert "dubious ownership" not in d.logs.read_text()
