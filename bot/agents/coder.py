"""The Coder: implements the approved plan with verified edit tools, in phases.

Phases: `implement` (from the plan), `revise` (from review findings), `fix` (from failing
tests), `address` (a person's review of the pull request, answered comment by comment).
Each phase is a fresh conversation that restates the issue and the approved plan,
so the goal does not drift over long tool loops. Prompts: `coder_prompt.md`, `coder_task.md`.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field

from bot.agents.brief import Brief
from bot.agents.prompting import fenced, load_template, with_guidance
from bot.agents.testruns import TestRuns
from bot.agents.tools import EditSession
from bot.models.client import CallContext, ModelClient

PHASES = {
    "implement": "Implement the approved plan below.",
    "revise": "The reviewer requested changes to your implementation. Address every blocker and major "
              "finding below, then answer.",
    "address": "A person reviewed the pull request and asked for changes (below). The branch already holds "
               "the change so far; make the changes asked for, then answer. In `answers`, say for each "
               "inline comment (by its id) what you changed for it, in one or two sentences.",
    "fix": "The repository's test command does not pass with your change: what happened, the failing tests "
           "and the end of its output are below (the command may have failed before any test ran). Fix the "
           "code (not the tests, unless a test you added is wrong) so that they pass, then answer.",
}


class CoderReport(BaseModel):
    """What the Coder says it did."""

    summary: str = Field(description="What was changed and why, in a few sentences")
    notes: str = Field("", description="Anything the reviewer should know")


def render_messages(brief: Brief, phase: str, extra: str = "", diff: str = "") -> list[dict[str, str]]:
    """The system and user messages of one Coder phase."""
    system = load_template("coder_prompt").substitute(repo=brief.repo, branch=brief.branch,
                                                      base=brief.base_sha[:12])
    more = extra + (f"\n\nYour change so far:\n{fenced('current diff', diff)}" if diff else "")
    task = load_template("coder_task").substitute(
        phase=PHASES[phase], version=brief.version, plan_hash=brief.plan_hash, plan=brief.plan_text(),
        files=", ".join(f"`{f.path}`" for f in brief.plan.files), extra=more, **brief.issue_fields())
    return with_guidance([{"role": "system", "content": system}, {"role": "user", "content": task}], brief.guidance)


def code(model: ModelClient, call: CallContext, brief: Brief, session: EditSession, phase: str,
         max_tool_calls: int, extra: str = "", diff: str = "", tests: TestRuns | None = None) -> CoderReport:
    """Run one Coder phase; edits land in the session's work tree.

    With `tests`, the Coder may run the tests (`run_tests`), and its `finish` is refused while its
    latest run shows a new failure (bounded: `TestRuns.finish_problem`).
    """
    messages = render_messages(brief, phase, extra, diff)
    tools = session.tools() + ([tests.tool()] if tests else [])
    return model.structured(call, messages, CoderReport, tools=tools, max_tool_calls=max_tool_calls,
                            accept=_judge(session, phase, tests))


def _judge(session: EditSession, phase: str,
           tests: TestRuns | None) -> Callable[[CoderReport], str | None] | None:
    """The checks of an answer: an `implement` answer needs an edit; with tests, no new failure (bounded)."""
    checks = ([_changed_something(session)] if phase == "implement" else []) + (
        [lambda report: tests.finish_problem()] if tests else [])
    if not checks:
        return None
    return lambda report: next((problem for check in checks if (problem := check(report))), None)


NO_CHANGE = ("you have not changed any file yet. Make the change the plan describes with the edit tools first, "
             "then call finish; if it cannot be done, call give_up saying why.")


def _changed_something(session: EditSession) -> Callable[[CoderReport], str | None]:
    """Refuses an `implement` answer given before any edit (a model that reports work it did not do)."""
    return lambda report: None if session.touched else NO_CHANGE


class CommentAnswer(BaseModel):
    """What the Coder did about one inline review comment."""

    comment_id: int = Field(description="The id of the inline comment answered")
    note: str = Field(description="What was changed for it, in one or two sentences")


class RevisionReport(BaseModel):
    """What the Coder says it did about a review of the pull request."""

    summary: str = Field(description="What was changed and why, in a few sentences")
    answers: list[CommentAnswer] = Field(default_factory=list, description="One entry per inline comment")


def address(model: ModelClient, call: CallContext, brief: Brief, session: EditSession, request: str,
            diff: str, max_tool_calls: int, tests: TestRuns | None = None) -> RevisionReport:
    """Run the `address` phase: make the changes a reviewer of the pull request asked for.

    With `tests`, the Coder may run the tests, and its answer is refused while its latest run shows a new
    failure (bounded), as in the other phases.
    """
    messages = render_messages(brief, "address", request, diff)
    tools = session.tools() + ([tests.tool()] if tests else [])
    accept = (lambda report: tests.finish_problem()) if tests else None
    return model.structured(call, messages, RevisionReport, tools=tools, max_tool_calls=max_tool_calls,
                            accept=accept)
