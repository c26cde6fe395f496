"""The agents' tools help weak models: paths that do not exist get suggestions, small files may be written whole."""

from __future__ import annotations

import json
from pathlib import Path

from bot.agents.planner import read_file, verify_plan
from bot.agents.tools import EditSession
from bot.models.client import CallContext
from bot.runs.plan import Plan
from bot.workspace.edits import Scope
from tests.world import SAMPLE_PLAN


def make_tree(root: Path) -> Path:
    (root / "textstats").mkdir(parents=True)
    (root / "textstats" / "__init__.py").write_text("def word_count(text):\n    return len(text.split(' '))\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_textstats.py").write_text("def test_one():\n    assert True\n")
    return root


def test_a_plan_naming_a_missing_file_is_told_the_closest_existing_ones(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    plan = Plan.model_validate({**SAMPLE_PLAN, "files": [
        {"path": "textstat/__init__.py", "action": "modify", "reason": "fix"}]})
    [problem] = verify_plan(plan, root)
    assert problem.startswith("textstat/__init__.py does not exist")
    assert problem.endswith("Did you mean: textstats/__init__.py?")
    assert read_file(root, "tests/test_textstat.py").endswith("Did you mean: tests/test_textstats.py?")


def test_the_coder_can_write_a_small_file_whole_and_sees_repair_notes(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    session = EditSession(root, Scope(allowed=("textstats/__init__.py",)))
    tools = {tool.name: tool for tool in session.tools()}
    write = tools["write_file"]
    result = write.run(write.arguments.model_validate(
        {"path": "textstats/__init__.py", "content": "def word_count(text):\n    return len(text.split())\n"}))
    assert result.startswith("Applied write to textstats/__init__.py") and session.touched == ["textstats/__init__.py"]
    replace = tools["replace_text"]
    noted = replace.run(replace.arguments.model_validate({
        "path": "textstats/__init__.py", "old_text": "     2\t    return len(text.split())",
        "new_text": "     2\t    return len(text.split()) if text else 0"}))
    assert noted.startswith("Applied replace to textstats/__init__.py (line numbers")
    assert (root / "textstats/__init__.py").read_text().endswith("return len(text.split()) if text else 0\n")
    refused = write.run(write.arguments.model_validate({"path": "tests/test_textstats.py", "content": "x = 1\n"}))
    assert refused.startswith("Edit refused") and "outside the plan" in refused
    assert json.loads(json.dumps(write.spec()))["function"]["name"] == "write_file"


def test_each_step_names_its_agent() -> None:
    agents = {step: CallContext("r", step).agent for step in ("plan", "code", "fix", "review", "test")}
    assert agents == {"plan": "Planner", "code": "Coder", "fix": "Coder", "review": "Reviewer", "test": "Tester"}
