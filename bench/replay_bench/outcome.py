"""What one replayed run did, read from the run itself: its execution log and verified step outputs in Redis
(`RunStore.entries`, `RedisJournal.outputs`), the branch it left in the checkout and the pull request body.

Nothing is re-derived by running tests again: every figure is one the run recorded.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from replay_bench.commands import junit_id

AGENT_OF_STEP = {"plan": "planner", "reproduce": "tester", "test": "tester", "code": "coder", "fix": "coder",
                 "review": "reviewer"}


@dataclass
class Outcome:
    """One instance's row."""

    instance: str
    status: str = "ran"  # ran, cannot run here, failed
    reason: str = ""
    release: str = ""
    edits_applied: str = ""
    setup_ok: str = ""
    baseline: str = ""
    reproduced: str = ""
    f2p: str = ""
    p2p: str = ""
    regressions: str = ""
    already_failing: str = ""
    pr: str = ""
    why: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    wrong_first: str = ""

    @property
    def good(self) -> bool:
        """Ready for review with 0 regressions (what the harness's exit status asks of every run that ran)."""
        return self.status == "ran" and self.pr == "ready" and self.regressions == "0"


def last(entries: list[dict[str, Any]], event: str) -> dict[str, Any] | None:
    """The newest log entry of `event`."""
    found = [e for e in entries if e.get("event") == event]
    return found[-1] if found else None


def tokens_by_agent(entries: list[dict[str, Any]]) -> dict[str, int]:
    """The bot's own estimate of the prompt tokens each agent's calls sent (`prompt_estimate` of `model_call`)."""
    total: dict[str, int] = defaultdict(int)
    for entry in entries:
        if entry.get("event") == "model_call":
            total[AGENT_OF_STEP.get(entry.get("step", ""), entry.get("step", "?"))] += int(
                entry.get("prompt_estimate", 0))
    return dict(total)


def stage_seconds(entries: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds per stage: planning (first entry to `planned`), each implement step, and inside them the setup
    command, the base run, the reproduction run(s), the Coder's test runs and the test step's runs."""
    seconds: dict[str, float] = {}
    planned = last(entries, "planned")
    if entries and planned:
        seconds["plan"] = round(planned["ts"] - entries[0]["ts"], 1)
    for entry in entries:
        event, step = entry.get("event"), entry.get("step")
        if event == "finished" and step in ("code", "test", "publish"):
            seconds[step] = round(float(entry.get("seconds", 0)), 1)
        if event in ("setup", "base_tests", "reproduction", "coder_tests", "tests"):
            seconds[event] = round(seconds.get(event, 0.0) + float(entry.get("seconds", 0) or 0), 1)
    return seconds


def reproduction(entries: list[dict[str, Any]], failing: list[str]) -> str:
    """Whether the reproduction failed on the base, and covered the FAIL_TO_PASS tests."""
    found = last(entries, "reproduced")
    if found is None:
        skipped = last(entries, "reproduction_skipped")
        rejected = last(entries, "reproduction_rejected")
        why = (rejected or {}).get("reason") or (skipped or {}).get("reason") or "no reproduction logged"
        return f"no ({why})"
    named = set(found.get("tests", [])) | set(found.get("shown", []))
    covered = [t for t in failing if t in named or junit_id(t) in named]
    return f"yes ({len(found.get('tests', []))} failing; F2P {len(covered)}/{len(failing)})"


def judge(row: Outcome, instance: dict[str, Any], entries: list[dict[str, Any]],
          outputs: dict[str, dict[str, Any]]) -> None:
    """Fill `row` from the run's log and outputs."""
    f2p, p2p = instance["FAIL_TO_PASS"], instance["PASS_TO_PASS"]
    setup = last(entries, "setup")
    row.setup_ok = "yes" if setup and setup.get("exit_code") == 0 else f"no ({(setup or {}).get('exit_code')})"
    base = last(entries, "base_tests")
    row.baseline = f"{base.get('passed')}/{base.get('failed', 0) + base.get('errors', 0)}" if base else "none"
    row.reproduced = reproduction(entries, f2p)
    row.seconds.update(stage_seconds(entries))
    row.tokens = tokens_by_agent(entries)
    test_out, publish = outputs.get("test"), outputs.get("publish")
    if test_out is None:
        error = last(entries, "error")
        row.status, row.reason = "failed", str((error or {}).get("error", "the test step did not finish"))[:200]
        return
    report = test_out["report"]
    comparison = report.get("comparison", {})
    already = set(comparison.get("already_failing", []))
    new = int(comparison.get("new_failures", 0))
    row.regressions = str(new)
    row.already_failing = str(comparison.get("already_count", len(already)))
    counted = report.get("source") != "exit_code"
    row.f2p = green(f2p, already, new, counted)
    row.p2p = green(p2p, already, new, counted, int(comparison.get("already_count", 0)) > len(already))
    if publish:
        row.pr = "draft" if publish.get("draft") else "ready"
        row.why = "; ".join(publish.get("draft_reasons", [])) or "review approved, tests passed"


def green(ids: list[str], already: set[str], new: int, counted: bool, cut: bool = False) -> str:
    """Whether the tests `ids` passed in the final run: none of them among its failures (new or already failing)."""
    if not ids:
        return "n/a"
    if not counted:
        return "unknown (no counts)"
    failing = [t for t in ids if junit_id(t) in already]
    if failing:
        return f"no ({len(failing)} already failing)"
    if new:
        return f"unknown ({new} new failures)"
    return "yes (cut list)" if cut else "yes"
