"""Plan hashing and verification, and the comments rendered from a plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.agents.planner import verify_plan
from bot.config.policy import is_blocked
from bot.github import comments
from bot.runs.plan import Plan, plan_hash
from tests.world import SAMPLE_PLAN, SAMPLE_REPO, plan_with


def test_hash_is_stable_and_content_sensitive() -> None:
    a = Plan.model_validate(SAMPLE_PLAN)
    assert plan_hash(a) == plan_hash(Plan.model_validate(dict(SAMPLE_PLAN)))
    assert plan_hash(a) != plan_hash(Plan.model_validate(plan_with(title="Other")))
    assert len(plan_hash(a)) == 12


@pytest.mark.parametrize("path", [".github/workflows/ci.yml", "sub/.github/workflows/x.yaml"])
def test_workflows_are_blocked(path: str) -> None:
    assert is_blocked(path)


def test_verify_accepts_the_sample_plan() -> None:
    assert verify_plan(Plan.model_validate(SAMPLE_PLAN), SAMPLE_REPO) == []


@pytest.mark.parametrize(("change", "problem"), [
    ({"path": "nope.py", "action": "modify", "reason": "r"}, "nope.py does not exist"),
    ({"path": "README.md", "action": "create", "reason": "r"}, "README.md already exists"),
    ({"path": "../outside.py", "action": "create", "reason": "r"}, "not a relative path inside"),
    ({"path": "/etc/passwd", "action": "modify", "reason": "r"}, "not a relative path inside"),
    ({"path": ".github/workflows/ci.yml", "action": "modify", "reason": "r"}, "blocked path"),
])
def test_verify_reports_bad_files(change: dict, problem: str) -> None:
    problems = verify_plan(Plan.model_validate(plan_with(files=[change])), SAMPLE_REPO)
    assert any(problem in p for p in problems), problems


def test_plan_comment_has_every_section_and_the_marker() -> None:
    plan = Plan.model_validate(plan_with(files=[{"path": "a|b.py", "action": "create", "reason": "x|y"}]))
    body = comments.render_plan(plan, "r1", 2, "abc123", "python -m pytest -q")
    assert body.startswith("<!-- issuesmith:plan run=r1 v=2 hash=abc123 -->")
    for section in ("## 🛠️ Plan v2: Count words", "### Steps\n1. Change word_count", "### Files",
                    "### Acceptance criteria\n- [ ] word_count('a  b') == 2", "### How it will be tested",
                    "Test command: `python -m pytest -q`", "### Risks and out of scope", comments.APPROVE_HELP):
        assert section in body
    assert "| `a\\|b.py` | create | x\\|y |" in body  # GFM splits cells on `|` even inside a code span


def test_superseded_plan_keeps_its_marker_and_folds_the_old_text() -> None:
    body = comments.render_plan(Plan.model_validate(SAMPLE_PLAN), "r1", 1, "h1")
    folded = comments.render_superseded(body, 1, 2)
    assert folded.startswith(comments.plan_marker("r1", 1, "h1"))
    assert "superseded by plan v2" in folded and "<details>" in folded and "### Steps" in folded
    assert comments.is_superseded(folded) and not comments.is_superseded(body)


def test_failure_comment_always_says_what_to_do(tmp_path: Path) -> None:
    text = comments.failed("plan", "GitHub answered 502", "", "10 tokens in 1 model calls, $0.0000")
    assert "stopped at the **plan** step: GitHub answered 502" in text and "`/retry`" in text
    hinted = comments.failed("plan", "budget", "raise the budget", "x")
    assert "raise the budget. Then reply `/retry` to run the step again." in hinted
