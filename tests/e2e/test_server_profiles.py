"""Every server profile × the demo's whole flow, through real processes.

One deployment (`issuesmith serve`, real Redis, the GitHub stand-in) is shared by the profiles; for each
profile the OpenAI stand-in runs as a process of its own playing that server (`python -m
standins.model_server`) and replaying the demo's transcript, and an `issuesmith worker` is started with
`OPENAI_BASE_URL` pointing at it and the settings that server needs (`ServerProfile.settings`, the ones
the README's model section names), then stopped before the next profile's. We act and look as people do:
label → plan comment → `/approve` → the pull request, its branch and the results comment.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.cli.demo import ISSUE_BODY, ISSUE_TITLE, TRANSCRIPT
from standins.profiles import PROFILES
from tests.e2e.processes import PROFILES_REDIS_URL, Deployment, deploy, descendants, free_port, start_worker
from tests.flows import GOOD_LINES
from tests.world import MODEL_KEY, REPO, wait_until

FLOW_SECONDS = 300.0
"""How long one step of the flow may take before the test gives up (a bound against hangs, not a goal)."""
GRACE_SECONDS = 30.0
"""How long a stopped process may take to exit before it is killed (the worker's own grace is 20 s)."""
CANNOT_FIT = {"ollama-small-ctx": "more than the model's input window"}
"""Profiles whose window holds no run of the demo: the run must stop at the plan step saying why."""


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One deployment for every profile, without its own worker (each profile brings one)."""
    with deploy(tmp_path_factory.mktemp("profiles"), redis_url=PROFILES_REDIS_URL) as d:
        stop(d.procs[-1])
        yield d


@contextlib.contextmanager
def model_server(profile: str, port: int, log: Path) -> Iterator[str]:
    """The OpenAI stand-in as its own process on `port`, playing `profile` and replaying the demo; yields its
    /v1 URL once it listens."""
    with log.open("ab") as errors:
        proc = subprocess.Popen([sys.executable, "-m", "standins.model_server", "--profile", profile, "--transcript",
                                 str(TRANSCRIPT), "--api-key", MODEL_KEY, "--port", str(port)],
                                stdout=subprocess.PIPE, stderr=errors)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
        assert first.startswith("listening on http://"), f"the model server did not start: {first!r}"
        yield first.split()[-1] + "/v1"
    finally:
        stop(proc)


@contextlib.contextmanager
def worker_for(d: Deployment, env: dict[str, str]) -> Iterator[None]:
    """An `issuesmith worker` with `env` added to the deployment's, stopped after."""
    proc = start_worker(d, **env)
    try:
        yield
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then what an orchestrator does after its grace period: SIGKILL it and everything below it."""
    proc.terminate()
    try:
        proc.wait(timeout=GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        for pid in [proc.pid, *descendants(proc.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=GRACE_SECONDS)


def wait_for(d: Deployment, predicate: Callable[[], Any], what: str) -> Any:
    """`predicate`'s first truthy value; on a timeout, the failure shows the end of the processes' log."""
    try:
        return wait_until(predicate, timeout=FLOW_SECONDS, what=what)
    except AssertionError as exc:
        tail = "\n".join(d.logs.read_text(errors="replace").splitlines()[-40:])
        raise AssertionError(f"{exc}\n--- last lines of the serve/worker log ---\n{tail}") from None


def comment_with(d: Deployment, number: int, text: str) -> Callable[[], str | None]:
    return lambda: next((body for body in d.bot_comments(number) if text in body), None)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_server_profile_takes_the_demo_from_label_to_pull_request_through_the_real_worker(
        profile: str, shared: Deployment) -> None:
    d = shared
    settings = dict(PROFILES[profile].settings)
    port = free_port()  # known before either starts, so the worker and the model server start side by side
    with worker_for(d, {"OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", **settings}), \
            model_server(profile, port, d.logs):
        number = d.github.create_issue(REPO, "carol", f"{ISSUE_TITLE} ({profile})", ISSUE_BODY)
        d.github.label_issue(REPO, number, "issuesmith", by="alice")
        if profile in CANNOT_FIT:
            said = wait_for(d, comment_with(d, number, "stopped at"), "the failure comment")
            assert "stopped at the **plan** step" in said and CANNOT_FIT[profile] in said, said
            assert "ISSUESMITH_MODEL_MAX_INPUT_TOKENS" in said and "`/retry`" in said, said
            assert not [p for p in d.github.pulls(REPO) if f"Closes #{number}" in p.body]
            return
        plan = wait_for(d, comment_with(d, number, "Plan v1: Count words separated by any whitespace"), "the plan")
        assert "Reply `/approve` to implement this plan" in plan
        d.github.comment(REPO, number, "/approve", by="alice")
        results = wait_for(d, comment_with(d, number, "### Review and tests"), "the results comment")
    assert not any("stopped at" in body for body in d.bot_comments(number))
    [pull] = [p for p in d.github.pulls(REPO) if f"Closes #{number}" in p.body]
    assert pull.head.startswith(f"issuesmith/{number}-") and not pull.draft, pull
    assert "passed, 0 failed" in pull.body and "passed, 0 failed" in results
    diff = branch_diff(d, pull.base, pull.head)
    assert set(re.findall(r"^diff --git a/(\S+)", diff, re.M)) == {"textstats/__init__.py", "tests/test_textstats.py"}
    assert all(line in diff.splitlines() for line in GOOD_LINES), diff


def branch_diff(d: Deployment, base: str, head: str) -> str:
    """The pull request's branch against its base, in the GitHub stand-in's repository."""
    return subprocess.run(["git", "diff", f"{base}...{head}"], cwd=d.github.repo_path(REPO), capture_output=True,
                          text=True, check=True).stdout
