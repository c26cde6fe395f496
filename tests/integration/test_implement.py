"""/approve → Coder ⇄ Reviewer → Tester → pull request, with real git, Redis, RQ and the sample repo's tests."""

from __future__ import annotations

import re
import subprocess

from bot.runs import State
from bot.standins.openai import Reply
from tests.world import APPROVE, BOT, CODER, FIX, REPO, REVIEWER, SAMPLE_PLAN, TESTER, World

BRANCH = "issuesmith/{n}-count-words-separated-by-any-whitespace"
WRONG_FIX = ("replace_text", {"path": "textstats/__init__.py", "old_text": 'return len(text.split(" "))',
                              "new_text": 'return len(text.split("  "))'})
UNFIX = ("replace_text", {"path": "textstats/__init__.py", "old_text": 'return len(text.split("  "))',
                          "new_text": "return len(text.split())"})
ADD_TEST = ("replace_text", {
    "path": "tests/test_textstats.py",
    "old_text": "def test_longest_word():",
    "new_text": "def test_word_count_tabs_and_newlines():\n    assert word_count('a\\tb\\nc') == 3\n\n\n"
                "def test_longest_word():"})
CHANGES = {"verdict": "request_changes", "summary": "Handle empty strings.",
           "findings": [{"severity": "major", "file": "textstats/__init__.py", "line": 6,
                         "message": "word_count('') must be 0"}]}


def coder(world: World, *calls: tuple[str, dict], summary: str = "Split on any whitespace.") -> None:
    world.openai.script(Reply.tool_calls(list(calls), usage=(900, 80)),
                        Reply.json({"summary": summary, "notes": ""}, usage=(1100, 60)), match=CODER)


def reviewer(world: World, verdict: dict) -> None:
    world.openai.script(Reply.json(verdict, usage=(1500, 120)), match=REVIEWER)


def tester(world: World, *calls: tuple[str, dict]) -> None:
    replies = [Reply.tool_calls(list(calls), usage=(700, 90))] if calls else []
    world.openai.script(*replies, Reply.json({"summary": "Covered tabs and newlines.",
                                              "tests_added": ["test_word_count_tabs_and_newlines"]},
                                             usage=(800, 40)), match=TESTER)


def approve(world: World) -> str:
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    world.say("/approve", by="carol")
    world.drain()
    run = world.run()
    assert run is not None
    return run.id


def branch_file(world: World, branch: str, path: str) -> str:
    return subprocess.run(["git", "show", f"{branch}:{path}"], cwd=world.github.repo_path(REPO),
                          capture_output=True, text=True, check=True).stdout


def changed_files(world: World, branch: str) -> set[str]:
    out = subprocess.run(["git", "diff", "--name-only", f"main...{branch}"], cwd=world.github.repo_path(REPO),
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_happy_path_opens_a_ready_pull_request(world: World) -> None:
    coder(world, ("view_file", {"path": "textstats/__init__.py"}), FIX)
    reviewer(world, APPROVE)
    tester(world, ADD_TEST)
    run_id = approve(world)

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN, world.services.store.entries(run_id)[-5:]
    [pull] = world.github.pulls(REPO)
    branch = BRANCH.format(n=world.issue)
    assert (pull.head, pull.base, pull.draft) == (branch, "main", False)
    assert pull.title == SAMPLE_PLAN["title"]
    assert "return len(text.split())" in branch_file(world, branch, "textstats/__init__.py")
    assert "test_word_count_tabs_and_newlines" in branch_file(world, branch, "tests/test_textstats.py")
    assert changed_files(world, branch) == {"textstats/__init__.py", "tests/test_textstats.py"}
    for section in (f"Closes #{world.issue}", "Approved plan v1", "### Changes", "### Plan versus diff",
                    "### Review", "### Tests", "### Usage", "Execution log", "4 passed, 0 failed"):
        assert section in pull.body, section
    assert all(p.ref == f"refs/heads/{branch}" for p in world.github.pushes if p.via == "git")

    results = [c.body for c in world.bot_comments() if "### Review and tests" in c.body]
    assert len(results) == 1 and "approved" in results[0] and "4 passed, 0 failed, 0 errors" in results[0]
    status = [c.body for c in world.bot_comments() if "is implementing the approved plan" in c.body]
    assert len(status) == 1 and f"/pull/{pull.number}" in status[0] and "/cancel" not in status[0]


def test_pr_usage_equals_what_the_model_reported(world: World) -> None:
    coder(world, FIX)
    reviewer(world, APPROVE)
    tester(world)
    approve(world)

    [pull] = world.github.pulls(REPO)
    prompt, completion = world.openai.usage_total
    total = re.search(r"\| \*\*total\*\* \| (\d+) \| ([\d,]+) \| ([\d,]+) \|", pull.body)
    assert total is not None
    assert int(total[2].replace(",", "")) == prompt and int(total[3].replace(",", "")) == completion
    assert int(total[1]) == len([e for e in world.openai.exchanges if e.status == 200])


def test_commit_is_by_the_app_with_the_approver_as_co_author(world: World) -> None:
    coder(world, FIX)
    reviewer(world, APPROVE)
    tester(world)
    approve(world)

    branch = BRANCH.format(n=world.issue)
    log = subprocess.run(["git", "log", "-1", "--format=%an <%ae>%n%B", branch], cwd=world.github.repo_path(REPO),
                         capture_output=True, text=True, check=True).stdout
    assert log.startswith(f"{BOT} <101+{BOT}@users.noreply.github.com>")
    assert f"Closes #{world.issue}" in log and "Co-authored-by: carol <carol@users.noreply.github.com>" in log
