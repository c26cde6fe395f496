"""The Reviewer: judges a diff against the approved plan and its acceptance criteria, after the tests ran.

It sees the plan, the acceptance criteria, the diff with each hunk's enclosing function
(`git diff -W`), the test results and the existing assertions the change removed or rewrote.
Returns a typed `Review`; "request_changes" goes back to the Coder with the findings, a
bounded number of rounds. The caller holds the findings to the diff (`bot.agents.findings`).
Prompts: `reviewer_prompt.md`, `reviewer_task.md`.
"""

from __future__ import annotations

from bot.agents.brief import Brief
from bot.agents.prompting import load_template, untrusted, with_guidance
from bot.models.client import CallContext, ModelClient
from bot.runs.review import Review

MAX_DIFF_CHARS = 60_000
MAX_TESTS_CHARS = 8_000


def render_messages(brief: Brief, diff: str, round_no: int, tests: str = "",
                    assertions: str = "") -> list[dict[str, str]]:
    """The system and user messages of one review round."""
    shown = diff if len(diff) <= MAX_DIFF_CHARS else diff[:MAX_DIFF_CHARS] + "\n[... diff cut ...]"
    task = load_template("reviewer_task").substitute(
        round=round_no, version=brief.version, plan=brief.plan_text(), criteria=brief.criteria_text(),
        base=brief.base_sha[:12], diff=untrusted(shown),
        tests=untrusted(tests[:MAX_TESTS_CHARS] or "(no test results)"),
        assertions=untrusted(assertions or "(none)"), **brief.issue_fields())
    return with_guidance([{"role": "system", "content": load_template("reviewer_prompt").template},
                          {"role": "user", "content": task}], brief.guidance)


def review(model: ModelClient, call: CallContext, brief: Brief, diff: str, round_no: int, tests: str = "",
           assertions: str = "") -> Review:
    """Ask for a verdict on `diff` given the `tests` results and `assertions` edits; a verdict that contradicts
    its findings is corrected by code."""
    result = model.structured(call, render_messages(brief, diff, round_no, tests, assertions), Review)
    if result.verdict == "approve" and result.must_change():
        result = result.model_copy(update={"verdict": "request_changes"})
    return result
