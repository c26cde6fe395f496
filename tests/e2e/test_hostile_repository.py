"""End to end: a hostile repository against `issuesmith serve` and `issuesmith worker` as real processes.

The repository's test command plants nested repositories whose configuration runs a command,
hooks, attributes, links and a fifo (`tests.security.test_hostile_git`); the worker process
then runs its fix loop, publishes, and plans a second issue in the same work tree. What a
person sees: the pull request holds only the planned files, the second plan is posted, and no
planted command ever ran on the worker (its payloads write into a folder anyone may write).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bot.runs.model import State
from standins.openai import Reply
from tests.e2e.processes import Deployment
from tests.security.test_hostile_git import hostile_files, markers, nested_git, push_hostile_commit  # noqa: F401
from tests.world import APPROVE, CODER, FIX, REPO, REVIEWER, SAMPLE_PLAN, TESTER

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/bwrap").exists(),
                                reason="the worker's sandbox (bubblewrap) needs root, as in CI")


def test_a_hostile_repository_gets_nothing_from_the_worker_process(deployment: Deployment,
                                                                   markers: Path) -> None:  # noqa: F811
    d = deployment
    push_hostile_commit(d.github, hostile_files(markers), gitlink="vendor/lib")
    title = "Hostile repository, real worker"
    number = d.issue(title)
    d.plan_for(title)
    d.github.label_issue(REPO, number, "issuesmith", by="alice")
    d.wait_comment(number, "Plan v1:")
    d.openai.script(Reply.tool_calls([FIX]), Reply.json({"summary": "Split on any whitespace.", "notes": ""}),
                    match=CODER)
    d.openai.script(Reply.json(APPROVE), match=REVIEWER)
    d.openai.script(Reply.tool_calls([("create_file", {"path": "tests/test_hostile.py",
                                                       "content": "def test_new():\n    assert False\n"})]),
                    Reply.json({"summary": "added", "tests_added": ["test_new"]}), match=TESTER)
    d.openai.script(Reply.tool_calls([
        ("search_code", {"query": "word_count"}), ("view_file", {"path": "textstats/__init__.py"}),
        ("replace_text", {"path": "tests/test_hostile.py", "old_text": "assert False", "new_text": "assert True"})]),
        Reply.json({"summary": "fixed the new test", "notes": ""}), match=CODER)
    d.github.comment(REPO, number, "/approve", by="alice")
    d.wait_state(number, State.PR_OPEN)
    results = d.wait_comment(number, "### Review and tests")
    assert "passed" in results
    [pull] = [p for p in d.github.pulls(REPO) if f"Closes #{number}" in p.body]
    changed = subprocess.run(["git", "diff", "--name-only", f"main...{pull.head}"], cwd=d.github.repo_path(REPO),
                             capture_output=True, text=True, check=True).stdout.split()
    assert sorted(changed) == ["tests/test_hostile.py", "textstats/__init__.py"]

    second = "Hostile repository, the next plan"
    again = d.issue(second)
    d.plan_for(second, Reply.tool_calls([("search_code", {"query": "def word_count"})]), Reply.json(SAMPLE_PLAN))
    d.github.label_issue(REPO, again, "issuesmith", by="alice")
    d.wait_comment(again, "Plan v1:")
    assert sorted(os.listdir(markers)) == [], "a planted command ran in the worker process"
    assert nested_git(d.root / "work") == []
