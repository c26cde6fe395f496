"""The per-repository configuration file and the status checklist, as pure functions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config.repo import MAX_INSTRUCTIONS, RepoConfig, RepoConfigInvalid, load, parse
from bot.github.status import Snapshot, cancelled_text, render
from bot.runs.model import Run, State

FULL = """
trigger_label: please-fix
auto_approve_label: trusted
setup_command: pip install -e .
test_command: pytest -q
paths: {allow: ["src/**", "tests/**"], block: ["src/vendor/**"]}
max_revisions: 1
budget: {usd: 0.5, tokens: 100000}
models: {plan: gpt-4o, code: gpt-4o-mini}
draft: always
delete_branch: true
instructions: Keep it small.
"""


def test_a_full_file_validates_and_gives_effective_values() -> None:
    config = parse(FULL)
    assert config.label("issuesmith") == "please-fix" and RepoConfig().label("issuesmith") == "issuesmith"
    assert config.auto_approves(["bug", "Trusted"]) and not RepoConfig().auto_approves(["trusted"])
    assert config.model_for("plan", "m") == "gpt-4o" and config.model_for("fix", "m") == "gpt-4o-mini"
    assert config.model_for("review", "m") == "m"
    assert config.path_problem("src/app.py") is None and config.path_problem("tests/test_app.py") is None
    assert "blocked" in (config.path_problem("src/vendor/lib.py") or "")
    assert "outside the paths" in (config.path_problem("docs/index.md") or "")
    assert "blocked" in (config.path_problem(".github/workflows/ci.yml") or "")
    assert RepoConfig.from_snapshot(config.snapshot()) == config


def test_workflows_are_blocked_unless_explicitly_allowed() -> None:
    assert ".github/workflows/**" in RepoConfig().blocked()
    allowed = parse("paths: {allow_workflows: true}")
    assert allowed.path_problem(".github/workflows/ci.yml") is None


@pytest.mark.parametrize(("text", "key", "reason"), [
    ("colour: blue", "colour", "unknown key"),
    ("paths: {allow: [a], deny: [b]}", "paths.deny", "unknown key"),
    ("max_revisions: -1", "max_revisions", "greater than or equal to 0"),
    ("budget: {usd: cheap}", "budget.usd", "valid number"),
    ("draft: sometimes", "draft", "'when_failing', 'always' or 'never'"),
    ("paths: {allow: ['../etc/**']}", "paths.allow", "not a repository-relative glob"),
    ("- just\n- a list", "(file)", "must be a mapping"),
    ("agents_md: sneaky", "agents_md", "unknown key"),
])
def test_each_problem_names_its_key_and_reason(text: str, key: str, reason: str) -> None:
    with pytest.raises(RepoConfigInvalid) as caught:
        parse(text)
    assert any(k == key and reason in why for k, why in caught.value.problems), caught.value.problems


def test_an_invalid_file_still_tells_its_trigger_label() -> None:
    with pytest.raises(RepoConfigInvalid) as caught:
        parse("trigger_label: go\nmax_revisions: 99")
    assert caught.value.trigger_label == "go"


def test_load_reads_either_file_name_and_defaults_without_one() -> None:
    assert load(lambda path: None) == RepoConfig()
    files = {".github/issuesmith.yaml": "max_revisions: 3"}
    assert load(files.get).max_revisions == 3


def test_guidance_joins_instructions_and_agents_md_within_a_bound(tmp_path: Path) -> None:
    (tmp_path / "AGENTS.md").write_text("Use tabs." + "x" * MAX_INSTRUCTIONS)
    config = parse("instructions: Be brief.").with_agents_md(tmp_path)
    text = config.guidance()
    assert text.startswith("Be brief.\n\nUse tabs.") and text.endswith("longer than this]")
    assert RepoConfig.from_snapshot(config.snapshot()).agents_md == config.agents_md


def _run(**fields: object) -> Run:
    base: dict[str, object] = {"id": "r1", "repo": "o/r", "issue": 3, "installation_id": 1,
                               "created_at": 1000.0, "updated_at": 1000.0}
    return Run(**{**base, **fields})  # type: ignore[arg-type]


def _lines(text: str) -> list[str]:
    return [line[2:] for line in text.splitlines() if line.startswith("- ")]


def test_status_while_planning_and_waiting() -> None:
    planning = render(Snapshot(_run(), [], 0, 0.0), now=1005.0)
    assert _lines(planning) == ["⏳ Planning…"] and "Elapsed 5s · 0 tokens · $0.0000" in planning
    assert "`/cancel` · `/status`" in planning
    waiting = render(Snapshot(_run(state=State.AWAITING_APPROVAL, plan_version=2), [], 1500, 0.01), now=1075.0)
    assert _lines(waiting) == ["✅ Planned: plan v2", "⏸️ Waiting for `/approve` of plan v2"]
    assert "Elapsed 1m 15s · 1,500 tokens · $0.0100" in waiting and "`/approve`" in waiting


def test_status_during_and_after_implementation() -> None:
    run = _run(state=State.TESTING, plan_version=1, approved_by="carol", approved_version=1)
    log = [{"step": "code", "event": "started"}, {"step": "code", "event": "verified"},
           {"step": "test", "event": "started"},
           {"step": "test", "event": "review", "round": 1, "verdict": "request_changes"},
           {"step": "test", "event": "review", "round": 2, "verdict": "approve"},
           {"step": "test", "event": "progress", "detail": "running the tests again"}]
    assert _lines(render(Snapshot(run, log, 10, 0.0), now=1010.0)) == [
        "✅ Planned: plan v1", "✅ Approved by @carol: plan v1", "✅ Coded",
        "⏳ Testing… running the tests again",  # the review rounds follow the tests
        "✅ Review round 1: changes requested", "✅ Review round 2: approved"]
    retried = [*log, {"step": "test", "event": "started"}]  # a test step run again drops its review rounds
    assert _lines(render(Snapshot(run, retried, 10, 0.0), now=1010.0))[3:] == ["⏳ Testing…"]
    failed = _run(state=State.FAILED, plan_version=1, approved_by="carol", approved_version=1, failed_step="test",
                  error="the setup command exited with 1")
    log += [{"step": "test", "event": "tests", "passed": 2, "failed": 1, "ok": False},
            {"step": "test", "event": "error", "will_retry": False}]
    text = render(Snapshot(failed, log, 10, 0.0), now=2000.0)
    assert _lines(text)[-4:] == ["❌ Testing", "✅ Review round 1: changes requested", "✅ Review round 2: approved",
                                 "❌ Stopped at the **test** step: the setup command exited with 1"]
    assert "`/retry` · `/cancel` · `/status`" in text and "Elapsed 0s" in text  # a stopped run's clock stops


def test_check_config_command_names_problems_or_shows_the_effective_settings(tmp_path: Path) -> None:
    binary = Path(sys.executable).parent / "issuesmith"
    (tmp_path / ".github").mkdir()
    config = tmp_path / ".github" / "issuesmith.yml"
    config.write_text("max_revisions: 40\ncolour: red\n")
    bad = subprocess.run([str(binary), "check-config", str(tmp_path)], capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert "max_revisions: Input should be less than or equal to 10 (got 40)" in bad.stdout
    assert "colour: unknown key" in bad.stdout
    config.write_text("trigger_label: go\nmodels: {plan: gpt-4o}\n")
    good = subprocess.run([str(binary), "check-config", str(tmp_path)], capture_output=True, text=True, check=False)
    assert good.returncode == 0 and "trigger label: go" in good.stdout and "plan gpt-4o" in good.stdout


def test_the_cancel_line_says_when_the_job_stopped_whatever_order_the_log_has() -> None:
    command = {"ts": 100.0, "event": "command", "name": "cancel", "by": "carol"}
    requested = {"ts": 100.2, "event": "cancel_requested", "job_running": True}
    stopped = {"ts": 103.0, "event": "stopped", "step": "plan"}
    waiting = cancelled_text([command, requested])
    assert waiting == "Cancelled by @carol · the job at work stops at its next check…"
    for log in ([command, requested, stopped], [command, stopped, requested]):  # the job may log first
        assert cancelled_text(log) == "Cancelled by @carol · the plan job stopped at 00:01:43 UTC, 3s after the cancel"
    assert cancelled_text([command, {**requested, "job_running": False}]) == "Cancelled by @carol"
    assert cancelled_text([]) == "Cancelled"
