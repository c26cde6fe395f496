"""The demo's whole flow driven in a `World` with a scripted trajectory, and what came of it.

`demo_flow` opens the demo's issue, labels it, approves the plan and works every job to the end
(the real web app, Redis, RQ, git, the sample repository's own tests), with the model stand-in
replaying a trajectory under a server profile. `Outcome` is what a user would see: the run's end
state, the pull request's diff, the failure comment, and what the model server was asked.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass

from bot.cli.demo import ISSUE_BODY, ISSUE_TITLE
from bot.runs.model import State
from standins.trajectory import Trajectory, script
from tests.world import REPO, World

GOOD_LINES = ('-    return len(text.split(" "))', "+    return len(text.split())",
              "+def test_word_count_tabs_and_newlines():", "+def test_word_count_empty():")
"""Lines the demo's good change has (`bot/cli/demo/transcript.jsonl`)."""
_PYTHON_ERROR = re.compile(r"\b[A-Z]\w*(Error|Exception)\b: ")


@dataclass(frozen=True)
class Outcome:
    """How one flow ended."""

    state: str
    diff: str  # of the pull request's branch against main ("" without a pull request)
    failure: str  # the "stopped at" comment ("" when none)
    calls: int  # chat requests the model server answered with a completion
    refused: int  # chat requests it refused (4xx/5xx)
    tokens: int  # prompt + completion tokens the server saw, estimated alike for every profile
    seconds: float

    @property
    def pull_request(self) -> bool:
        return self.state == State.PR_OPEN and bool(self.diff)

    @property
    def correct_patch(self) -> bool:
        """Whether the diff is the demo's good change: `word_count` fixed and the two tests added, nothing else."""
        files = set(re.findall(r"^diff --git a/(\S+)", self.diff, re.M))
        return files == {"textstats/__init__.py", "tests/test_textstats.py"} and all(
            line in self.diff.splitlines() for line in GOOD_LINES)

    @property
    def named_failure(self) -> bool:
        """A failure comment that says what went wrong in words, not a bare Python exception."""
        return bool(self.failure) and "stopped at" in self.failure and not _PYTHON_ERROR.search(self.failure)


def demo_flow(world: World, trajectory: Trajectory) -> Outcome:
    """Label → plan → /approve → code, review, test → pull request, with `trajectory` as the model."""
    started = time.monotonic()
    world.new_issue(title=ISSUE_TITLE, body=ISSUE_BODY)
    script(world.openai, trajectory)
    world.label()
    world.drain()
    run = world.run()
    if run is not None and run.state == State.AWAITING_APPROVAL:
        world.say("/approve", by="carol")
        world.drain()
        run = world.run()
    state = run.state.value if run is not None else "NO_RUN"
    failure = next((c.body for c in world.bot_comments() if "stopped at" in c.body), "")
    exchanges = [e for e in world.openai.exchanges if e.path == "/chat/completions"]
    answered = [e for e in exchanges if e.status == 200]
    return Outcome(state, _pull_diff(world), failure, len(answered), len(exchanges) - len(answered),
                   sum(_tokens(e.request_json, e.response_json) for e in answered), time.monotonic() - started)


def _pull_diff(world: World) -> str:
    pulls = world.github.pulls(REPO)
    if not pulls:
        return ""
    pull = pulls[-1]
    return subprocess.run(["git", "diff", f"{pull.base}...{pull.head}"], cwd=world.github.repo_path(REPO),
                          capture_output=True, text=True, check=True).stdout


def _tokens(request: object, response: object) -> int:
    """The request's messages and tools plus the reply's message, at four characters a token."""
    asked = json.dumps([request.get(k) for k in ("messages", "tools")]) if isinstance(request, dict) else ""
    said = json.dumps(response["choices"][0]["message"]) if isinstance(response, dict) else ""
    return (len(asked) + len(said)) // 4
