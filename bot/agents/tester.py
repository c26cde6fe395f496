"""The Tester: adds tests for the acceptance criteria (test files only); code runs them.

Two modes: `write_tests` after the change (the test step), and `reproduce` before it (the code step's
reproduction phase, `bot.flow.reproduce`): a test that fails on the code as it is.

The model only writes tests, through the same verified tools limited to test paths;
whether the suite passes is decided by `bot.sandboxes.testresults` from what the runner produced.
Prompts: `tester_prompt.md`, `tester_task.md`; `tester_reproduce_prompt.md`,
`tester_reproduce_task.md`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from bot.agents.brief import Brief
from bot.agents.prompting import fenced, load_template, untrusted, with_guidance
from bot.agents.tools import EditSession
from bot.models.client import CallContext, ModelClient

TEST_GLOBS = ("tests/**", "test/**", "**/tests/**", "**/test_*.py", "**/*_test.py", "**/*_test.go",
              "**/*.test.js", "**/*.test.ts", "**/*.spec.js", "**/*.spec.ts", "test_*.py")


class TesterReport(BaseModel):
    """What the Tester added."""

    summary: str
    tests_added: list[str] = Field(default_factory=list)


def render_messages(brief: Brief, diff: str) -> list[dict[str, str]]:
    """The system and user messages of the test-writing phase."""
    system = load_template("tester_prompt").substitute(repo=brief.repo,
                                                       test_command=brief.test_command or "unknown")
    task = load_template("tester_task").substitute(criteria=brief.criteria_text(), diff=untrusted(diff),
                                                   **brief.issue_fields())
    return with_guidance([{"role": "system", "content": system}, {"role": "user", "content": task}], brief.guidance)


def write_tests(model: ModelClient, call: CallContext, brief: Brief, session: EditSession, diff: str,
                max_tool_calls: int) -> TesterReport:
    """Let the model add tests for the acceptance criteria (edits limited to test paths)."""
    return model.structured(call, render_messages(brief, diff), TesterReport, tools=session.tools(),
                            max_tool_calls=max_tool_calls)


def reproduce_messages(brief: Brief, feedback: str = "") -> list[dict[str, str]]:
    """The system and user messages of the reproduction phase; `feedback`: why the last try was rejected."""
    system = load_template("tester_reproduce_prompt").substitute(repo=brief.repo,
                                                                 test_command=brief.test_command or "unknown")
    shown = f"\nYour last try was rejected:\n{fenced('rejection', feedback)}\n" if feedback else ""
    task = load_template("tester_reproduce_task").substitute(criteria=brief.criteria_text(), feedback=shown,
                                                             **brief.issue_fields())
    return with_guidance([{"role": "system", "content": system}, {"role": "user", "content": task}], brief.guidance)


def reproduce(model: ModelClient, call: CallContext, brief: Brief, session: EditSession, feedback: str,
              max_tool_calls: int) -> TesterReport:
    """Let the model write a test that fails on the current code (edits limited to test paths)."""
    return model.structured(call, reproduce_messages(brief, feedback), TesterReport, tools=session.tools(),
                            max_tool_calls=max_tool_calls)
