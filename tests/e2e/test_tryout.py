"""`issuesmith demo` and `issuesmith run`, as a newcomer runs them: real processes, real Redis, git and sandbox.

The demo runs as a subprocess of the console command; local mode runs its `main` in this
process (it starts the web app and worker as processes itself), answering the approval
question through `ask`. Each uses a Redis database of its own, or a private redis-server.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.cli import localrun
from bot.cli.demo import SAMPLE_REPO
from bot.cli.tryout import free_port
from standins.openai import FakeOpenAI, Reply
from standins.server import ServerThread
from tests.world import MODEL_KEY, SAMPLE_PLAN, script_implementation

REDIS_URL = os.environ.get("ISSUESMITH_TEST_TRYOUT_REDIS_URL", "redis://127.0.0.1:6379/8")
BRANCH = "issuesmith/1-count-words-separated-by-any-whitespace"


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ISSUESMITH_WORK_DIR": str(tmp_path / "var"), **extra}


def demo(tmp_path: Path, env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "bot.cli.main", "demo", "--dir", str(tmp_path / "demo")], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def model() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI(api_key=MODEL_KEY)
    with ServerThread(fake.app) as server:
        yield fake, f"{server.url}/v1"


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="the private Redis needs the redis-server binary")
def test_demo_with_the_transcript_and_a_private_redis(tmp_path: Path) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    code, out = demo(tmp_path, base_env(tmp_path, ISSUESMITH_REDIS_URL=closed))

    assert code == 0, out
    assert "model: the recorded transcript" in out and "a private redis-server on port" in out
    lines = out.splitlines()
    progress = [i for i, line in enumerate(lines) if "plan      started" in line]
    shown = lines.index("the plan, as issue #1 shows it")
    assert progress and progress[0] < shown  # progress came before the plan, as it happened
    assert "## 🛠️ Plan v1: Count words separated by any whitespace" in out and "<!--" not in out
    for expected in ("maintainer comments /approve", "tests: 5 passed, 0 failed, 0 errors",
                     "pull request #2: Count words separated by any whitespace", "Closes #1",
                     f"diff of {BRANCH}", "+    return len(text.split())", "+def test_word_count_empty():"):
        assert expected in out, expected
    assert lines[-1].startswith("✓ pull request #2 opened in ") and "spent $0.0033" in lines[-1]
    bare = next(line.split(" is in ")[1] for line in lines if line.startswith(f"branch {BRANCH} is in "))
    shown_log = subprocess.run(["git", "-C", bare, "log", "--format=%s", f"main..{BRANCH}"], capture_output=True,
                               text=True, check=True).stdout
    assert "Count words separated by any whitespace" in shown_log


def test_demo_with_a_configured_model(tmp_path: Path, model: tuple[FakeOpenAI, str]) -> None:
    fake, url = model
    fake.script(Reply.json(SAMPLE_PLAN), match="Planner of issuesmith")
    script_implementation(fake, reproduce=True)
    code, out = demo(tmp_path, base_env(tmp_path, ISSUESMITH_REDIS_URL=REDIS_URL, OPENAI_API_KEY=MODEL_KEY,
                                        OPENAI_BASE_URL=url, ISSUESMITH_ALLOW_UNSANDBOXED="1"))
    assert code == 0, out
    assert f"model: gpt-4o-mini at {url} (OPENAI_* is set)" in out
    assert "tests: 4 passed, 0 failed" in out and fake.pending() == 0  # the sample's 3 and the reproduction


def test_demo_fails_loudly_when_a_step_fails(tmp_path: Path, model: tuple[FakeOpenAI, str]) -> None:
    fake, url = model
    fake.script(*(Reply.json({"summary": "not a plan"}) for _ in range(3)), match="Planner of issuesmith")
    code, out = demo(tmp_path, base_env(tmp_path, ISSUESMITH_REDIS_URL=REDIS_URL, OPENAI_API_KEY=MODEL_KEY,
                                        OPENAI_BASE_URL=url, ISSUESMITH_ALLOW_UNSANDBOXED="1"))
    assert code == 1, out
    assert "the run ended FAILED" in out and "stopped at the **plan** step" in out and "✗ demo failed" in out


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A user's repository: committed sample code, on a branch of theirs, with uncommitted work."""
    repo = tmp_path / "textstats"
    shutil.copytree(SAMPLE_REPO, repo)
    git = ["git", "-C", str(repo), "-c", "user.name=U", "-c", "user.email=u@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "initial"], check=True)
    subprocess.run([*git, "checkout", "-qb", "my-work"], check=True)
    (repo / "README.md").write_text("uncommitted notes\n")
    return repo


def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, args: list[str],
          answers: list[str] = ()) -> tuple[int, str]:  # type: ignore[assignment]
    monkeypatch.chdir(tmp_path)
    for name, value in base_env(tmp_path, ISSUESMITH_REDIS_URL=REDIS_URL, OPENAI_API_KEY=MODEL_KEY,
                                OPENAI_BASE_URL=url, ISSUESMITH_ALLOW_UNSANDBOXED="1").items():
        monkeypatch.setenv(name, value)
    pending = list(answers)
    out = io.StringIO()
    code = localrun.main(args, out=out, ask=lambda question: pending.pop(0))
    return code, out.getvalue()


def git_out(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def test_local_mode_leaves_a_branch_and_the_pr_body_and_touches_nothing_else(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checkout: Path, model: tuple[FakeOpenAI, str]) -> None:
    fake, url = model
    fake.script(Reply.json(SAMPLE_PLAN), match="Planner of issuesmith")
    script_implementation(fake, reproduce=True)
    subprocess.run(["git", "-C", str(checkout), "tag", "v0.3.0", "main"], check=True)
    code, out = local(tmp_path, monkeypatch, url, ["--repo", str(checkout), "--yes", "--issue",
                                                   "word_count is wrong with double spaces\nIt says 3 for 'a  b'."])
    assert code == 0, out
    assert "plan v1" in out and "tests: 4 passed" in out and f"✓ branch {BRANCH} is in {checkout}" in out
    [bare] = (tmp_path / "var" / "run").glob("*/github/repos/*/textstats.git")
    assert "v0.3.0" in git_out(bare, "tag", "--list")  # setuptools-scm projects need their tags
    assert git_out(checkout, "branch", "--show-current").strip() == "my-work"
    assert (checkout / "README.md").read_text() == "uncommitted notes\n"
    assert git_out(checkout, "status", "--porcelain").strip() == "M README.md"
    assert "return len(text.split())" in git_out(checkout, "show", f"{BRANCH}:textstats/__init__.py")
    assert git_out(checkout, "merge-base", BRANCH, "main").strip() == git_out(checkout, "rev-parse", "main").strip()
    body = next(line.split(": ", 1)[1] for line in out.splitlines() if "pull request body: " in line)
    text = Path(body).read_text()
    assert text.startswith("# Count words separated by any whitespace") and "Closes #1" in text
    assert "It says 3 for 'a  b'." in "".join(m["content"] for m in fake.requests[0]["messages"])  # to the Planner


def test_local_mode_revises_then_cancels_at_the_terminal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checkout: Path, model: tuple[FakeOpenAI, str]) -> None:
    fake, url = model
    fake.script(Reply.json(SAMPLE_PLAN), Reply.json({**SAMPLE_PLAN, "title": "Split on whitespace, tabs included"}),
                match="Planner of issuesmith")
    issue = tmp_path / "issue.md"
    issue.write_text("# word_count is wrong with double spaces\n")
    code, out = local(tmp_path, monkeypatch, url, ["--repo", str(checkout), "--issue-file", str(issue)],
                      ["r", "mention tabs", "c"])
    assert code == 1, out
    assert "plan v1" in out and "Plan v2: Split on whitespace, tabs included" in out
    assert "mention tabs" in "".join(m["content"] for m in fake.requests[-1]["messages"])
    assert "cancelled: nothing was changed in the checkout" in out
    assert git_out(checkout, "branch", "--list", "issuesmith/*").strip() == ""


def test_local_mode_explains_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    out = io.StringIO()
    assert localrun.main(["--repo", str(tmp_path), "--issue", "x"], out=out) == 1
    assert "is not a git checkout" in out.getvalue()
    subprocess.run(["git", "init", "-q", str(tmp_path / "r")], check=True)
    subprocess.run(["git", "-C", str(tmp_path / "r"), "-c", "user.name=U", "-c", "user.email=u@x", "commit", "-q",
                    "--allow-empty", "-m", "x"], check=True)
    out = io.StringIO()
    assert localrun.main(["--repo", str(tmp_path / "r"), "--issue", "x"], out=out) == 1
    assert "local mode needs a model: set OPENAI_API_KEY" in out.getvalue()


def test_local_mode_shows_and_approves_only_the_plan_the_issue_shows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checkout: Path, model: tuple[FakeOpenAI, str]) -> None:
    """The run awaits approval before its plan comment is up (by design); a busy GitHub posts it late.
    What is printed, and approved with --yes, is the posted comment, never the state."""
    from standins.github_core import Core

    post = Core.add_comment

    def slow_plans(self: Core, repo: Any, number: int, body: str, actor: str, via_app: int | None) -> Any:
        if body.startswith("<!-- issuesmith:plan"):
            time.sleep(1.5)
        return post(self, repo, number, body, actor, via_app)

    monkeypatch.setattr(Core, "add_comment", slow_plans)
    fake, url = model
    fake.script(Reply.json(SAMPLE_PLAN), match="Planner of issuesmith")
    script_implementation(fake, reproduce=True)
    code, out = local(tmp_path, monkeypatch, url, ["--repo", str(checkout), "--yes", "--issue",
                                                   "word_count is wrong with double spaces\nIt says 3 for 'a  b'."])
    assert code == 0, out
    shown = out.split("plan v1", 1)[1]
    assert "Plan v1: Count words separated by any whitespace" in shown.split("review and tests", 1)[0]


def test_local_mode_hands_every_setting_to_the_worker_and_keeps_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checkout: Path, model: tuple[FakeOpenAI, str]) -> None:
    """A setting of the service (here the transcript recording, from `.env`, and the test timeout) takes effect
    in local mode; the playground's own settings win over the user's (meant for their real GitHub App)."""
    fake, url = model
    fake.script(Reply.json(SAMPLE_PLAN), match="Planner of issuesmith")
    script_implementation(fake)
    recorded = tmp_path / "recorded.jsonl"
    (tmp_path / ".env").write_text(f"ISSUESMITH_RECORD_TRANSCRIPT={recorded}\n")
    monkeypatch.setenv("ISSUESMITH_TEST_TIMEOUT", "0.001")  # no test run finishes in a millisecond
    monkeypatch.setenv("ISSUESMITH_MAX_TEST_FIXES", "0")
    monkeypatch.setenv("ISSUESMITH_REPRODUCE", "0")  # no reproduction phase: the Tester is scripted without it
    monkeypatch.setenv("ISSUESMITH_GITHUB_API_URL", "https://github.example.invalid/api/v3")
    monkeypatch.setenv("ISSUESMITH_PRIVATE_KEY", "not the playground's key")
    monkeypatch.setenv("ISSUESMITH_WEBHOOK_SECRET", "the user's real webhook secret")
    code, out = local(tmp_path, monkeypatch, url, ["--repo", str(checkout), "--yes", "--issue",
                                                   "word_count is wrong with double spaces\nIt says 3 for 'a  b'."])
    assert code == 0, out
    assert "tests: 3 passed" not in out and "tests: timed out" in out  # the timeout stopped the run of the tests
    assert not [r for r in fake.requests if "reproduces the issue" in r["messages"][0]["content"]]  # switched off
    assert len(recorded.read_text().splitlines()) == len(fake.requests)  # every reply was recorded


def test_local_mode_shows_the_failure_notice_a_busy_github_posts_late(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checkout: Path, model: tuple[FakeOpenAI, str]) -> None:
    """The run's state says FAILED before its notice is up (seen on a loaded machine: the demo printed the status
    comment instead of why it stopped); what is printed is the notice."""
    from standins.github_core import Core

    post = Core.add_comment

    def slow_notices(self: Core, repo: Any, number: int, body: str, actor: str, via_app: int | None) -> Any:
        if "stopped at the" in body:
            time.sleep(1.5)
        return post(self, repo, number, body, actor, via_app)

    monkeypatch.setattr(Core, "add_comment", slow_notices)
    fake, url = model
    fake.script(*(Reply.json({"summary": "not a plan"}) for _ in range(3)), match="Planner of issuesmith")
    code, out = local(tmp_path, monkeypatch, url, ["--repo", str(checkout), "--yes", "--issue", "x is wrong"])
    assert code == 1, out
    assert "the run ended FAILED" in out and "stopped at the **plan** step" in out, out
