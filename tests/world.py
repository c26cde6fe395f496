"""A whole issuesmith world for tests: GitHub and model stand-ins, the web app, Redis, RQ.

`World` wires the real pieces together: the stand-in GitHub delivers signed webhooks
over HTTP to the real web app; jobs run on real Redis through RQ (an in-process
`SimpleWorker` by default, or a real worker process in end-to-end tests) and talk to
the stand-ins through the real PyGithub and openai clients. At the end, every request
our bot sent and every response the stand-ins gave is checked against the vendored
API descriptions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rq import SimpleWorker

from bot.cli import dispatcher
from bot.cli.demo import SAMPLE_REPO as DEMO_REPO
from bot.cli.rqworker import TakesMovedJobs
from bot.config.settings import Settings
from bot.flow.services import Services, build_services, install
from bot.runs.dispatch import Dispatcher
from bot.runs.model import Run
from bot.web.app import create_app
from standins.github import Comment, FakeGitHub
from standins.openai import FakeOpenAI, Reply
from standins.server import ServerThread
from tests.contracts.openapi import github_contract, openai_contract

SAMPLE_REPO = DEMO_REPO
WEBHOOK_SECRET = "test-webhook-secret-0123456789"
MODEL_KEY = "sk-test-standin-key-0123456789"
REPO = "acme/textstats"
INSTALLATION = 4242
APP_ID = 101
BOT = "issuesmith[bot]"
STATUS_KEY = "key=status -->"

SAMPLE_PLAN: dict[str, Any] = {
    "title": "Count words separated by any whitespace",
    "summary": "word_count splits on single spaces, so repeated spaces, tabs and newlines give wrong "
               "counts. Split on any whitespace instead.",
    "steps": ["Change word_count to use str.split() without an argument",
              "Add tests for repeated spaces, tabs, newlines and the empty string"],
    "files": [
        {"path": "textstats/__init__.py", "action": "modify", "reason": "word_count splits on ' ' only"},
        {"path": "tests/test_textstats.py", "action": "modify", "reason": "cover the whitespace cases"},
    ],
    "acceptance_criteria": ["word_count('a  b') == 2", "word_count('') == 0", "existing tests still pass"],
    "test_strategy": "Unit tests with pytest.",
    "risks": ["Callers relying on the old count of empty strings (unlikely)"],
}


CODER, REVIEWER, TESTER = "Coder of issuesmith", "Reviewer of issuesmith", "Tester of issuesmith"
FIX = ("replace_text", {"path": "textstats/__init__.py", "old_text": 'return len(text.split(" "))',
                        "new_text": "return len(text.split())"})
APPROVE = {"verdict": "approve", "summary": "The change matches the plan.", "findings": []}


REPRO_PATH = "tests/test_issue.py"
REPRO_TEST = 'from textstats import word_count\n\n\ndef test_repeated_spaces():\n    assert word_count("a  b") == 2\n'
RUN_REPRO = ("run_tests", {"selector": REPRO_PATH})


def reproduction_replies() -> tuple[Reply, Reply]:
    """The Tester's reproduction phase on the sample repository: a test of the issue that fails on main."""
    return (Reply.tool_calls([("create_file", {"path": REPRO_PATH, "content": REPRO_TEST})], usage=(700, 90)),
            Reply.json({"summary": "A test of the issue.", "tests_added": ["test_repeated_spaces"]}, usage=(800, 30)))


def script_implementation(model: FakeOpenAI, reproduce: bool = False) -> None:
    """Model replies for a clean implement run: the Coder fixes word_count, review approves, no new tests.

    With `reproduce` (the deployment's default: the phase on), the Tester first writes a test of the issue
    and the Coder runs it after its fix before it finishes.
    """
    if reproduce:
        model.script(*reproduction_replies(), match=TESTER)
    fix = Reply.tool_calls([FIX, RUN_REPRO] if reproduce else [FIX], usage=(900, 80))
    model.script(fix, Reply.json({"summary": "Split on any whitespace.", "notes": ""}, usage=(1100, 60)), match=CODER)
    model.script(Reply.json(APPROVE, usage=(1500, 120)), match=REVIEWER)
    model.script(Reply.json({"summary": "Already covered.", "tests_added": []}, usage=(800, 40)), match=TESTER)


class QuietWorker(TakesMovedJobs, SimpleWorker):
    """RQ's in-process worker without its command channel (pub/sub), which nothing here uses: its listener
    thread waits up to 60 s for a message, and stopping the worker after a failed job waited for it."""

    def subscribe(self) -> None:
        """Nothing: no commands are sent to in-process workers."""

    def unsubscribe(self) -> None:
        """Nothing: see `subscribe`."""


def plan_with(**changes: Any) -> dict[str, Any]:
    """The sample plan with some fields replaced."""
    return {**SAMPLE_PLAN, **changes}


@dataclass
class World:
    """Stand-ins, settings, services and the web app, plus helpers that act like people."""

    root: Path
    github: FakeGitHub
    openai: FakeOpenAI
    settings: Settings
    services: Services
    web_url: str
    servers: list[ServerThread] = field(default_factory=list)
    issue: int = 0
    dispatcher: Dispatcher | None = None

    # people act -------------------------------------------------------------------------
    def new_issue(self, title: str = "word_count is wrong with double spaces",
                  body: str = "`word_count('a  b')` returns 3, expected 2. See textstats/__init__.py.") -> int:
        """Open an issue (as carol, a writer) and make it the current one."""
        self.issue = self.github.create_issue(REPO, "carol", title, body)
        return self.issue

    def label(self, by: str = "alice", label: str = "issuesmith") -> None:
        """`by` adds a label to the current issue (GitHub sends `issues.labeled`)."""
        self.github.label_issue(REPO, self.issue, label, by)

    def say(self, body: str, by: str = "alice") -> int:
        """`by` comments on the current issue (GitHub sends `issue_comment.created`)."""
        return self.github.comment(REPO, self.issue, body, by)

    def plan_and_approve(self, title: str = "word_count is wrong with double spaces") -> str:
        """A new issue labeled, planned and approved (by carol), worked until nothing is left; the run id."""
        self.new_issue(title=title)
        self.script_plan(SAMPLE_PLAN)
        self.label()
        self.drain()
        self.say("/approve", by="carol")
        self.drain()
        run = self.run()
        assert run is not None
        return run.id

    def script_plan(self, *plans: dict[str, Any]) -> None:
        """Queue Planner replies (matched to planning requests)."""
        self.openai.script(*(Reply.json(p, usage=(1200, 300)) for p in plans), match="Planner of issuesmith")

    # the machine works ------------------------------------------------------------------
    def dispatch(self) -> int:
        """Turn the deliveries the web app put in the inbox into intake jobs, as the worker's dispatcher does."""
        if self.dispatcher is None:
            self.dispatcher = dispatcher.build(self.settings, "world")
        return self.dispatcher.drain()

    def drain(self, rounds: int = 20) -> None:
        """Deliver webhooks and run queued jobs until nothing is left to do."""
        worker = QuietWorker(self.services.queues.served, connection=self.services.redis_bytes)
        for _ in range(rounds):
            self.github.wait_for_deliveries()
            self.dispatch()
            if self.services.queues.count == 0:
                return
            worker.work(burst=True, with_scheduler=False)
        raise AssertionError("work did not settle")

    def step(self) -> None:
        """Deliver pending webhooks and run exactly one queued job."""
        self.github.wait_for_deliveries()
        self.dispatch()
        worker = QuietWorker(self.services.queues.served, connection=self.services.redis_bytes)
        worker.work(burst=True, max_jobs=1, with_scheduler=False)
        self.github.wait_for_deliveries()

    def job_ids(self) -> list[str]:
        """Ids of the jobs waiting on every queue (after dispatching the inbox), in the order workers take them."""
        self.dispatch()
        return self.services.queues.job_ids()

    # what a user sees -------------------------------------------------------------------
    def bot_comments(self) -> list[Comment]:
        """Our comments on the current issue, oldest first, without the run's status comment."""
        return [c for c in self.github.comments(REPO, self.issue) if c.user == BOT and STATUS_KEY not in c.body]

    def status(self) -> str:
        """The body of the current issue's status comment (the one checklist, edited in place)."""
        found = [c.body for c in self.github.comments(REPO, self.issue) if c.user == BOT and STATUS_KEY in c.body]
        assert len(found) == 1, f"expected one status comment, found {len(found)}"
        return found[0]

    def checklist(self) -> list[str]:
        """The status comment's checklist lines, without the leading "- "."""
        return [line[2:] for line in self.status().splitlines() if line.startswith("- ")]

    def run(self) -> Run | None:
        """The current issue's run."""
        return self.services.store.for_issue(REPO, self.issue)

    def reactions(self, comment_id: int | None = None) -> list[tuple[str, str]]:
        """Reactions on the current issue (or one of its comments)."""
        return self.github.reactions(REPO, self.issue, comment_id)

    # honesty of the stand-ins ---------------------------------------------------------------
    def contract_problems(self) -> list[str]:
        """Every exchange with either stand-in that breaks the published API description."""
        return contract_problems(self.github, self.openai)

    def close(self) -> None:
        """Stop the servers and forget the installed services."""
        install(None)
        for server in reversed(self.servers):
            server.stop()
        self.github.close()


def contract_problems(github: FakeGitHub, model: FakeOpenAI) -> list[str]:
    """Requests we sent and responses the stand-ins gave that break the published descriptions."""
    problems: list[str] = []
    gh, oa = github_contract(), openai_contract()
    for ex in github.exchanges:
        problems += gh.check_request(ex.method, ex.path, ex.query, ex.request_json)
        if not ex.injected:  # an injected fault is ours, not the stand-in's behaviour
            problems += gh.check_response(ex.method, ex.path, ex.status, ex.response_json)
    for oex in model.exchanges:
        problems += oa.check_request(oex.method, oex.path, oex.query, oex.request_json)
        problems += oa.check_response(oex.method, oex.path, oex.status, oex.response_json)
    return problems


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def make_stand_ins(root: Path, public_key: str,
                   profile: str = "openai") -> tuple[FakeGitHub, FakeOpenAI, list[ServerThread]]:
    """Start the GitHub and model stand-ins with the sample repository and its people; the model stand-in
    plays the server `profile` (`standins.profiles`)."""
    github = FakeGitHub(root / "github")
    gh_server = ServerThread(github.app).start()
    github.bind(gh_server.url)
    github.add_app(APP_ID, public_key, slug="issuesmith")
    for login in ("alice", "carol", "mallory", "trish", "maya"):
        github.add_user(login)
    github.add_installation(INSTALLATION, "acme")
    github.add_repo(REPO, INSTALLATION, SAMPLE_REPO)
    for login, role in (("alice", "admin"), ("carol", "write"), ("maya", "maintain"), ("trish", "triage"),
                        ("mallory", "read")):
        github.set_permission(REPO, login, role)
    model = FakeOpenAI(api_key=MODEL_KEY, profile=profile)
    oa_server = ServerThread(model.app).start()
    return github, model, [gh_server, oa_server]


def settings_for(root: Path, redis_url: str, github: FakeGitHub, model_url: str, private_key: str,
                 **overrides: Any) -> Settings:
    """Settings pointing at the stand-ins, with fast retries and no API throttling.

    The reproduction phase (`bot.flow.reproduce`, on in a deployment unless ISSUESMITH_REPRODUCE=0) is off
    here unless a test turns it on (`reproduce=True`): then the scripted model needs the Tester's reproduction
    replies first (`tests/integration/test_reproduction.py`, `test_candidates.py`). The end-to-end tests, the
    demo and the real-model smoke test run the deployment's default, the phase on.
    """
    values: dict[str, Any] = dict(reproduce=False,
        app_id=APP_ID, private_key=private_key, webhook_secret=WEBHOOK_SECRET, redis_url=redis_url,
        github_api_url=github.api_url, openai_api_key=MODEL_KEY, openai_base_url=f"{model_url}/v1",
        work_dir=root / "work", job_retry_intervals=[0], github_request_spacing=0.0,
        github_write_spacing=0.0, model_max_retries=2, step_retry_backoff=[0],
        allow_unsandboxed=True)  # bubblewrap where it works (root + bwrap, as in CI), else run unisolated
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def make_world(root: Path, redis_url: str, keys: tuple[str, str], profile: str = "openai",
               **overrides: Any) -> World:
    """A world with in-process services and the web app served over HTTP; the model server plays `profile`."""
    github, model, servers = make_stand_ins(root, keys[1], profile)
    settings = settings_for(root, redis_url, github, servers[1].url, keys[0], **overrides)
    services = build_services(settings)
    install(services)
    web = ServerThread(create_app(settings)).start()
    servers.append(web)
    github.set_webhook(f"{web.url}/webhook", WEBHOOK_SECRET)
    return World(root, github, model, settings, services, web.url, servers)
