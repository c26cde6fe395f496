"""The real-process harness of the end-to-end suite: `issuesmith serve` and `issuesmith worker` started
from the environment like a deployment, the GitHub and OpenAI stand-ins, and what a person sees.

The `deployment` fixture (module scope, in `conftest.py`) gives each test module processes of its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis

from bot.runs.model import Run, State
from bot.runs.store import RunStore
from standins.github import FakeGitHub
from standins.openai import FakeOpenAI, Reply
from tests.world import (
    BOT,
    MODEL_KEY,
    REPO,
    SAMPLE_PLAN,
    WEBHOOK_SECRET,
    contract_problems,
    make_stand_ins,
    wait_until,
)

FLOW_SECONDS = 120.0
REDIS_URL = os.environ.get("ISSUESMITH_TEST_E2E_REDIS_URL", "redis://127.0.0.1:6379/14")
PROFILES_REDIS_URL = os.environ.get("ISSUESMITH_TEST_PROFILES_REDIS_URL", "redis://127.0.0.1:6379/11")
"""The server profiles' deployment (`test_server_profiles.py`): a database of its own, since the session's
deployment and its worker live on beside it (its worker would take the other's jobs, its flush their runs)."""
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
        """`predicate`'s first truthy value, within `FLOW_SECONDS` (a bound against hangs, not a goal: an implement
        job runs the setup command and up to five sandboxed test runs, slow on a busy machine)."""
        try:
            return wait_until(predicate, timeout=FLOW_SECONDS, what=what)
        except AssertionError as exc:
            tail = "\n".join(self.logs.read_text(errors="replace").splitlines()[-40:])
            raise AssertionError(f"{exc}\n--- last lines of the serve/worker log ---\n{tail}") from None

    def plan_for(self, title: str, *replies: Reply) -> None:
        self.openai.script(*(replies or (Reply.json(SAMPLE_PLAN, usage=(1500, 400)),)), match=title)


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start `issuesmith ARGS` in a session of its own, its output appended to `log`."""
    return subprocess.Popen([str(BIN), *args], env=env, cwd=cwd, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


@contextlib.contextmanager
def deploy(root: Path, redis_url: str = REDIS_URL, **extra_env: str) -> Iterator[Deployment]:
    """`issuesmith serve` and one `issuesmith worker` on the stand-ins, with `extra_env` set, on the Redis database
    at `redis_url` (flushed first); stopped after."""
    from standins.github import generate_app_key

    private, public = generate_app_key()
    key_file = root / "app.pem"
    key_file.write_text(private)
    github, model, servers = make_stand_ins(root, public)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(root), "ISSUESMITH_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "ISSUESMITH_APP_ID": "101", "ISSUESMITH_PRIVATE_KEY_PATH": str(key_file),
           "ISSUESMITH_REDIS_URL": redis_url, "ISSUESMITH_GITHUB_API_URL": github.api_url,
           "OPENAI_API_KEY": MODEL_KEY, "OPENAI_BASE_URL": f"{servers[1].url}/v1",
           "ISSUESMITH_WORK_DIR": str(root / "work"), "ISSUESMITH_JOB_RETRY_INTERVALS": "[0]",
           "ISSUESMITH_GITHUB_REQUEST_SPACING": "0", "ISSUESMITH_GITHUB_WRITE_SPACING": "0", **extra_env}
    logs = root / "processes.log"
    procs = [start(["serve", "--port", str(port)], env, root, logs), start(["worker"], env, root, logs)]
    web_url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{web_url}/healthz"), what="issuesmith serve")
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
                for pid in [proc.pid, *descendants(proc.pid)]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                proc.wait(timeout=20)
        for server in servers:
            server.stop()
        github.close()
        client.flushdb()


def descendants(pid: int) -> list[int]:
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


def running(pid: int, word: str) -> bool:
    """Whether a process below `pid` has `word` in its command line (e.g. the repository's tests)."""
    for child in descendants(pid):
        with contextlib.suppress(OSError):
            if word.encode() in Path(f"/proc/{child}/cmdline").read_bytes():
                return True
    return False


def answers(url: str) -> bool:
    """Whether `url` answers 200 now."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def kill_worker_and_start_another(d: Deployment) -> None:
    """SIGKILL the worker and everything below it (as a lost machine or an OOM-killed container), start another."""
    worker = d.procs[-1]
    for pid in [worker.pid, *descendants(worker.pid)]:  # RQ's work horse runs in a session of its own
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.wait(timeout=10)
    start_worker(d)


def start_worker(d: Deployment, **env: str) -> subprocess.Popen[bytes]:
    """Start one more `issuesmith worker` (the last of `d.procs`), with `env` added to the deployment's."""
    d.procs.append(start(["worker"], {**d.env, **env}, d.root, d.logs))
    return d.procs[-1]
