"""End to end: `issuesmith serve` and `issuesmith worker` as real processes, real Redis, stand-ins.

Nothing of ours is imported into the processes under test: they read their settings from
the environment like a deployment does, and we observe only what a user would see on
GitHub plus the run state in Redis.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from bot.runs.model import Run, State
from bot.runs.store import RunStore
from bot.web.webhooks import sign
from standins.github import FakeGitHub
from standins.openai import FakeOpenAI, Reply
from tests.world import (
    BOT,
    CODER,
    MODEL_KEY,
    REPO,
    SAMPLE_PLAN,
    TESTER,
    WEBHOOK_SECRET,
    contract_problems,
    make_stand_ins,
    script_implementation,
    wait_until,
)

REDIS_URL = os.environ.get("ISSUESMITH_TEST_E2E_REDIS_URL", "redis://127.0.0.1:6379/14")
BIN = Path(sys.executable).parent / "issuesmith"


@dataclass
class Deployment:
    """The processes under test and the stand-ins they talk to."""

    github: FakeGitHub
    openai: FakeOpenAI
    web_url: str
    store: RunStore
    logs: Path
    env: dict[str, str]
    root: Path
    procs: list[subprocess.Popen[bytes]]

    def issue(self, title: str) -> int:
        return self.github.create_issue(REPO, "carol", title, f"{title}. See textstats/__init__.py.")

    def bot_comments(self, number: int) -> list[str]:
        return [c.body for c in self.github.comments(REPO, number) if c.user == BOT]

    def run(self, number: int) -> Run | None:
        return self.store.for_issue(REPO, number)

    def wait_state(self, number: int, state: State) -> Run:
        return self._wait(lambda: (r := self.run(number)) and r.state == state and r, f"run {state}")

    def wait_comment(self, number: int, text: str) -> str:
        return self._wait(lambda: next((b for b in self.bot_comments(number) if text in b), None),
                          f"a comment with {text!r}")

    def _wait(self, predicate: Callable[[], Any], what: str) -> Any:
        try:
            return wait_until(predicate, what=what)
        except AssertionError as exc:
            tail = "\n".join(self.logs.read_text(errors="replace").splitlines()[-40:])
            raise AssertionError(f"{exc}\n--- last lines of the serve/worker log ---\n{tail}") from None

    def plan_for(self, title: str, *replies: Reply) -> None:
        self.openai.script(*(replies or (Reply.json(SAMPLE_PLAN, usage=(1500, 400)),)), match=title)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(BIN), *args], env=env, cwd=cwd, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    from standins.github import generate_app_key

    root = tmp_path_factory.mktemp("e2e")
    private, public = generate_app_key()
    key_file = root / "app.pem"
    key_file.write_text(private)
    github, model, servers = make_stand_ins(root, public)
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    client.flushdb()
    port = _free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(root), "ISSUESMITH_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "ISSUESMITH_APP_ID": "101", "ISSUESMITH_PRIVATE_KEY_PATH": str(key_file),
           "ISSUESMITH_REDIS_URL": REDIS_URL, "ISSUESMITH_GITHUB_API_URL": github.api_url,
           "OPENAI_API_KEY": MODEL_KEY, "OPENAI_BASE_URL": f"{servers[1].url}/v1",
           "ISSUESMITH_WORK_DIR": str(root / "work"), "ISSUESMITH_JOB_RETRY_INTERVALS": "[0]",
           "ISSUESMITH_GITHUB_REQUEST_SPACING": "0", "ISSUESMITH_GITHUB_WRITE_SPACING": "0"}
    logs = root / "processes.log"
    procs = [_start(["serve", "--port", str(port)], env, root, logs), _start(["worker"], env, root, logs)]
    web_url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{web_url}/healthz"), what="issuesmith serve")
        github.set_webhook(f"{web_url}/webhook", WEBHOOK_SECRET)
        yield Deployment(github, model, web_url, RunStore(client), logs, env, root, procs)
        problems = contract_problems(github, model)
        assert not problems, "\n".join(problems[:20])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:  # a busy machine: what an orchestrator does after its grace period
                for pid in [proc.pid, *_descendants(proc.pid)]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                proc.wait(timeout=20)
        for server in servers:
            server.stop()
        github.close()
        client.flushdb()


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_label_reacts_and_posts_the_plan_once_even_if_redelivered(deployment: Deployment) -> None:
    d = deployment
    number = d.issue("Double spaces miscount")
    d.plan_for("Double spaces miscount")
    d.github.label_issue(REPO, number, "issuesmith", by="alice")
    wait_until(lambda: (BOT, "eyes") in d.github.reactions(REPO, number), what="👀")
    body = d.wait_comment(number, "Plan v1: Count words separated by any whitespace")
    assert "Reply `/approve` to implement this plan" in body

    guid = [x for x in d.github.deliveries if x.event == "issues" and x.payload["issue"]["number"] == number][-1].guid
    d.github.redeliver(guid)
    wait_until(lambda: d.github.deliveries[-1].status_code == 200, what="redelivery answered")
    time.sleep(0.5)
    assert len([b for b in d.bot_comments(number) if "key=status" not in b]) == 1


def test_bad_signature_is_refused_and_stores_nothing(deployment: Deployment) -> None:
    d = deployment
    before = d.store.redis.dbsize()
    body = json.dumps({"action": "labeled"}).encode()
    response = httpx.post(f"{d.web_url}/webhook", content=body, headers={
        "X-GitHub-Event": "issues", "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(b"wrong-secret-value", body)})
    assert response.status_code == 401
    assert d.store.redis.dbsize() == before


def test_revise_stale_approve_non_writer_then_writer_approve_opens_a_pr(deployment: Deployment) -> None:
    d = deployment
    title = "Tabs are not word separators"
    number = d.issue(title)
    d.plan_for(title, Reply.json(SAMPLE_PLAN), Reply.json({**SAMPLE_PLAN, "title": "Plan two"}))
    d.github.label_issue(REPO, number, "issuesmith", by="alice")
    d.wait_comment(number, "Plan v1:")

    d.github.comment(REPO, number, "/revise handle tabs explicitly", by="carol")
    d.wait_comment(number, "Plan v2: Plan two")
    d.wait_comment(number, "superseded by plan v2")

    d.github.comment(REPO, number, "/approve v1", by="alice")
    d.wait_comment(number, "answered plan v1, but plan v2 has been posted")
    d.github.comment(REPO, number, "/approve", by="mallory")
    d.wait_comment(number, "Only people with write access")
    assert d.run(number).state == State.AWAITING_APPROVAL  # type: ignore[union-attr]

    script_implementation(d.openai)
    d.github.comment(REPO, number, "/approve", by="carol")
    run = d.wait_state(number, State.PR_OPEN)
    assert (run.approved_version, run.approved_by) == (2, "carol")
    [pull] = [p for p in d.github.pulls(REPO) if f"Closes #{number}" in p.body]
    assert pull.head.startswith(f"issuesmith/{number}-") and not pull.draft
    assert "3 passed, 0 failed" in pull.body  # the sample repository's own suite ran, and passes now
    d.wait_comment(number, "### Review and tests")


def test_invalid_plan_three_times_fails_with_an_explanation(deployment: Deployment) -> None:
    d = deployment
    title = "Empty text has one word"
    number = d.issue(title)
    d.plan_for(title, *(Reply.json({"summary": "incomplete"}) for _ in range(3)))
    d.github.label_issue(REPO, number, "issuesmith", by="alice")
    body = d.wait_comment(number, "stopped at the **plan** step")
    assert "does not validate as a Plan" in body and "`/retry`" in body
    assert d.run(number).state == State.FAILED  # type: ignore[union-attr]


def test_rate_limited_model_then_success(deployment: Deployment) -> None:
    d = deployment
    title = "Newlines are ignored"
    number = d.issue(title)
    d.plan_for(title, Reply.error(429, headers={"retry-after-ms": "50"}), Reply.json(SAMPLE_PLAN))
    d.github.label_issue(REPO, number, "issuesmith", by="alice")
    d.wait_comment(number, "Plan v1:")
    assert d.run(number).state == State.AWAITING_APPROVAL  # type: ignore[union-attr]


def test_logs_are_structured_bound_and_free_of_secrets(deployment: Deployment) -> None:
    lines = [json.loads(line) for line in deployment.logs.read_text().splitlines() if line.startswith("{")]
    bound = [entry for entry in lines if entry.get("run") and entry.get("repo") == REPO]
    assert bound and all("issue" in entry for entry in bound)
    assert any(entry.get("delivery") for entry in lines)
    text = deployment.logs.read_text()
    assert MODEL_KEY not in text and WEBHOOK_SECRET not in text and "ghs_" not in text


def _kill_worker_and_start_another(d: Deployment) -> None:
    worker = d.procs[-1]
    for pid in [worker.pid, *_descendants(worker.pid)]:  # RQ's work horse runs in a session of its own
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.wait(timeout=10)
    d.procs.append(_start(["worker"], d.env, d.root, d.logs))


def test_worker_killed_mid_step_is_recovered_by_the_next_worker(deployment: Deployment) -> None:
    """Runs last in this module: it replaces the worker process three times (plan, code, test)."""
    d = deployment
    title = "Worker dies while planning"
    number = d.issue(title)
    d.plan_for(title, Reply.hang(30), Reply.json(SAMPLE_PLAN))
    d.github.label_issue(REPO, number, "issuesmith", by="alice")
    d._wait(lambda: any(title in str(r["messages"]) for r in d.openai.requests), "the plan job's model call")
    _kill_worker_and_start_another(d)
    d.wait_comment(number, "Plan v1:")
    assert len([b for b in d.bot_comments(number) if "issuesmith:plan" in b]) == 1
    assert "requeued jobs left behind by dead workers" in d.logs.read_text()

    # now while the Coder is working, and again while the Tester is
    coding = len(d.openai.requests)
    d.openai.script(Reply.hang(30), match=CODER)
    d.openai.script(Reply.hang(30), match=TESTER)
    script_implementation(d.openai)
    d.github.comment(REPO, number, "/approve", by="alice")
    for role, what in ((CODER, "the Coder's call"), (TESTER, "the Tester's call")):
        d._wait(lambda role=role: any(role in str(r["messages"][0]) for r in d.openai.requests[coding:]), what)
        _kill_worker_and_start_another(d)
    run = d.wait_state(number, State.PR_OPEN)
    d.wait_comment(number, "### Review and tests")  # posted by the report step, just after the PR opens
    assert len([p for p in d.github.pulls(REPO) if f"Closes #{number}" in p.body]) == 1
    assert len([b for b in d.bot_comments(number) if "### Review and tests" in b]) == 1
    assert [e["step"] for e in d.store.entries(run.id) if e["event"] == "resumed"] == ["prepare", "prepare", "code"]
