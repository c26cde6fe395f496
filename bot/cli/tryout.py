"""A whole issuesmith on one machine, for trying it out: the demo and local mode both run on this.

`Playground.start` brings up, under one directory: a Redis (`bot.cli.localredis`), the GitHub
stand-in that the tests use (`standins`) holding one repository, the real web app
(`issuesmith serve`) and a real worker (`issuesmith worker`) as processes, with the stand-in
delivering signed webhooks to the web app. A maintainer of the repository then acts through
the stand-in as a person would on GitHub (open an issue, label it, comment), and
`Playground.follow` prints the run's execution log as it grows, until the run reaches a state.

Nothing here is a shortcut through the product: the web app verifies the webhooks, the worker
takes jobs from Redis, clones over HTTP, calls the model endpoint (or replays a transcript)
and runs the tests in the sandbox, exactly as in production.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx
import redis

from bot.github.comments import carries_marker, plan_marker
from bot.runs.model import Run, State
from bot.runs.store import RunStore
from standins.github import FakeGitHub, Pull, generate_app_key
from standins.server import ServerThread

APP_ID = 1
INSTALLATION = 1
MAINTAINER = "maintainer"
BOT = "issuesmith[bot]"
START_SECONDS = 30.0
NOTICE_SECONDS = 30.0
"""How long a failed run's notice is waited for after the run's state says FAILED (`Playground.said_at_end`)."""
FINAL = (State.FAILED, State.CANCELLED)
OWNED = frozenset({"ISSUESMITH_WEBHOOK_SECRET", "ISSUESMITH_APP_ID", "ISSUESMITH_PRIVATE_KEY_PATH",
                   "ISSUESMITH_PRIVATE_KEY", "ISSUESMITH_REDIS_URL", "ISSUESMITH_GITHUB_API_URL",
                   "ISSUESMITH_WORK_DIR", "ISSUESMITH_GITHUB_REQUEST_SPACING", "ISSUESMITH_GITHUB_WRITE_SPACING",
                   "ISSUESMITH_BOT_LOGIN"})
"""The settings the playground sets itself: the user's values (meant for their real GitHub App) never reach it."""
_MARKER = re.compile(r"<!--.*?-->", re.S)


class TryoutError(Exception):
    """The playground could not start, or the run did not get where it should (the message says why)."""


@dataclass
class Playground:
    """The running pieces, and the maintainer's hands on the stand-in."""

    root: Path
    repo: str
    github: FakeGitHub
    store: RunStore
    out: TextIO
    started: float
    servers: list[ServerThread] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_path: Path | None = None
    _seen: int = 0

    @classmethod
    @contextlib.contextmanager
    def start(cls, root: Path, repo: str, source: Path, redis_url: str, env: Mapping[str, str],
              out: TextIO) -> Iterator[Playground]:
        """Run everything for `repo` (seeded from the directory `source`) until the block ends.

        `env` holds the settings of the web app and worker (every one the user set, the model,
        the sandbox); Redis, GitHub, the app's key, the webhook secret and the work directory are
        the playground's own (`OWNED`), whatever `env` says.
        """
        root.mkdir(parents=True, exist_ok=True)
        github = FakeGitHub(root / "github")
        playground = cls(root, repo, github, RunStore(redis.Redis.from_url(redis_url, decode_responses=True)),
                         out, time.monotonic())
        try:
            secret = playground._stand_in(source)
            playground._processes(redis_url, secret, env)
            yield playground
        finally:
            playground.stop()

    def _stand_in(self, source: Path) -> str:
        """Serve the GitHub stand-in with the app, the maintainer and the repository; returns the webhook secret."""
        server = ServerThread(self.github.app).start()
        self.servers.append(server)
        self.github.bind(server.url)
        private, public = generate_app_key()
        (self.root / "app-key.pem").write_text(private)
        (self.root / "app-key.pem").chmod(0o600)
        self.github.add_app(APP_ID, public, slug="issuesmith")
        self.github.add_user(MAINTAINER)
        owner = self.repo.split("/")[0]
        self.github.add_installation(INSTALLATION, owner)
        self.github.add_repo(self.repo, INSTALLATION, source)
        self.github.set_permission(self.repo, MAINTAINER, "admin")
        return secrets.token_hex(16)

    def _processes(self, redis_url: str, secret: str, extra: Mapping[str, str]) -> None:
        """Start `issuesmith serve` and `issuesmith worker`, and point the stand-in's webhooks at the web app."""
        port = free_port()
        own = {"ISSUESMITH_WEBHOOK_SECRET": secret, "ISSUESMITH_APP_ID": str(APP_ID),
               "ISSUESMITH_PRIVATE_KEY_PATH": str(self.root / "app-key.pem"), "ISSUESMITH_REDIS_URL": redis_url,
               "ISSUESMITH_GITHUB_API_URL": self.github.api_url, "ISSUESMITH_WORK_DIR": str(self.root / "work"),
               "ISSUESMITH_GITHUB_REQUEST_SPACING": "0", "ISSUESMITH_GITHUB_WRITE_SPACING": "0"}
        assert set(own) <= OWNED
        env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(self.root), "LANG": "C.UTF-8",
               **{name: value for name, value in extra.items() if name not in OWNED}, **own}
        self.log_path = self.root / "processes.log"
        for args in (["serve", "--port", str(port)], ["worker", "--name", f"tryout-{secrets.token_hex(4)}"]):
            with self.log_path.open("ab") as log:
                self.procs.append(subprocess.Popen([sys.executable, "-m", "bot.cli", *args], env=env, cwd=self.root,
                                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        url = f"http://127.0.0.1:{port}"
        self._until(lambda: _answers(f"{url}/healthz"), START_SECONDS, "the web app to answer")
        self.github.set_webhook(f"{url}/webhook", secret)

    def stop(self) -> None:
        """Stop the processes, the stand-in and its webhook thread."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for server in self.servers:
            server.stop()
        self.github.close()

    # -- the maintainer's hands ----------------------------------------------------------------
    def open_issue(self, title: str, body: str) -> int:
        """Open an issue as the maintainer."""
        return self.github.create_issue(self.repo, MAINTAINER, title, body)

    def label(self, number: int, label: str = "issuesmith") -> None:
        """Label the issue (GitHub sends the `issues.labeled` webhook)."""
        self.github.label_issue(self.repo, number, label, by=MAINTAINER)

    def comment(self, number: int, body: str) -> None:
        """Comment on the issue as the maintainer (GitHub sends `issue_comment.created`)."""
        self.github.comment(self.repo, number, body, by=MAINTAINER)

    # -- what the maintainer sees ----------------------------------------------------------------
    def run(self, number: int) -> Run | None:
        """The issue's run, if there is one."""
        return self.store.for_issue(self.repo, number)

    def bot_comment(self, number: int, text: str) -> str | None:
        """The newest comment of the bot that contains `text`, without hidden markers."""
        found = [c.body for c in self.github.comments(self.repo, number) if c.user == BOT and text in c.body]
        return _MARKER.sub("", found[-1]).strip() if found else None

    def said_at_end(self, number: int, run: Run) -> str:
        """What the bot said of a run that ended short of its goal: its failure notice ("stopped at …"), else its
        newest comment. The run's state moves to FAILED before the notice is posted (by design, as for the plan),
        so for a failed run the notice is waited for, at most `NOTICE_SECONDS`."""
        deadline = time.monotonic() + (NOTICE_SECONDS if run.state == State.FAILED else 0)
        while True:
            said = self.bot_comment(number, "stopped at")
            if said or time.monotonic() >= deadline:
                return said or self.bot_comment(number, "") or "(no comment)"
            self._check_processes()
            time.sleep(0.1)

    def posted_plan(self, number: int, run: Run) -> str | None:
        """The comment of the run's current plan as the issue shows it (its marker and content hash), without
        markers; None until it is posted. The run's state moves on before the comment is up (by design), so
        what a person is shown and approves is this comment, never the state."""
        record = self.store.plan(run.id, run.plan_version) if run.plan_version else None
        if record is None:
            return None
        marker = plan_marker(run.id, run.plan_version, record.hash)
        found = [c.body for c in self.github.comments(self.repo, number) if c.user == BOT
                 and carries_marker(c.body, marker)]
        return _MARKER.sub("", found[-1]).strip() if found else None

    def pull(self, number: int) -> Pull | None:
        """The pull request that closes the issue, if one is open."""
        return next((p for p in self.github.pulls(self.repo) if f"Closes #{number}" in (p.body or "")), None)

    def follow(self, number: int, done: Callable[[Run], bool], timeout: float) -> Run:
        """Print the run's execution log as it grows until `done(run)` or a final state; the run then."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(number)
            if run is not None:
                self._print_new(run.id)
                if done(run) or run.state in FINAL:
                    return run
            self._check_processes()
            time.sleep(0.1)
        raise TryoutError(f"the run did not finish within {timeout:g}s (see {self.log_path})")

    def elapsed(self) -> str:
        """Seconds since the playground started, for progress lines."""
        return f"{time.monotonic() - self.started:6.1f}s"

    def say(self, text: str) -> None:
        """One progress line."""
        print(f"{self.elapsed()}  {text}", file=self.out, flush=True)

    def _print_new(self, run_id: str) -> None:
        entries = self.store.entries(run_id)
        for entry in entries[self._seen:]:
            line = describe_entry(entry)
            if line:
                self.say(line)
        self._seen = len(entries)

    def _check_processes(self) -> None:
        for proc in self.procs:
            if proc.poll() is not None:
                raise TryoutError(f"an issuesmith process exited ({proc.returncode}); see {self.log_path}")

    def _until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            self._check_processes()
            time.sleep(0.1)
        raise TryoutError(f"timed out waiting for {what} (see {self.log_path})")


def describe_entry(entry: dict[str, Any]) -> str:
    """A progress line for one execution log entry ("" for entries not worth a line)."""
    step, event = entry.get("step", ""), entry.get("event", "")
    if event == "model_call":
        return (f"{step:<9} model call: {entry.get('prompt_tokens', 0):,} tokens in, "
                f"{entry.get('completion_tokens', 0):,} out ({entry.get('seconds', 0)}s)")
    if event == "tool_call":
        return f"{step:<9} tool {entry.get('tool')}"
    if event == "review":
        return f"{step:<9} review round {entry.get('round')}: {entry.get('verdict')}"
    if event == "setup":
        return f"{step:<9} setup command exited {entry.get('exit_code')} ({entry.get('backend')})"
    if event == "tests":
        what = entry.get("what") or (f"{entry.get('passed')} passed, {entry.get('failed')} failed, "
                                     f"{entry.get('errors')} errors")
        return f"{step:<9} tests: {what} in {entry.get('seconds')}s ({entry.get('backend')})"
    if event == "error":
        return f"{step:<9} ERROR: {entry.get('error')}"
    if event in ("started", "finished", "planned", "posted", "run_created", "approval_verified", "command",
                 "resumed", "cancelled", "timeout", "verification_failed", "stopped"):
        detail = {k: v for k, v in entry.items() if k in ("name", "by", "version", "seconds", "reason", "problems")}
        extra = ", ".join(f"{k} {v}" for k, v in detail.items())
        return f"{step:<9} {event.replace('_', ' ')}" + (f" ({extra})" if extra else "")
    return ""


def section(out: TextIO, title: str, text: str) -> None:
    """Print `text` between rules, under `title`."""
    rule = "─" * 78
    print(f"\n{rule}\n{title}\n{rule}\n{text.rstrip()}\n{rule}\n", file=out, flush=True)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def sandbox_env(preference: str, allow_unsandboxed: bool, *, trusted: bool) -> tuple[dict[str, str], str]:
    """The sandbox settings for the worker, and a line saying what will isolate the repository's commands.

    Without an isolating backend the commands run unsandboxed only if that was allowed
    (ISSUESMITH_ALLOW_UNSANDBOXED) or the code is `trusted` (the demo's own sample repository
    and recorded changes); otherwise `TryoutError` says why and how to fix it.
    """
    from bot.sandboxes import choose_backend
    from bot.sandboxes.base import SandboxUnavailable

    env = {"ISSUESMITH_SANDBOX": preference}
    try:
        backend = choose_backend(preference, False)
        return env, f"sandbox: {backend.name} (repository commands run isolated)"
    except SandboxUnavailable as exc:
        if not (allow_unsandboxed or trusted):
            raise TryoutError(f"{exc}\n{exc.hint}") from exc
        why = str(exc)
    env |= {"ISSUESMITH_SANDBOX": "auto", "ISSUESMITH_ALLOW_UNSANDBOXED": "1"}
    reason = "ISSUESMITH_ALLOW_UNSANDBOXED=1" if allow_unsandboxed else "the demo runs only its own sample code"
    return env, f"sandbox: NONE, commands run unisolated ({reason}); {why}"
