"""The scripted model of one instance: a transcript (`bot.models.replay`'s format) whose replies are the
instance's own patches, made through the agents' edit tools.

Per agent, in the order the flow asks (`bot.flow.reproduce`, `bot.flow.implement`):

* Planner: one plan naming the gold patch's files, the issue's first line as its title;
* Tester, reproduction phase: the test patch as edits, then its answer; a second answer in case the
  phase asks again (a rejected try), and a second copy of the test patch with an answer for the test step,
  which the flow only reaches with the first copy when the reproduction was rejected twice;
* Coder: the gold patch as edits (with `--wrong-first`, first a wrong variant and a `run_tests` that shows
  it failing, then the edit to the gold text), `run_tests` on the reproduction's files, its answer; then
  answers with no change, for fix rounds and refused answers (each phase takes what it needs);
* Reviewer: approve (twice, for a second round).

Replies carry no usage: the run's log then holds only the bot's own estimate of what each call sent
(`prompt_estimate`), which is what the harness reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from replay_bench.patches import FileDiff, replacements

SPARE_ANSWERS = 9  # up to 3 per Coder phase (an answer refused twice), implement and 2 fix rounds


@dataclass(frozen=True)
class FileChange:
    """One file of a patch: its diff, its content before and after (None: absent)."""

    diff: FileDiff
    old: str | None
    new: str | None


def tool_reply(agent: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A reply that makes one tool call."""
    return {"agent": agent, "message": {"content": None, "tool_calls": [
        {"name": name, "arguments": json.dumps(arguments)}]}}


def answer(agent: str, content: dict[str, Any]) -> dict[str, Any]:
    """A reply that answers (the phase's final JSON)."""
    return {"agent": agent, "message": {"content": content}}


def edit_calls(agent: str, change: FileChange) -> list[dict[str, Any]]:
    """The replies that make `change` with the edit tools: create, delete, or `replace_text` per region."""
    path = change.diff.path
    if change.new is None:
        return [tool_reply(agent, "delete_file", {"path": path})]
    if change.old is None:
        return [tool_reply(agent, "create_file", {"path": path, "content": change.new})]
    return [tool_reply(agent, "replace_text", {"path": path, "old_text": e.old_text, "new_text": e.new_text})
            for e in replacements(change.old, change.new)]


def plan(instance: dict[str, Any], gold: list[FileChange]) -> dict[str, Any]:
    """The Planner's plan: the gold patch's files, criteria from the instance's tests."""
    title = instance["problem_statement"].strip().splitlines()[0].lstrip("#").strip()[:80] or instance["instance_id"]
    action = {"modify": "modify", "create": "create", "delete": "delete"}
    files = [{"path": c.diff.path, "action": action[c.diff.status], "reason": "changed by the fix"} for c in gold]
    failing = instance["FAIL_TO_PASS"]
    return {"title": f"Fix: {title}", "summary": f"Replayed fix of {instance['instance_id']}.",
            "steps": [f"Change {c.diff.path}" for c in gold],
            "files": files,
            "acceptance_criteria": [f"{t} passes" for t in failing[:10]] + ["the existing tests still pass"],
            "test_strategy": "The repository's pytest suite on the instance's test files.",
            "risks": ["none known"]}


def transcript(instance: dict[str, Any], gold: list[FileChange], tests: list[FileChange], selector: str,
               wrong: FileChange | None = None) -> list[dict[str, Any]]:
    """Every reply of the scripted run (see the module)."""
    entries = [answer("planner", plan(instance, gold))]
    test_edits = [reply for change in tests for reply in edit_calls("tester", change)]
    written = {"summary": "Added the instance's tests.", "tests_added": instance["FAIL_TO_PASS"][:20]}
    entries += [*test_edits, answer("tester", written), answer("tester", written),
                *test_edits, answer("tester", written)]
    entries += coder_replies(gold, selector, wrong)
    entries += [answer("reviewer", {"verdict": "approve", "summary": "The change does what the plan says.",
                                    "findings": []})] * 2
    return entries


def coder_replies(gold: list[FileChange], selector: str, wrong: FileChange | None) -> list[dict[str, Any]]:
    """The Coder's replies: the gold edits (a wrong variant first, with a test run, when given), a test run,
    the answer, then spare answers."""
    replies = []
    for change in gold:
        if wrong is not None and change.diff.path == wrong.diff.path:
            replies += edit_calls("coder", wrong)
            replies.append(tool_reply("coder", "run_tests", {"selector": selector}))
            replies += edit_calls("coder", FileChange(change.diff, wrong.new, change.new))
        else:
            replies += edit_calls("coder", change)
    replies.append(tool_reply("coder", "run_tests", {"selector": selector}))
    done = {"summary": "Applied the fix.", "notes": ""}
    replies += [answer("coder", done)] * (1 + SPARE_ANSWERS)
    return replies
