"""/approve → Coder ⇄ Reviewer → Tester → pull request, with real git, Redis, RQ and the sample repo's tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from bot.runs.model import State
from bot.runs.queueing import enqueue_step
from standins.openai import Reply
from tests.world import (
    APPROVE,
    BOT,
    CODER,
    FIX,
    REPO,
    REVIEWER,
    SAMPLE_PLAN,
    TESTER,
    World,
    script_implementation,
)

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
    return world.plan_and_approve()


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
    status = world.status()
    pull_url = f"{world.github.base_url}/{REPO}/pull/{pull.number}"
    checklist = ["✅ Planned: plan v1", "✅ Approved by @carol: plan v1", "✅ Coded",
                 "✅ Tests: 4 passed, 0 failed, 0 errors, 0 skipped", "✅ Review round 1: approved",
                 f"✅ Pull request [#{pull.number}]({pull_url})"]
    assert world.checklist() == checklist
    assert "pull request open" in status and "/cancel" not in status and "tokens · $" in status


def test_a_run_answering_by_finish_never_sends_tools_with_a_format(world: World) -> None:
    """The Coder and Tester answer with the `finish` tool; every request carries the cap and temperature."""
    world.openai.script(Reply.tool_calls([FIX]),
                        Reply.tool_calls([("finish", {"summary": "Split on any whitespace."})]), match=CODER)
    reviewer(world, APPROVE)
    world.openai.script(Reply.tool_calls([ADD_TEST, ("finish", {
        "summary": "Covered tabs and newlines.", "tests_added": ["test_word_count_tabs_and_newlines"]})]),
        match=TESTER)
    approve(world)

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN
    requests = world.openai.requests
    with_tools = [r for r in requests if r.get("tools")]
    assert with_tools and all("response_format" not in r for r in with_tools)
    assert all([t["function"]["name"] for t in r["tools"][-2:]] == ["finish", "give_up"] for r in with_tools)
    assert all(r.get("response_format") for r in requests if not r.get("tools"))  # the Reviewer's call
    assert all((r["temperature"], r["max_completion_tokens"], r["max_tokens"]) == (0.0, 4096, 4096)
               for r in requests)  # the stand-in is not OpenAI's host: both cap names


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


def test_review_requests_changes_once_then_approves(world: World) -> None:
    coder(world, FIX, summary="First pass.")
    reviewer(world, CHANGES)
    coder(world, ("view_file", {"path": "textstats/__init__.py"}), summary="Empty strings give 0 now.")
    reviewer(world, APPROVE)
    tester(world)
    run_id = approve(world)

    [pull] = world.github.pulls(REPO)
    assert not pull.draft and "Revised because of review" in pull.body and "Empty strings give 0 now." in pull.body
    reviews = [(e["round"], e["verdict"]) for e in world.services.store.entries(run_id) if e["event"] == "review"]
    assert reviews == [(1, "request_changes"), (2, "approve")]
    revise_request = [r for r in world.openai.requests if CODER in r["messages"][0]["content"]][-2]
    assert "word_count('') must be 0" in revise_request["messages"][-1]["content"]


def test_failing_tests_go_back_to_the_coder_and_pass(world: World) -> None:
    coder(world, WRONG_FIX, summary="Split on double spaces.")
    reviewer(world, APPROVE)
    tester(world)
    coder(world, UNFIX, summary="Split on any whitespace.")
    run_id = approve(world)

    [pull] = world.github.pulls(REPO)
    assert not pull.draft and "3 passed, 0 failed" in pull.body
    runs = [(e["passed"], e["failed"]) for e in world.services.store.entries(run_id) if e["event"] == "tests"]
    assert runs[0][1] > 0 and runs[-1] == (3, 0)
    fix_request = [r for r in world.openai.requests if CODER in r["messages"][0]["content"]][-2]
    assert "test_word_count_simple" in fix_request["messages"][-1]["content"]


def test_tests_still_failing_after_the_limit_give_a_draft_naming_them(world: World) -> None:
    coder(world, WRONG_FIX)
    reviewer(world, APPROVE)
    tester(world)
    coder(world, ("view_file", {"path": "textstats/__init__.py"}), summary="Tried.")
    coder(world, ("view_file", {"path": "textstats/__init__.py"}), summary="Tried again.")
    approve(world)

    [pull] = world.github.pulls(REPO)
    assert pull.draft
    assert pull.body.startswith("> [!WARNING]\n> Draft: tests failing: 1.")
    assert "test_word_count_simple" in pull.body  # split("  ") breaks the single-space case
    results = next(c.body for c in world.bot_comments() if "### Review and tests" in c.body)
    assert "❌ failing" in results and "test_word_count_simple" in results


def test_bad_edits_are_refused_at_the_tool_and_never_reach_the_pr(world: World) -> None:
    coder(world,
          ("replace_text", {"path": "textstats/__init__.py", "old_text": "return len(text.split(' '))",
                            "new_text": "x"}),
          ("create_file", {"path": "textstats/extra.py", "content": "X = 1\n"}),
          ("replace_text", {"path": ".github/workflows/ci.yml", "old_text": "name: ci", "new_text": "name: pwned"}),
          FIX)
    reviewer(world, APPROVE)
    tester(world)
    run_id = approve(world)

    branch = BRANCH.format(n=world.issue)
    assert changed_files(world, branch) == {"textstats/__init__.py"}
    results = [m["content"] for m in world.openai.requests[2]["messages"] if m["role"] == "tool"]
    assert results[0].startswith("Edit refused") and 'return len(text.split(" "))' in results[0]
    assert results[1].startswith("Edit refused") and "plan" in results[1]
    assert results[2].startswith("Edit refused") and "blocked" in results[2]
    assert results[3].startswith("Applied replace")
    assert world.run().state == State.PR_OPEN  # type: ignore[union-attr]
    assert len([e for e in world.services.store.entries(run_id) if e["event"] == "tool_call"]) == 4


def test_budget_stops_before_the_call_that_would_exceed_it(world: World) -> None:
    world.services.settings.run_budget_tokens = 6_000  # enough to plan, not to code
    world.services._model = None  # rebuilt with the lowered budget
    coder(world, FIX)
    reviewer(world, APPROVE)
    tester(world)
    run_id = approve(world)

    run = world.run()
    assert run is not None and run.state == State.FAILED and run.failed_step == "code"
    assert world.github.pulls(REPO) == []
    notice = next(c.body for c in world.bot_comments() if "stopped at the **code** step" in c.body)
    assert "token budget" in notice and "Spent so far:" in notice and "`/retry`" in notice
    assert world.services.store.usage(run_id)["calls"] == len([e for e in world.openai.exchanges if e.status == 200])


def test_rerun_after_pushing_opens_exactly_one_pr(world: World) -> None:
    script_implementation(world.openai)
    run_id = approve(world)
    [pull] = world.github.pulls(REPO)
    comments_before = len(world.bot_comments())
    # the job "died" after the push and the PR: forget the last two verified steps, run it again
    from bot.runs.journal import RedisJournal

    RedisJournal(world.services.store).forget(run_id, ["publish", "report"])
    enqueue_step(world.services.queues, "implement", run_id, 1, 5, world.services.policy)
    world.services.redis_text.hset(f"issuesmith:run:{run_id}", "state", "TESTING")
    world.drain()

    assert [p.number for p in world.github.pulls(REPO)] == [pull.number]
    assert len(world.bot_comments()) == comments_before
    assert world.run().state == State.PR_OPEN  # type: ignore[union-attr]
    assert len([p for p in world.github.pushes if p.via == "git"]) == 1  # same commit: nothing to push again


def test_base_moved_after_approval_starts_from_the_new_head(world: World) -> None:
    script_implementation(world.openai)
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    new_head = world.github.push_commit(REPO, "main", {"CHANGELOG.md": "# Changes\n"}, by="alice")
    world.say("/approve", by="carol")
    world.drain()

    [pull] = world.github.pulls(REPO)
    branch = BRANCH.format(n=world.issue)
    parent = subprocess.run(["git", "rev-parse", f"{branch}^"], cwd=world.github.repo_path(REPO),
                            capture_output=True, text=True, check=True).stdout.strip()
    assert parent == world.github.branches(REPO)["main"] and new_head
    assert "The default branch moved from" in pull.body and "starts from the current head" in pull.body


def test_retry_after_a_failed_step_resumes_from_it(world: World) -> None:
    coder(world, FIX)
    reviewer(world, APPROVE)
    tester(world)
    world.github.fail_next("POST", r"/pulls$", 422, body={"message": "Validation Failed"})  # final: no retry
    run_id = approve(world)
    run = world.run()
    assert run is not None and run.state == State.FAILED and run.failed_step == "publish"
    assert "stopped at the **publish** step" in world.bot_comments()[-1].body
    model_calls = len(world.openai.requests)

    world.say("/retry", by="alice")
    world.drain()

    assert world.run().state == State.PR_OPEN  # type: ignore[union-attr]
    assert len(world.github.pulls(REPO)) == 1
    assert len(world.openai.requests) == model_calls  # code and test were not redone
    resumed = [e["step"] for e in world.services.store.entries(run_id) if e["event"] == "resumed"]
    assert resumed == ["prepare", "code", "test"]


def test_review_still_requesting_changes_after_the_limit_gives_a_draft(world: World) -> None:
    coder(world, FIX)
    for _ in range(2):
        reviewer(world, CHANGES)
        coder(world, ("view_file", {"path": "textstats/__init__.py"}), summary="Could not resolve it.")
    reviewer(world, CHANGES)
    tester(world)
    approve(world)

    [pull] = world.github.pulls(REPO)
    assert pull.draft
    assert pull.body.startswith("> [!WARNING]\n> Draft: review still requests changes after 2 revisions.")
    assert "| major | `textstats/__init__.py`:6 | word_count('') must be 0 |" in pull.body


def test_tester_may_only_touch_test_files(world: World) -> None:
    coder(world, FIX)
    reviewer(world, APPROVE)
    tester(world, ("replace_text", {"path": "textstats/__init__.py", "old_text": "return len(text.split())",
                                    "new_text": "return 0"}), ADD_TEST)
    approve(world)

    last_tester = [r for r in world.openai.requests if TESTER in r["messages"][0]["content"]][-1]
    tool_results = [m["content"] for m in last_tester["messages"] if m["role"] == "tool"]
    assert tool_results[0].startswith("Edit refused") and tool_results[1].startswith("Applied replace")
    branch = BRANCH.format(n=world.issue)
    assert "return len(text.split())" in branch_file(world, branch, "textstats/__init__.py")


def test_without_an_isolating_sandbox_repository_code_is_not_run(world: World) -> None:
    world.services.settings.sandbox = "docker"  # no Docker engine here
    world.services.settings.allow_unsandboxed = False
    coder(world, FIX)
    reviewer(world, APPROVE)
    tester(world)
    run_id = approve(world)

    run = world.run()
    assert run is not None and run.state == State.FAILED and run.failed_step == "test"
    notice = next(c.body for c in world.bot_comments() if "stopped at the **test** step" in c.body)
    assert "no sandbox to run the repository's commands in" in notice and "ISSUESMITH_SANDBOX" in notice
    assert world.github.pulls(REPO) == []
    assert not [e for e in world.services.store.entries(run_id) if e["event"] == "tests"]


def test_tests_run_in_bubblewrap_where_it_works(world: World) -> None:
    script_implementation(world.openai)
    run_id = approve(world)
    [tests_run] = [e for e in world.services.store.entries(run_id) if e["event"] == "tests"]
    if os.geteuid() != 0 or shutil.which("bwrap") is None:
        pytest.skip("bubblewrap needs a root worker and the bwrap binary; here the run fell back to unsandboxed")
    assert (tests_run["backend"], tests_run["isolated"], tests_run["passed"]) == ("bubblewrap", True, 3)
    [pull] = world.github.pulls(REPO)
    assert "without a sandbox" not in pull.body


DEP_TEST = ("create_file", {"path": "tests/test_installed_dependency.py", "content":
                            "import os\nimport sys\n\nsys.path.insert(0, os.path.expanduser('~/deps'))\n\n\n"
                            "def test_dependency_from_the_setup_phase():\n"
                            "    import installed_dep\n    assert installed_dep.ANSWER == 42\n"})


def test_setup_command_installs_what_the_tests_use(world: World) -> None:
    world.services.settings.setup_command = "mkdir -p ~/deps && echo 'ANSWER = 42' > ~/deps/installed_dep.py"
    coder(world, FIX)
    reviewer(world, APPROVE)
    tester(world, DEP_TEST)
    run_id = approve(world)

    [pull] = world.github.pulls(REPO)
    assert "4 passed, 0 failed" in pull.body and not pull.draft  # the new test imported what setup installed
    [setup] = [e for e in world.services.store.entries(run_id) if e["event"] == "setup"]
    assert setup["exit_code"] == 0 and setup["command"].startswith("mkdir -p ~/deps")


BUILT_TEST = ("create_file", {"path": "tests/test_built_in_the_tree.py", "content":
                              "import os\nimport sys\n\nsys.path.insert(0, os.getcwd())\n\n\n"
                              "def test_what_the_setup_built_in_the_tree():\n"
                              "    import built_dep\n    assert built_dep.ANSWER == 42\n"})


def test_setup_command_runs_once_per_job_and_what_it_built_in_the_tree_stays_for_the_test_step(world: World) -> None:
    """The Coder runs the tests in the code step (the setup command first); the test step's runs use the same HOME
    and tree: the setup command does not run again, and what it built in the tree (untracked) is still there."""
    world.services.settings.setup_command = "echo 'ANSWER = 42' > built_dep.py"
    world.openai.script(Reply.tool_calls([FIX, ("run_tests", {"selector": ""})]),
                        Reply.json({"summary": "Split on any whitespace.", "notes": ""}), match=CODER)
    reviewer(world, APPROVE)
    tester(world, BUILT_TEST)
    run_id = approve(world)

    [pull] = world.github.pulls(REPO)
    assert "4 passed, 0 failed" in pull.body and not pull.draft  # the new test imported what setup built
    entries = world.services.store.entries(run_id)
    assert [e["step"] for e in entries if e["event"] == "setup"] == ["code"]
    assert [e["passed"] for e in entries if e["event"] == "coder_tests"] == [3]
    assert "built_dep.py" not in subprocess.run(["git", "diff", "--name-only", f"main...{pull.head}"],
                                                cwd=world.github.repo_path(REPO), capture_output=True, text=True,
                                                check=True).stdout  # build output is never committed


def test_failing_setup_command_stops_the_run_with_its_output(world: World) -> None:
    world.services.settings.setup_command = "echo 'resolver: no matching distribution for nothere==9' && exit 3"
    coder(world, FIX)
    reviewer(world, APPROVE)
    tester(world)
    approve(world)

    run = world.run()
    assert run is not None and run.state == State.FAILED and run.failed_step == "test"
    notice = next(c.body for c in world.bot_comments() if "stopped at the **test** step" in c.body)
    assert "exited with 3" in notice and "no matching distribution for nothere==9" in notice
    assert "ISSUESMITH_SETUP_COMMAND" in notice and "/retry" in notice
    assert world.github.pulls(REPO) == []
