"""Redis down for ~10 s under a real `issuesmith serve` and `issuesmith worker`: neither exits, the
webhook answers 503 while it cannot store a delivery, and once Redis is back the redelivered command
is answered on the stand-in GitHub."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from standins.github import FakeGitHub, generate_app_key
from standins.openai import FakeOpenAI, Reply
from tests.e2e.processes import answers, free_port, start
from tests.integration.test_redis_restart import PrivateRedis
from tests.world import BOT, MODEL_KEY, REPO, SAMPLE_PLAN, WEBHOOK_SECRET, make_stand_ins, wait_until

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
OUTAGE_SECONDS = 10


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[tuple[PrivateRedis, list[subprocess.Popen[bytes]], FakeGitHub, FakeOpenAI,
                                                 Path]]:
    server = PrivateRedis(tmp_path / "redis", persistent=True)
    server.root.mkdir()
    server.start()
    private, public = generate_app_key()
    (tmp_path / "app.pem").write_text(private)
    github, model, servers = make_stand_ins(tmp_path, public)
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ISSUESMITH_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "ISSUESMITH_APP_ID": "101", "ISSUESMITH_PRIVATE_KEY_PATH": str(tmp_path / "app.pem"),
           "ISSUESMITH_REDIS_URL": server.url, "ISSUESMITH_GITHUB_API_URL": github.api_url,
           "OPENAI_API_KEY": MODEL_KEY, "OPENAI_BASE_URL": f"{servers[1].url}/v1",
           "ISSUESMITH_WORK_DIR": str(tmp_path / "work"), "ISSUESMITH_JOB_RETRY_INTERVALS": "[0]",
           "ISSUESMITH_GITHUB_REQUEST_SPACING": "0", "ISSUESMITH_GITHUB_WRITE_SPACING": "0"}
    logs = tmp_path / "processes.log"
    procs = [start(["serve", "--port", str(port)], env, tmp_path, logs), start(["worker"], env, tmp_path, logs)]
    web_url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{web_url}/healthz"), what="issuesmith serve")
        github.set_webhook(f"{web_url}/webhook", WEBHOOK_SECRET)
        yield server, procs, github, model, logs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
        for stand_in in servers:
            stand_in.stop()
        github.close()
        server.stop()


def test_worker_and_web_survive_a_redis_outage_and_answer_after_it(processes: tuple) -> None:  # type: ignore[type-arg]
    server, procs, github, _model, logs = processes
    number = github.create_issue(REPO, "carol", "Anything", "No run here yet.")
    time.sleep(2)  # the worker is blocked in its dequeue when Redis goes

    server.stop()
    github.comment(REPO, number, "/status", "alice")
    github.wait_for_deliveries()
    refused = github.deliveries[-1]
    assert refused.status_code == 503  # GitHub marks it failed; it can be redelivered
    time.sleep(OUTAGE_SECONDS)
    assert [p.poll() for p in procs] == [None, None], logs.read_text(errors="replace")[-3000:]
    server.start()

    github.redeliver(refused.guid)
    github.wait_for_deliveries()
    assert github.deliveries[-1].status_code == 202
    wait_until(lambda: any("no issuesmith run on this issue yet" in c.body
                           for c in github.comments(REPO, number) if c.user == BOT),
               timeout=60, what="the answer to the redelivered command")
    assert [p.poll() for p in procs] == [None, None]
    text = logs.read_text(errors="replace")
    # RQ's dequeue retries by itself and logs each attempt (1, 2, 4, 8 s apart): shown once per outage; when
    # RQ's loop gives up instead, the command's own wait says so once
    assert text.count("could not connect to Redis") + text.count("Redis is unreachable") == 1


def test_redis_down_while_a_job_works_it_runs_again_once_redis_is_back(processes: tuple) -> None:  # type: ignore[type-arg]
    """The plan job is in its model call when Redis goes: the job cannot record anything, RQ's loop ends on the
    Redis error, and the worker command stops that job's horse, waits, and queues the job again at once when
    Redis is back (not after the dead registration goes stale, 600 s): the plan is posted."""
    server, procs, github, model, logs = processes
    model.script(Reply.json(SAMPLE_PLAN).slowly(3), Reply.json(SAMPLE_PLAN), match="Planner of issuesmith")
    number = github.create_issue(REPO, "carol", "word_count is wrong with double spaces", "`word_count('a  b')` is 3.")
    github.label_issue(REPO, number, "issuesmith", "alice")
    wait_until(lambda: model.requests, timeout=60, what="the Planner at work")

    server.stop()
    time.sleep(OUTAGE_SECONDS)
    assert [p.poll() for p in procs] == [None, None], logs.read_text(errors="replace")[-3000:]
    server.start()

    wait_until(lambda: any("issuesmith:plan" in c.body for c in github.comments(REPO, number) if c.user == BOT),
               timeout=120, what="the plan comment after the outage")
    assert [p.poll() for p in procs] == [None, None]
    assert "requeued jobs left behind by dead workers" in logs.read_text(errors="replace")  # at once, not in 600 s
