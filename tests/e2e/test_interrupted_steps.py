"""End to end: a worker killed (SIGKILL) or stopped (SIGTERM) in the middle of a step, as real processes.

What a person sees is what is asserted: one pull request in the end (or a failure comment naming
the step and `/retry`), and the model stand-in asked for the work already done only once.
"""

from __future__ import annotations

import os
import signal

from bot.runs.model import State
from standins.openai import Reply
from tests.e2e.processes import Deployment, descendants, kill_worker_and_start_another, start_worker
from tests.world import APPROVE, CODER, FIX, REPO, REVIEWER, TESTER

SLOW_TEST = "import time\n\n\ndef test_takes_its_time():\n    time.sleep({seconds})\n"


def script_run(d: Deployment, coder_seconds: float = 0, test_seconds: float = 0) -> None:
    """The Coder's edit then its answer (after `coder_seconds`), an approving review, and a Tester
    that adds a test sleeping `test_seconds`."""
    d.openai.script(Reply.tool_calls([FIX]),
                    Reply.json({"summary": "Split on any whitespace.", "notes": ""}).slowly(coder_seconds),
                    match=CODER)
    d.openai.script(Reply.json(APPROVE), match=REVIEWER)
    slow = ("create_file", {"path": "tests/test_slow.py", "content": SLOW_TEST.format(seconds=test_seconds)})
    d.openai.script(Reply.tool_calls([slow]),
                    Reply.json({"summary": "A slow test.", "tests_added": ["tests/test_slow.py"]}), match=TESTER)


def approved_issue(d: Deployment, title: str) -> int:
    number = d.issue(title)
    d.plan_for(title)
    d.github.label_issue(REPO, number, "issuesmith", by="alice")
    d.wait_comment(number, "Plan v1:")
    return number


def requests_of(d: Deployment, role: str, since: int) -> int:
    return sum(1 for r in d.openai.requests[since:] if role in str(r["messages"][0]))


def test_killed_while_the_tests_run(deployment: Deployment) -> None:
    d = deployment
    number = approved_issue(d, "Killed while the tests run")
    since = len(d.openai.requests)
    script_run(d, test_seconds=6)
    d.github.comment(REPO, number, "/approve", by="alice")
    d._wait(lambda: requests_of(d, TESTER, since) >= 2, "the Tester's answer")
    import time
    time.sleep(3)
    kill_worker_and_start_another(d)
    d.wait_comment(number, "### Review and tests")
    print("CODER", requests_of(d, CODER, since), "TESTER", requests_of(d, TESTER, since))
    print(d.bot_comments(number))


def test_worker_only_killed_while_the_coder_works(deployment: Deployment) -> None:
    d = deployment
    number = approved_issue(d, "Killed while the Coder works")
    since = len(d.openai.requests)
    script_run(d, coder_seconds=5)
    d.github.comment(REPO, number, "/approve", by="alice")
    d._wait(lambda: requests_of(d, CODER, since) >= 2, "the Coder's second call")
    worker = d.procs[-1]
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    print("left", descendants(worker.pid))
    start_worker(d)
    d.wait_comment(number, "### Review and tests")
    print("CODER", requests_of(d, CODER, since), "TESTER", requests_of(d, TESTER, since))
    print(d.bot_comments(number))
