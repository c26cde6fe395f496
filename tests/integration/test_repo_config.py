""".github/issuesmith.yml in force: what a repository's maintainers configure is what the bot does."""

from __future__ import annotations

import threading

from rq.job import Job

from bot.runs.model import State
from standins.openai import Reply
from tests.world import (
    APPROVE,
    CODER,
    FIX,
    REPO,
    REVIEWER,
    SAMPLE_PLAN,
    TESTER,
    World,
    plan_with,
    script_implementation,
    wait_until,
)

CHANGES = {"verdict": "request_changes", "summary": "Handle empty strings.",
           "findings": [{"severity": "major", "file": "textstats/__init__.py", "line": 6,
                         "message": "word_count('') must be 0"}]}


def configure(world: World, text: str, **files: str) -> None:
    """A maintainer commits the configuration (and other files) to the default branch."""
    world.github.push_commit(REPO, "main", {".github/issuesmith.yml": text, **files}, by="alice")


def model_of(request: dict, role_marker: str) -> bool:
    return role_marker in request["messages"][0]["content"]


def test_invalid_file_is_reported_with_each_key_and_reason_and_no_run_starts(world: World) -> None:
    configure(world, "max_revisions: 50\ncolour: blue\ndraft: sometimes\n")
    world.new_issue()
    world.label()
    world.drain()

    assert world.run() is None and world.openai.requests == []
    [notice] = world.bot_comments()
    assert "`.github/issuesmith.yml` on the default branch is not valid" in notice.body
    assert "| `max_revisions` | Input should be less than or equal to 10 (got 50) |" in notice.body
    assert "| `colour` | unknown key |" in notice.body
    assert "| `draft` |" in notice.body and "'when_failing', 'always' or 'never'" in notice.body


def test_unparsable_yaml_names_the_line(world: World) -> None:
    configure(world, "trigger_label: [issuesmith\n")
    world.new_issue()
    world.label()
    world.drain()
    [notice] = world.bot_comments()
    assert "not valid YAML" in notice.body and "line 2" in notice.body and world.run() is None


def test_the_repositorys_trigger_label_starts_runs_and_the_default_does_not(world: World) -> None:
    configure(world, "trigger_label: please-fix\n")
    world.new_issue()
    world.label()  # the deployment's default label: not this repository's trigger
    world.drain()
    assert world.run() is None and world.bot_comments() == []

    world.script_plan(SAMPLE_PLAN)
    world.label(label="Please-Fix")
    world.drain()
    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL
    assert "⏸️ Waiting for `/approve` of plan v1" in world.checklist()
    assert "**Commands now:** `/approve` · `/revise <what to change>` · `/cancel` · `/status`" in world.status()


def test_auto_approve_label_skips_the_gate_and_the_pull_request_follows_the_draft_policy(world: World) -> None:
    configure(world, "auto_approve_label: trusted\ndraft: always\n")
    world.new_issue()
    world.label(label="trusted")  # before the trigger: remembered through the issue's labels
    world.script_plan(SAMPLE_PLAN)
    script_implementation(world.openai)
    world.label()
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN, world.services.store.entries(run.id)[-4:]
    assert (run.approved_by, run.approved_via, run.approved_version) == ("alice", "label", 1)
    assert "✅ Approved by @alice: plan v1 (auto-approve label)" in world.checklist()
    [pull] = world.github.pulls(REPO)
    assert pull.draft  # draft: always, although tests pass and the review approved


def test_auto_approve_label_added_while_waiting_approves_as_the_writer_who_added_it(world: World) -> None:
    configure(world, "auto_approve_label: trusted\n")
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    script_implementation(world.openai)
    world.label(label="trusted", by="mallory")  # read access only: refused, nothing approved
    world.drain()
    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL
    assert any("Only people with write access" in c.body for c in world.bot_comments())
    world.github.unlabel_issue(REPO, world.issue, "trusted", "carol")
    world.label(label="trusted", by="carol")
    world.drain()
    run = world.run()
    assert run is not None and run.state == State.PR_OPEN and run.approved_by == "carol"


def test_commands_instructions_agents_md_and_models_per_role_reach_the_agents(world: World) -> None:
    configure(world, "test_command: python -m pytest -q tests\n"
                     "instructions: Always keep functions under twenty lines.\n"
                     "models: {plan: gpt-4o, review: gpt-4.1}\n"
                     "max_revisions: 0\ndraft: never\n",
              **{"AGENTS.md": "Run the linter before committing.\n"})
    world.openai.models = ("gpt-4o-mini", "gpt-4o", "gpt-4.1")
    world.openai.script(Reply.tool_calls([FIX], usage=(900, 80)),
                        Reply.json({"summary": "Split on any whitespace.", "notes": ""}, usage=(1100, 60)),
                        match=CODER)
    world.openai.script(Reply.json(CHANGES, usage=(1500, 120)), match=REVIEWER)
    world.openai.script(Reply.json({"summary": "Covered.", "tests_added": []}, usage=(800, 40)), match=TESTER)
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    [plan_comment] = [c for c in world.bot_comments() if "issuesmith:plan" in c.body]
    assert "Test command: `python -m pytest -q tests`" in plan_comment.body
    world.say("/approve")
    world.drain()

    requests = world.openai.requests
    assert {r["model"] for r in requests if model_of(r, "Planner of issuesmith")} == {"gpt-4o"}
    assert {r["model"] for r in requests if model_of(r, "Reviewer of issuesmith")} == {"gpt-4.1"}
    assert {r["model"] for r in requests if model_of(r, "Coder of issuesmith")} == {world.settings.model}
    for request in requests:
        system = request["messages"][0]["content"]
        assert "Always keep functions under twenty lines." in system and "Run the linter before committing." in system
    # max_revisions 0: the review asked for changes, no revision round; draft: never
    assert len([r for r in requests if model_of(r, "Coder of issuesmith")]) == 2
    [pull] = world.github.pulls(REPO)
    assert not pull.draft
    run = world.run()
    assert run is not None
    entries = world.services.store.entries(run.id)
    [plan_call] = [e for e in entries if e["event"] == "model_call" and e["step"] == "plan"]
    assert plan_call["model"] == "gpt-4o" and plan_call["cost_usd"] == round((1200 * 2.5 + 300 * 10.0) / 1e6, 6)
    tests_run = [e for e in entries if e["event"] == "tests"]
    assert tests_run and tests_run[-1]["passed"] == 3


def test_paths_outside_the_allowed_ones_send_the_plan_back(world: World) -> None:
    configure(world, "paths:\n  allow: ['textstats/**']\n  block: ['tests/test_textstats.py']\n")
    world.new_issue()
    world.script_plan(SAMPLE_PLAN, plan_with(files=[SAMPLE_PLAN["files"][0]]))
    world.label()
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL
    second = [r for r in world.openai.requests if model_of(r, "Planner of issuesmith")][-1]
    feedback = second["messages"][-1]["content"]
    assert "tests/test_textstats.py is a blocked path" in feedback
    record = world.services.store.plan(run.id, 1)
    assert record is not None and [f["path"] for f in record.plan["files"]] == ["textstats/__init__.py"]


def test_budget_from_the_file_stops_the_run_and_says_which_key_to_raise(world: World) -> None:
    configure(world, "budget: {tokens: 50}\n")
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    run = world.run()
    assert run is not None and run.state == State.FAILED and world.openai.requests == []
    [notice] = [c.body for c in world.bot_comments() if "stopped at the **plan** step" in c.body]
    assert "`budget.tokens` in .github/issuesmith.yml" in notice
    assert "❌ Stopped at the **plan** step" in world.status() and "`/retry`" in world.status()


def test_status_command_answers_with_the_checklist(world: World) -> None:
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    world.say("/status", by="carol")
    world.drain()
    [answer] = [c.body for c in world.bot_comments() if "here is where run" in c.body]
    assert "- ✅ Planned: plan v1" in answer and "Waiting for `/approve` of plan v1" in answer
    assert "tokens · $" in answer


def test_cancel_stops_a_running_coder_inside_its_tool_loop(world: World) -> None:
    """/cancel arrives while the Coder is at work: the next model call is not made and nothing is pushed."""
    view = ("view_file", {"path": "textstats/__init__.py"})
    slow = Reply.tool_calls([view], usage=(900, 80)).slowly(1.5)
    world.openai.script(Reply.tool_calls([view], usage=(900, 80)), slow, Reply.tool_calls([FIX], usage=(900, 80)),
                        Reply.json({"summary": "done", "notes": ""}), match=CODER)
    world.openai.script(Reply.json(APPROVE), match=REVIEWER)
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    world.say("/approve")
    world.github.wait_for_deliveries()
    world.step()  # intake of /approve: the implement job is queued

    def person_cancels() -> None:
        coder_calls = lambda: [r for r in world.openai.requests if model_of(r, "Coder of issuesmith")]  # noqa: E731
        wait_until(lambda: len(coder_calls()) >= 2, what="the Coder at work")
        world.say("/cancel", by="carol")
        world.github.wait_for_deliveries()
        job_id = wait_until(lambda: next((j for j in world.job_ids() if j.startswith("intake-")), None),
                            what="the /cancel delivery queued")
        job = Job.fetch(job_id, connection=world.services.redis_bytes)
        world.services.intake_queue.remove(job)
        job.perform()  # the intake job itself, run beside the busy worker

    canceller = threading.Thread(target=person_cancels)
    canceller.start()
    world.step()  # the implement job
    canceller.join(timeout=30)

    run = world.run()
    assert run is not None and run.state == State.CANCELLED
    coder_requests = [r for r in world.openai.requests if model_of(r, "Coder of issuesmith")]
    assert len(coder_requests) == 2  # the third call was never made
    assert world.github.pulls(REPO) == [] and world.github.pushes == []
    assert "🛑 Coding" in world.checklist()
    assert any(line.startswith("🛑 Cancelled by @carol · the code job stopped at ") for line in world.checklist())
    assert any("stops at its next check" in c.body for c in world.bot_comments())
    stopped = [e for e in world.services.store.entries(run.id) if e["event"] == "stopped"]
    assert stopped and stopped[0]["reason"] == "the run was cancelled"


def test_setup_command_from_the_file_runs_before_the_tests(world: World) -> None:
    world.services.settings.allow_repo_setup_command = True  # ISSUESMITH_ALLOW_REPO_SETUP_COMMAND=1
    configure(world, "setup_command: echo preparing && exit 3\n")
    script_implementation(world.openai)
    world.plan_and_approve()

    run = world.run()
    assert run is not None and run.state == State.FAILED and run.failed_step == "test"
    [notice] = [c.body for c in world.bot_comments() if "stopped at the **test** step" in c.body]
    assert "the setup command `echo preparing && exit 3` exited with 3" in notice and "preparing" in notice
    assert "`setup_command` in .github/issuesmith.yml" in notice
    assert world.github.pulls(REPO) == []
