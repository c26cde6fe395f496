"""Input tokens per agent with the bounded context, beside what the untrimmed conversation would have sent.

A long, realistic run is scripted on a real-sized repository (a clone of this one at HEAD): the Planner
reads files and searches with its 8 tool calls, the Coder makes its whole budget of 40 tool calls (views
of files of 200-1,000 lines, views again after its edits, searches, 8 edits), the Reviewer judges the diff
and the Tester makes 12 tool calls (a new test file, edits, views). The agents are the real ones (their
prompts, tools and pydantic answers) and so is the model client (`bot.models.client.ModelClient`: the
context fitting of `bot.models.context`), against the OpenAI stand-in over HTTP replaying the script.

For every model call the client records, side by side, the prompt it sent (fitted to the input window:
old superseded views and, when still over the window, old tool outputs become one-line notes) and the
same history untrimmed; the bench also counts what the history would have been with every tool output
whole (before issue 15 nothing capped them at 12,000 characters). All are estimated alike, four characters
a token over the JSON of the messages and tool schemas. Output tokens are the stand-in's count of the
replies.

    .venv/bin/python bench/tokens.py                    # the default window (ISSUESMITH_MODEL_MAX_INPUT_TOKENS)
    .venv/bin/python bench/tokens.py --input-tokens 16000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402

from bot.agents import coder, planner, reviewer, tester  # noqa: E402
from bot.agents.brief import Brief  # noqa: E402
from bot.agents.tools import EditSession  # noqa: E402
from bot.config.pricing import Budget, PriceTable  # noqa: E402
from bot.core.errors import ContextOverflow  # noqa: E402
from bot.localize.context import build_context  # noqa: E402
from bot.models.client import DEFAULT_INPUT_TOKENS, CallContext, ModelClient, Tool  # noqa: E402
from bot.models.context import cap_output  # noqa: E402
from bot.models.sampling import Sampling  # noqa: E402
from bot.runs.issue import IssueInfo  # noqa: E402
from bot.runs.plan import Plan, plan_hash  # noqa: E402
from bot.sandboxes.base import unchanged  # noqa: E402
from bot.workspace import edits  # noqa: E402
from bot.workspace.git import Git  # noqa: E402
from standins.openai import FakeOpenAI, Reply  # noqa: E402
from standins.server import ServerThread  # noqa: E402

KEY = "sk-bench-tokens-0000000000"
ESTIMATE_BEFORE = {"Planner": 96_000, "Coder": 184_000, "Tester": 84_000}
"""Issue 15's estimate of a typical run's input tokens per agent before the bounded context (~370k in all)."""
ISSUE = IssueInfo(
    number=1, author="carol", labels=("issuesmith",), state="open",
    title="The OpenAI stand-in counts prompt tokens from the message text only",
    body="`standins/openai.py` reports `usage.prompt_tokens` as the text of the messages divided by four, so "
         "the tool schemas and the JSON around the messages are not counted, while real servers count them "
         "(they are rendered into the prompt). The server profiles in `standins/profiles.py` then judge "
         "`num_ctx` and `--max-model-len` on a different size than the usage reports. Count what "
         "`_prompt_size` counts, and test it in `tests/unit/models/test_server_profiles.py`.")
PLAN_FILES = ("standins/openai.py", "standins/profiles.py", "tests/unit/models/test_server_profiles.py")
NEW_TEST = "tests/unit/models/test_prompt_count.py"


@dataclass
class Tally:
    """One agent's calls: input tokens sent, untrimmed, untrimmed with whole tool outputs; output tokens."""

    calls: int = 0
    sent: int = 0
    untrimmed: int = 0
    uncapped: int = 0
    output: int = 0
    largest_sent: int = 0
    largest_uncapped: int = 0


class Ledger:
    """The client's ledger, in memory: tallies each call per agent (`bot.models.client.Ledger`)."""

    def __init__(self) -> None:
        self.tallies: dict[str, Tally] = defaultdict(Tally)
        self.cut_chars = 0  # JSON characters the output caps took out of the current conversation
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def log(self, run_id: str, step: str, event: str, **detail: Any) -> None:
        self.events.append((step, event, detail))

    def usage(self, run_id: str) -> Mapping[str, float]:
        return {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0, "cost_usd": 0.0}

    def add_usage(self, run_id: str, step: str, model: str, prompt_tokens: int, completion_tokens: int,
                  cost_usd: float, **detail: Any) -> None:
        tally = self.tallies[step]
        uncapped = detail["untrimmed_estimate"] + self.cut_chars // 4
        tally.calls += 1
        tally.sent += detail["prompt_estimate"]
        tally.untrimmed += detail["untrimmed_estimate"]
        tally.uncapped += uncapped
        tally.output += completion_tokens
        tally.largest_sent = max(tally.largest_sent, detail["prompt_estimate"])
        tally.largest_uncapped = max(tally.largest_uncapped, uncapped)

    def kept_reply(self, run_id: str, memo: str, digest: str) -> str | None:
        return None

    def keep_reply(self, run_id: str, memo: str, digest: str, reply: str) -> None:
        """Nothing is kept: no job resumes here."""


def measured(tools: list[Tool], ledger: Ledger) -> list[Tool]:
    """`tools`, each counting how much the output cap takes out of its results (for the uncapped figure)."""
    def wrap(tool: Tool) -> Tool:
        def run(arguments: Any) -> str:
            whole = tool.run(arguments)
            ledger.cut_chars += len(json.dumps(whole)) - len(json.dumps(cap_output(whole)))
            return whole
        return replace(tool, run=run)
    return [wrap(tool) for tool in tools]


class Script:
    """The run's replies, built from the repository itself so that every view and edit is real."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._edits = 0

    def unique_lines(self, path: str, count: int, skip: int = 0) -> list[str]:
        """`count` lines of `path` (after the first `skip`) that occur once in it and are safe to follow."""
        lines = (self.root / path).read_text().splitlines()
        seen = {line: lines.count(line) for line in lines}
        fit = [line for line in lines[skip:] if seen[line] == 1 and len(line.strip()) > 30
               and not line.rstrip().endswith("\\") and '"""' not in line and "'''" not in line]
        step = max(len(fit) // (count + 1), 1)
        return [fit[(i + 1) * step] for i in range(count)]

    def edit(self, path: str, line: str) -> tuple[str, dict[str, Any]]:
        """A `replace_text` that adds a comment line after `line` (unique in `path`)."""
        self._edits += 1
        indent = line[: len(line) - len(line.lstrip())]
        return "replace_text", {"path": path, "old_text": line,
                                "new_text": f"{line}\n{indent}# counted as the server counts it ({self._edits})"}

    def planner(self) -> list[Reply]:
        calls: list[tuple[str, dict[str, Any]]] = [
            ("read_file", {"path": "standins/openai.py"}),
            ("search_code", {"query": "_estimate_tokens"}),
            ("read_file", {"path": "standins/openai.py", "start_line": 400, "end_line": 800}),
            ("read_file", {"path": "standins/profiles.py"}),
            ("search_code", {"query": "prompt_tokens"}),
            ("read_file", {"path": "bot/models/context.py"}),
            ("read_file", {"path": "tests/unit/models/test_server_profiles.py"}),
            ("read_file", {"path": "bot/localize/text.py"}),
        ]
        plan = {"title": "Count prompt tokens the way servers do in the OpenAI stand-in",
                "summary": "The stand-in's usage counts only message text. Count the messages' JSON and the tool "
                           "schemas, as `_prompt_size` does, so profiles and usage agree.",
                "steps": ["Use `_prompt_size` for `usage.prompt_tokens` in `_completion`.",
                          "Keep `num_ctx` capping on the same count in `standins/profiles.py` users.",
                          "Test the count with and without tools."],
                "files": [{"path": p, "action": "modify", "reason": "the count and its test"} for p in PLAN_FILES],
                "acceptance_criteria": ["usage.prompt_tokens counts tool schemas", "num_ctx caps that count"],
                "test_strategy": "pytest tests/unit/models", "risks": ["tests asserting the old counts"]}
        return [*(Reply.tool_calls([call]) for call in calls), Reply.json(plan)]

    def coder(self) -> list[Reply]:
        big, profiles, tests = PLAN_FILES
        lines = self.unique_lines(big, 5, skip=120)
        calls: list[tuple[str, dict[str, Any]]] = [
            ("view_file", {"path": big}),
            ("search_code", {"query": "_estimate_tokens"}),
            ("view_file", {"path": big, "start_line": 400, "end_line": 800}),
            ("view_file", {"path": big, "start_line": 800}),
            ("view_file", {"path": profiles}),
            ("view_file", {"path": "bot/models/context.py"}),
            ("search_code", {"query": "prompt_tokens"}),
            ("view_file", {"path": "bot/localize/text.py"}),
            ("view_file", {"path": tests}),
            self.edit(big, lines[0]),
            ("view_file", {"path": big, "start_line": 440, "end_line": 540}),
            self.edit(big, lines[1]),
            ("view_file", {"path": big}),
            ("search_code", {"query": "usage"}),
            ("view_file", {"path": "bot/models/client.py"}),
            self.edit(profiles, self.unique_lines(profiles, 1, skip=40)[0]),
            ("view_file", {"path": profiles}),
            ("view_file", {"path": "tests/unit/models/test_model_layer.py"}),
            ("search_code", {"query": "FakeOpenAI("}),
            ("view_file", {"path": "standins/trajectory.py"}),
            ("view_file", {"path": "tests/world.py"}),
            self.edit(big, lines[2]),
            ("view_file", {"path": big, "start_line": 400, "end_line": 800}),
            ("view_file", {"path": "standins/mistakes.py"}),
            ("search_code", {"query": "num_ctx"}),
            ("view_file", {"path": "bot/models/formats.py"}),
            self.edit(big, lines[3]),
            ("view_file", {"path": big, "start_line": 800}),
            ("view_file", {"path": "bot/models/parsing.py"}),
            ("search_code", {"query": "shows_usage"}),
            ("view_file", {"path": tests}),
            self.edit(tests, self.unique_lines(tests, 1, skip=60)[0]),
            ("view_file", {"path": tests, "start_line": 1, "end_line": 120}),
            ("view_file", {"path": "bot/flow/implement.py"}),
            self.edit(big, lines[4]),
            ("view_file", {"path": big}),
            ("search_code", {"query": "_prompt_size"}),
            self.edit(profiles, self.unique_lines(profiles, 2, skip=40)[1]),
            ("view_file", {"path": profiles}),
            ("view_file", {"path": big, "start_line": 300, "end_line": 700}),
        ]
        report = {"summary": "usage.prompt_tokens now counts what _prompt_size counts; profiles cap that count.",
                  "notes": ""}
        return [*(Reply.tool_calls([call]) for call in calls), Reply.json(report)]

    def reviewer(self) -> list[Reply]:
        return [Reply.json({"verdict": "approve", "summary": "Counts as planned.", "findings": []})]

    def tester(self) -> list[Reply]:
        body = "\n".join(["\"\"\"The stand-in counts tool schemas in prompt_tokens.\"\"\"", "",
                          "from standins.openai import FakeOpenAI", "", "",
                          "def test_made() -> None:", "    assert FakeOpenAI(api_key='k') is not None", ""])
        calls: list[tuple[str, dict[str, Any]]] = [
            ("view_file", {"path": "tests/unit/models/test_server_profiles.py"}),
            ("view_file", {"path": "tests/world.py"}),
            ("search_code", {"query": "FakeOpenAI(api_key"}),
            ("view_file", {"path": "standins/openai.py", "start_line": 400, "end_line": 800}),
            ("create_file", {"path": NEW_TEST, "content": body}),
            ("view_file", {"path": NEW_TEST}),
            ("replace_text", {"path": NEW_TEST, "old_text": "def test_made() -> None:",
                              "new_text": "def test_the_stand_in_is_made() -> None:"}),
            ("view_file", {"path": "tests/conftest.py"}),
            ("search_code", {"query": "prompt_tokens"}),
            ("view_file", {"path": "tests/unit/models/test_server_profiles.py", "start_line": 100}),
            ("view_file", {"path": NEW_TEST}),
            ("view_file", {"path": "standins/openai.py", "start_line": 1, "end_line": 300}),
        ]
        report = {"summary": "Added a test of the count.", "tests_added": ["test_the_stand_in_is_made"]}
        return [*(Reply.tool_calls([call]) for call in calls), Reply.json(report)]


def run(root: Path, input_tokens: int) -> tuple[dict[str, Tally], list[tuple[str, str, dict[str, Any]]], str]:
    """The scripted run through the real agents and client: each agent's tally, the client's log, and why the run
    stopped early ("" when it did not)."""
    fake = FakeOpenAI(api_key=KEY)
    script = Script(root)
    for agent, replies in (("Planner", script.planner()), ("Coder", script.coder()),
                           ("Reviewer", script.reviewer()), ("Tester", script.tester())):
        fake.script(*replies, match=f"{agent} of issuesmith")
    ledger = Ledger()
    git = Git(unchanged)
    try:
        _agents(fake, root, input_tokens, ledger, git)
    except ContextOverflow as exc:  # a window too small for what an agent must keep: its step fails, and so does this
        return dict(ledger.tallies), ledger.events, f"stopped at the {AGENTS[exc_step(ledger)]}: {exc}"
    assert fake.pending() == 0, f"{fake.pending()} scripted replies were not asked for"
    return dict(ledger.tallies), ledger.events, ""


def exc_step(ledger: Ledger) -> str:
    """The step of the last thing the client logged (where a conversation stopped)."""
    return ledger.events[-1][0] if ledger.events else "plan"


def _agents(fake: FakeOpenAI, root: Path, input_tokens: int, ledger: Ledger, git: Git) -> None:
    """Planner, Coder, Reviewer and Tester in turn, as an implement run has them."""
    with ServerThread(fake.app) as server:
        sdk = openai.OpenAI(api_key=KEY, base_url=f"{server.url}/v1", max_retries=0)
        client = ModelClient(sdk.chat.completions.create, "gpt-4o-mini", ledger, PriceTable(),
                             Budget(max_usd=1_000.0, max_tokens=10**9), sampling=Sampling(),
                             max_input_tokens=input_tokens)
        base = git("rev-parse", "HEAD", cwd=root).strip()
        context = build_context(root, f"{ISSUE.title}\n{ISSUE.body}", 12_000, cache_dir=False, git=git)
        inp = planner.PlannerInput("acme/issuesmith", "main", base, ISSUE, context, "pytest -q")
        tools = measured(planner.read_only_tools(root, git), ledger)
        plan = planner_answer(client, inp, root, tools, ledger)
        brief = Brief("acme/issuesmith", "issuesmith/1-count", base, ISSUE, plan, 1, plan_hash(plan), "pytest -q")
        session = EditSession(root, edits.Scope(allowed=PLAN_FILES), git=git)
        ledger.cut_chars = 0
        messages = coder.render_messages(brief, "implement")
        client.structured(CallContext("bench", "code"), messages, coder.CoderReport,
                          tools=measured(session.tools(), ledger), max_tool_calls=40)
        diff = git("diff", cwd=root)
        ledger.cut_chars = 0
        reviewer.review(client, CallContext("bench", "review"), brief, diff, 1, tests="12 passed, 0 failed")
        tests = EditSession(root, edits.Scope(allowed=(), extra_globs=tester.TEST_GLOBS), git=git)
        ledger.cut_chars = 0
        client.structured(CallContext("bench", "test"), tester.render_messages(brief, diff), tester.TesterReport,
                          tools=measured(tests.tools(), ledger), max_tool_calls=12)


def planner_answer(client: ModelClient, inp: planner.PlannerInput, root: Path, tools: list[Tool],
                   ledger: Ledger) -> Plan:
    """The Planner's conversation, as `bot.agents.planner.plan` has it, with measured tools; the plan checked."""
    ledger.cut_chars = 0
    plan = client.structured(CallContext("bench", "plan"), planner.render_messages(inp), Plan, tools=tools,
                             max_tool_calls=8)
    problems = planner.verify_plan(plan, root)
    assert not problems, problems
    return plan


AGENTS = {"plan": "Planner", "code": "Coder", "review": "Reviewer", "test": "Tester"}


def table(tallies: dict[str, Tally]) -> str:
    """The per-agent figures as a Markdown table, with the issue's estimate beside them."""
    rows = ["| agent | model calls | input sent (bounded) | untrimmed | untrimmed, whole tool outputs | "
            "largest prompt sent / untrimmed whole | output | issue 15's estimate |",
            "|---|---|---|---|---|---|---|---|"]
    total = Tally()
    for step, agent in AGENTS.items():
        t = tallies.get(step, Tally())
        total = Tally(total.calls + t.calls, total.sent + t.sent, total.untrimmed + t.untrimmed,
                      total.uncapped + t.uncapped, total.output + t.output)
        before = ESTIMATE_BEFORE.get(agent)
        rows.append(f"| {agent} | {t.calls} | {t.sent:,} | {t.untrimmed:,} | {t.uncapped:,} | "
                    f"{t.largest_sent:,} / {t.largest_uncapped:,} | {t.output:,} | "
                    f"{f'~{before:,}' if before else '—'} |")
    rows.append(f"| **total** | {total.calls} | **{total.sent:,}** | {total.untrimmed:,} | {total.uncapped:,} | — | "
                f"{total.output:,} | ~{sum(ESTIMATE_BEFORE.values()):,} |")
    share = total.sent / total.uncapped if total.uncapped else 0.0
    return "\n".join(rows) + (f"\n\nsent ÷ untrimmed with whole outputs: {share:.0%}; sent ÷ issue 15's estimate: "
                              f"{total.sent / sum(ESTIMATE_BEFORE.values()):.0%}")


def main(argv: list[str] | None = None) -> int:
    """Clone this repository, run the scripted run, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-tokens", type=int, default=DEFAULT_INPUT_TOKENS,
                        help="the model's input window (ISSUESMITH_MODEL_MAX_INPUT_TOKENS)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="issuesmith-tokens-") as tmp:
        root = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(root)], check=True)
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        files = len(subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True,
                                   check=True).stdout.splitlines())
        tallies, events, stopped = run(root, args.input_tokens)
    refused = [e for e in events if e[1] in ("invalid_output", "repeated_call", "output_cut_off")]
    print(f"repository: issuesmith at {head} ({files:,} files); input window {args.input_tokens:,} tokens; "
          f"{sum(e[1] == 'tool_call' for e in events)} tool calls; {len(refused)} refused answers\n")
    print(table(tallies))
    if stopped:
        print(f"\n{stopped}")
    return 1 if stopped else 0


if __name__ == "__main__":
    sys.exit(main())
