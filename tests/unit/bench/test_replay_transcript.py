"""`bench/replay_bench/transcript.py`: the scripted model's replies, as `bot.models.replay` reads and hands them out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from replay_bench.patches import FileDiff, apply, replacements
from replay_bench.transcript import FileChange, transcript

from bot.models.replay import ReplayModel, load
from bot.runs.plan import Plan

OLD = "def f(x):\n    y = x\n    return y + 1\n\n\ndef g():\n    return 0\n"
NEW = "def f(x):\n    y = -x\n    return y + 2\n\n\ndef g():\n    return 0\n"
GOLD = [FileChange(FileDiff("pkg/m.py", "modify", ""), OLD, NEW),
        FileChange(FileDiff("pkg/new.py", "create", ""), None, "X = 1\n")]
TESTS = [FileChange(FileDiff("tests/test_m.py", "modify", ""), "def test_a():\n    pass\n",
                    "def test_a():\n    pass\n\n\ndef test_f():\n    assert f(1) == 1\n")]
INSTANCE = {"instance_id": "o__r-1", "problem_statement": "# f is wrong\nIt adds one.",
            "FAIL_TO_PASS": ["tests/test_m.py::test_f"], "PASS_TO_PASS": ["tests/test_m.py::test_a"]}


def calls(entries: list[dict[str, Any]], agent: str) -> list[tuple[str, dict[str, Any]]]:
    """Each tool call of `agent`'s replies, in order: (name, arguments); answers as ("answer", content)."""
    found = []
    for entry in entries:
        if entry["agent"] != agent:
            continue
        message = entry["message"]
        found += [(c["name"], json.loads(c["arguments"])) for c in message.get("tool_calls") or []]
        if message.get("content") is not None:
            found.append(("answer", message["content"]))
    return found


def test_the_transcript_loads_and_replays_per_agent(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in transcript(INSTANCE, GOLD, TESTS, "tests/test_m.py")))
    model = ReplayModel.from_file(path)
    assert set(model.remaining()) == {"planner", "tester", "coder", "reviewer"}
    assert len(load(path)) == sum(model.remaining().values())


def test_the_plan_is_valid_and_names_the_gold_files() -> None:
    plan = Plan.model_validate(calls(transcript(INSTANCE, GOLD, TESTS, "s"), "planner")[0][1])
    assert [(f.path, f.action) for f in plan.files] == [("pkg/m.py", "modify"), ("pkg/new.py", "create")]
    assert plan.title == "Fix: f is wrong"


def test_the_tester_writes_the_test_patch_first_then_answers() -> None:
    made = calls(transcript(INSTANCE, GOLD, TESTS, "s"), "tester")
    assert made[0][0] == "replace_text" and made[1][0] == "answer"
    edits = [a for name, a in made if name == "replace_text"]
    assert len(edits) == 2  # the reproduction's, and the copy for the test step after a rejected reproduction
    assert apply(TESTS[0].old or "", [replacements(TESTS[0].old or "", TESTS[0].new or "")[0]]) == TESTS[0].new


def test_the_coder_makes_the_gold_patch_runs_the_tests_then_answers() -> None:
    made = calls(transcript(INSTANCE, GOLD, TESTS, "tests/test_m.py"), "coder")
    names = [name for name, _ in made]
    first_answer = names.index("answer")
    assert names[first_answer - 1] == "run_tests" and made[first_answer - 1][1] == {"selector": "tests/test_m.py"}
    content = OLD
    for name, arguments in made[:first_answer - 1]:
        if name == "replace_text" and arguments["path"] == "pkg/m.py":
            assert content.count(arguments["old_text"]) == 1
            content = content.replace(arguments["old_text"], arguments["new_text"])
    assert content == NEW
    assert ("create_file", {"path": "pkg/new.py", "content": "X = 1\n"}) in made
    assert set(names[first_answer:]) == {"answer"}


def test_wrong_first_edits_a_wrong_fix_runs_the_tests_then_edits_it_into_the_gold_fix() -> None:
    wrong = FileChange(GOLD[0].diff, OLD, NEW.replace("y = -x", "y = x"))
    made = calls(transcript(INSTANCE, GOLD, TESTS, "tests/test_m.py", wrong), "coder")
    names = [name for name, _ in made]
    assert names.count("run_tests") == 2
    content = OLD
    for _name, arguments in made[:names.index("run_tests")]:
        if arguments.get("path") == "pkg/m.py":
            content = content.replace(arguments["old_text"], arguments["new_text"])
    assert content == wrong.new
    for _name, arguments in made[names.index("run_tests") + 1:]:
        if arguments.get("path") == "pkg/m.py":
            content = content.replace(arguments["old_text"], arguments["new_text"])
    assert content == NEW
