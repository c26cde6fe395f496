"""Replay one instance through the real `issuesmith run` (local mode) and read what the run did.

The run gets: the checkout (`replay_bench.repos`), the issue's text, the scripted model
(`ISSUESMITH_MODEL_PROVIDER=replay`), `ISSUESMITH_REPRODUCE=1` set explicitly, the derived setup
command, and a Redis database of the harness's own (flushed before each run), where the run's log and
outputs are read afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bot.runs.journal import RedisJournal
from bot.runs.store import RunStore
from replay_bench import commands, outcome, repos, transcript
from replay_bench.patches import wrong_variant
from replay_bench.transcript import FileChange

EDIT_TOOLS = {"replace_text", "write_file", "create_file", "delete_file"}


@dataclass(frozen=True)
class Options:
    """How the harness runs every instance."""

    repos: Path
    work: Path
    redis_url: str
    timeout: float
    wrong_first: bool
    issuesmith: Path


def replay(instance: dict[str, Any], options: Options) -> outcome.Outcome:
    """Run `instance` end to end; its row."""
    row = outcome.Outcome(instance["instance_id"])
    here = options.work / instance["instance_id"]
    files = commands.test_files(instance["FAIL_TO_PASS"] + instance["PASS_TO_PASS"])
    config = f"test_command: {json.dumps(commands.test_command(files))}\n"
    try:
        co = repos.checkout(options.repos, here / "checkout", instance, config)
    except repos.CannotRun as exc:
        row.status, row.reason = "cannot run here", str(exc)
        return row
    row.release = co.release + (" (patches applied ignoring whitespace: CRLF in the sdist)" if co.apply_flags else "")
    wrong = wrong_change(co.gold) if options.wrong_first else None
    if options.wrong_first and wrong is None:
        row.wrong_first = "no wrong variant (no change line can be undone and still parse)"
    selector = " ".join(commands.test_files(instance["FAIL_TO_PASS"]))
    entries = transcript.transcript(instance, co.gold, co.tests, selector, wrong)
    (here / "transcript.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    (here / "issue.md").write_text(instance["problem_statement"].strip() + "\n")
    setup = commands.setup_command(instance["repo"], commands.extras(co.path))
    client = redis.Redis.from_url(options.redis_url, decode_responses=True)
    client.flushdb()
    started = time.monotonic()
    code = run_issuesmith(options, here, co.path, setup)
    row.seconds["total"] = round(time.monotonic() - started, 1)
    read_run(row, instance, client, co, code, here)
    if wrong is not None:
        row.wrong_first = wrong_first_result(RunStore(client), row)
    return row


def wrong_change(gold: list[FileChange]) -> FileChange | None:
    """The first gold file change with a plausible wrong variant (`patches.wrong_variant`) as that variant."""
    for change in gold:
        if change.old is not None and change.new is not None:
            text = wrong_variant(change.old, change.new, change.diff.path)
            if text is not None:
                return FileChange(change.diff, change.old, text)
    return None


def run_issuesmith(options: Options, here: Path, checkout: Path, setup: str) -> int:
    """`issuesmith run --yes` on the checkout; its exit code (its output in `run.log`)."""
    env = {**os.environ, "ISSUESMITH_MODEL_PROVIDER": "replay",
           "ISSUESMITH_REPLAY_TRANSCRIPT": str((here / "transcript.jsonl").resolve()),
           "ISSUESMITH_REPRODUCE": "1", "ISSUESMITH_REPRODUCE_ATTEMPTS": "2",
           "ISSUESMITH_SETUP_COMMAND": setup, "ISSUESMITH_SETUP_TIMEOUT": "1800",
           "ISSUESMITH_TEST_TIMEOUT": "1200", "ISSUESMITH_DISK_BYTES": str(8 * 1024**3),
           "ISSUESMITH_REDIS_URL": options.redis_url, "ISSUESMITH_WORK_DIR": str((here / "work").resolve())}
    command = [str(options.issuesmith), "run", "--repo", str(checkout), "--issue-file", str(here / "issue.md"),
               "--yes", "--pr-body", str(here / "pr-body.md")]
    with (here / "run.log").open("w") as log:
        try:
            return subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=options.timeout,
                                  check=False, start_new_session=True).returncode
        except subprocess.TimeoutExpired:
            log.write(f"\n[bench] timed out after {options.timeout:.0f}s\n")
            return 124


def read_run(row: outcome.Outcome, instance: dict[str, Any], client: redis.Redis, co: repos.Checkout,
             code: int, here: Path) -> None:
    """Fill `row` from the run in Redis and the branch it left in the checkout."""
    store = RunStore(client)
    runs, _ = store.page()
    if not runs:
        row.status, row.reason = "failed", f"no run was recorded (issuesmith run exited {code}, see {here}/run.log)"
        return
    run = runs[0]
    entries = store.entries(run.id)
    outputs = RedisJournal(store).outputs(run.id)
    outcome.judge(row, instance, entries, outputs)
    calls = [e for e in entries if e.get("event") == "tool_call" and e.get("tool") in EDIT_TOOLS]
    refused = len((outputs.get("code") or {}).get("refused", []))
    branch = (outputs.get("publish") or {}).get("branch")
    exact = branch_matches(co.path, branch, instance, co.apply_flags) if branch else "no branch"
    row.edits_applied = f"{exact} ({len(calls)} calls, {refused} refused)"
    if code != 0 and row.status == "ran" and not row.pr:
        row.status, row.reason = "failed", f"issuesmith run exited {code} in state {run.state.value}"


def branch_matches(checkout: Path, branch: str, instance: dict[str, Any], flags: tuple[str, ...] = ()) -> str:
    """`exact` when the branch's tree is the release plus the gold and test patches (and the bench config)."""
    env = {**os.environ, **repos.GIT_ENV, "GIT_INDEX_FILE": str(checkout / ".git" / "bench-expected-index")}
    def git(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(["git", *args], cwd=checkout, env=env, input=stdin, capture_output=True, text=True,
                              check=True).stdout.strip()
    try:
        git("read-tree", "main")
        git("apply", "--cached", *flags, "-", stdin=instance["patch"])
        git("apply", "--cached", *flags, "-", stdin=instance["test_patch"])
        expected, got = git("write-tree"), git("rev-parse", f"{branch}^{{tree}}")
    except subprocess.CalledProcessError as exc:
        return f"unchecked ({exc.stderr.strip()[:80]})"
    if expected == got:
        return "exact"
    if flags and subprocess.run(["git", "diff", "--quiet", "--ignore-cr-at-eol", expected, got], cwd=checkout,
                                env=env, check=False).returncode == 0:
        return "exact but CR at line ends"  # the patches applied ignoring whitespace write some lines LF
    differ = git("diff", "--name-only", expected, got).split()
    return f"differs in {', '.join(differ[:3])}"


def wrong_first_result(store: RunStore, row: outcome.Outcome) -> str:
    """What the Coder's test runs showed: the wrong fix failing, then the gold one passing."""
    runs, _ = store.page()
    if not runs:
        return "no run"
    tests = [e for e in store.entries(runs[0].id) if e.get("event") == "coder_tests"]
    if len(tests) < 2:
        return f"{len(tests)} Coder test runs logged"
    first, second = tests[0], tests[1]
    verdict = "recovered" if not first.get("ok") and second.get("ok") else "not shown"
    return (f"{verdict}: wrong fix run_tests {first.get('what')}; gold fix run_tests {second.get('what')}")


def python_path(root: Path) -> None:
    """Make `bot` importable when the harness runs as a script from `bench/`."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
