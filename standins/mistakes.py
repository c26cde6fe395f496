"""A catalogue of typical small-model mistakes, each injected once into the demo's good trajectory.

Each :class:`Mistake` rewrites one agent's replies of the demo transcript (`bot/cli/demo/transcript.jsonl`:
the Planner plans, the Coder views `textstats/__init__.py` and fixes `word_count`, the Reviewer approves,
the Tester adds two tests): it adds a wrong turn before the good one, or replaces a good turn by a
wrong one that a tolerant client still understands. A model that makes the mistake and, told what
went wrong, then does the right thing replays as exactly that. A mistake whose `fails_as` is set
cannot end in the right patch with a scripted replay (the replay does not listen); the run must
then stop with a failure that says so (the phrase `fails_as`).

`bench/agent_faults.py` runs every mistake through the whole flow and measures it;
`tests/integration/test_agent_faults.py` asserts each one recovers or fails as named.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace

from standins.openai import Reply
from standins.trajectory import Trajectory

VIEW = ("view_file", {"path": "textstats/__init__.py"})
FIXED_LINE = "return len(text.split())"
BROKEN_LINE = 'return len(text.split(" "))'


@dataclass(frozen=True)
class Mistake:
    """One mistake: which agent makes it, what it is, and how it changes that agent's replies."""

    name: str
    agent: str
    what: str
    inject: Callable[[list[Reply]], list[Reply]]
    fails_as: str = ""  # a phrase of the failure comment when the run cannot recover; "" = must recover

    def apply(self, trajectory: Trajectory) -> Trajectory:
        """`trajectory` with this mistake made (a new mapping; the replies given are not changed)."""
        return {**trajectory, self.agent: self.inject(list(trajectory[self.agent]))}


def _answer(reply: Reply) -> str:
    return reply.content or ""


def _reworded(wrap: Callable[[str], str], at: int = -1) -> Callable[[list[Reply]], list[Reply]]:
    """Replace the agent's answer (its reply at `at`) by the same answer written as `wrap` says."""
    def inject(replies: list[Reply]) -> list[Reply]:
        replies[at] = replace(replies[at], content=wrap(_answer(replies[at])))
        return replies
    return inject


def _before(at: int, *wrong: Reply) -> Callable[[list[Reply]], list[Reply]]:
    """Give the `wrong` replies before the agent's good reply at `at`."""
    return lambda replies: [*replies[:at], *wrong, *replies[at:]]


def _instead(at: int, *wrong: Reply) -> Callable[[list[Reply]], list[Reply]]:
    """Give the `wrong` replies instead of the agent's good reply at `at`."""
    return lambda replies: [*replies[:at], *wrong, *replies[at + 1:]]


def _edit(old: str, new: str) -> Reply:
    return Reply.tool_calls([("replace_text", {"path": "textstats/__init__.py", "old_text": old, "new_text": new})])


def _plan_naming_missing_file(replies: list[Reply]) -> list[Reply]:
    plan = json.loads(_answer(replies[0]))
    wrong = {**plan, "files": [{**plan["files"][0], "path": "textstats/words.py"}, *plan["files"][1:]]}
    return [Reply.json(wrong), *replies]


def _no_usage(replies: list[Reply]) -> list[Reply]:
    return [reply.no_usage() for reply in replies]


_FIX_ARGS = json.dumps({"path": "textstats/__init__.py", "old_text": BROKEN_LINE, "new_text": FIXED_LINE})
_REPORT = {"summary": "word_count splits on any whitespace now.", "notes": ""}

CATALOGUE: tuple[Mistake, ...] = (
    Mistake("prose_around_json", "planner", "the plan between a sentence before and one after",
            _reworded(lambda text: f"Here is the plan you asked for:\n{text}\nLet me know if it needs changes.")),
    Mistake("fenced_json", "reviewer", "the review in a ```json fence",
            _reworded(lambda text: f"```json\n{text}\n```")),
    Mistake("think_prefix", "planner", "a <think> block (holding braces) before the plan",
            _reworded(lambda text: "<think>The issue is about split(' '); maybe {\"files\": []}? No, the "
                                   f"plan needs the module and its tests.</think>\n{text}")),
    Mistake("truncated_tool_args", "coder", "the edit's arguments cut off at the output cap (finish_reason=length)",
            _before(1, Reply.tool_calls([("replace_text", _FIX_ARGS[:45])], finish_reason="length"))),
    Mistake("misspelt_path", "coder", "view_file of textstats/__init.py (the file is __init__.py)",
            _before(0, Reply.tool_calls([("view_file", {"path": "textstats/__init.py"})]))),
    Mistake("stripped_indentation", "coder", "old_text of two body lines with their indentation stripped",
            _instead(1, _edit(f'"""Number of words in text."""\n{BROKEN_LINE}',
                              f'"""Number of words in text."""\n{FIXED_LINE}'))),
    Mistake("line_numbers", "coder", "old_text pasted from view_file with its line numbers",
            _instead(1, _edit(f'     5\t    """Number of words in text."""\n     6\t    {BROKEN_LINE}',
                              f'    """Number of words in text."""\n    {FIXED_LINE}'))),
    Mistake("diff_markers", "coder", "old_text and new_text as a diff hunk (- and + markers)",
            _instead(1, _edit(f'     """Number of words in text."""\n-    {BROKEN_LINE}',
                              f'     """Number of words in text."""\n+    {FIXED_LINE}'))),
    Mistake("edit_already_changed", "coder", "the same edit made again after it was applied",
            _before(2, _edit(BROKEN_LINE, FIXED_LINE))),
    Mistake("same_view_five_times", "coder", "view_file of the same file five times in a row",
            _instead(0, *(Reply.tool_calls([VIEW]) for _ in range(5))), fails_as="same call"),
    Mistake("finish_before_edit", "coder", "finish called with a report before any edit",
            _before(0, Reply.tool_calls([("finish", _REPORT)]))),
    Mistake("missing_usage", "coder", "no usage object in any of the Coder's replies", _no_usage),
    Mistake("unknown_tool", "coder", "a call of edit_file, a tool that does not exist",
            _before(1, Reply.tool_calls([("edit_file", {"path": "textstats/__init__.py", "content": FIXED_LINE})]))),
    Mistake("args_trailing_garbage", "coder", "tool arguments: a JSON string followed by garbage",
            _before(1, Reply.tool_calls([("replace_text", _FIX_ARGS + "}\n<|im_end|>")]))),
    Mistake("plan_missing_file", "planner", "a plan that modifies textstats/words.py, which does not exist",
            _plan_naming_missing_file),
    Mistake("empty_reply", "reviewer", "an empty reply before the review", _before(0, Reply.text(""))),
    Mistake("finish_schema_invalid", "coder", "finish called with arguments missing the required summary",
            _before(2, Reply.tool_calls([("finish", {"notes": "done", "summary_text": 3})]))),
    Mistake("double_encoded_answer", "tester", "the answer as a JSON string holding the JSON object",
            _reworded(json.dumps)),
    Mistake("tool_call_as_text", "coder", "the view call written as JSON text in the content, no tool_calls",
            _instead(0, Reply.text(json.dumps({"name": VIEW[0], "arguments": VIEW[1]})))),
    Mistake("prose_instead_of_json", "reviewer", "a review in prose, no JSON, before the real one",
            _before(0, Reply.text("The change looks right to me; I approve it."))),
)
"""Every mistake, one per line of the measured table (README, bench/README.md)."""


def mistake(name: str) -> Mistake:
    """The catalogue's mistake called `name`."""
    for found in CATALOGUE:
        if found.name == name:
            return found
    raise KeyError(f"no mistake {name!r}; known: {', '.join(m.name for m in CATALOGUE)}")
