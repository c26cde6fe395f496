"""Label → 👀 → plan comment, and the commands on it, with real Redis, RQ and HTTP."""

from __future__ import annotations

import re
import threading

import pytest

from bot.runs.model import State
from standins.openai import Reply
from tests.world import REPO, SAMPLE_PLAN, World, wait_until


def test_label_by_writer_posts_one_plan_comment(world: World) -> None:
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label(by="alice")
    world.drain()

    assert ("issuesmith[bot]", "eyes") in world.reactions()
    [plan] = world.bot_comments()
    assert "Plan v1: Count words separated by any whitespace" in plan.body
    assert "`textstats/__init__.py`" in plan.body
    assert "Reply `/approve` to implement this plan, `/revise <what to change>` to get a new plan, or `/cancel`." \
        in plan.body
    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL and run.plan_version == 1
    record = world.services.store.plan(run.id, 1)
    assert record is not None
    assert f"<!-- issuesmith:plan run={run.id} v=1 hash={record.hash} -->" in plan.body
    assert "python -m pytest -q" in plan.body


def _planned(world: World, **label: str) -> str:
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label(**label)
    world.drain()
    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL
    return run.id


def test_duplicate_delivery_makes_one_run_and_one_comment(world: World) -> None:
    run_id = _planned(world)
    labeled = [d for d in world.github.deliveries if d.event == "issues" and d.action == "labeled"]
    world.github.redeliver(labeled[-1].guid)
    world.drain()

    redelivered = world.github.deliveries[-1]
    assert redelivered.guid == labeled[-1].guid and redelivered.status_code == 200
    assert len(world.bot_comments()) == 1
    assert world.run().id == run_id  # type: ignore[union-attr]
    assert world.openai.pending() == 0 and len(world.openai.requests) == 1


def test_second_label_while_active_is_answered_not_duplicated(world: World) -> None:
    run_id = _planned(world)
    world.github.unlabel_issue("acme/textstats", world.issue, "issuesmith", by="alice")
    world.label(by="carol")
    world.drain()

    comments = world.bot_comments()
    assert len(comments) == 2
    assert f"already working on this issue (run `{run_id}`, awaiting approval)" in comments[-1].body
    assert world.run().id == run_id  # type: ignore[union-attr]


def test_writer_approve_records_approval_and_queues_implement_job(world: World) -> None:
    run_id = _planned(world)
    comment_id = world.say("/approve", by="maya")  # maintain counts as write
    world.step()  # the intake job only

    run = world.run()
    assert run is not None and run.state == State.APPROVED
    assert (run.approved_version, run.approved_by) == (1, "maya")
    assert run.approved_hash == world.services.store.plan(run_id, 1).hash  # type: ignore[union-attr]
    assert ("issuesmith[bot]", "+1") in world.reactions(comment_id)
    assert "Plan v1" in world.bot_comments()[-1].body and "approved by @maya" in world.bot_comments()[-1].body
    assert world.job_ids() == [f"implement-{run_id}-v1-a0"]


def test_revise_posts_v2_and_supersedes_v1(world: World) -> None:
    run_id = _planned(world)
    world.script_plan({**SAMPLE_PLAN, "title": "Split on whitespace and document it"})
    world.say("/revise also mention the change in README.md", by="carol")
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL and run.plan_version == 2
    plans = [c for c in world.bot_comments() if "issuesmith:plan" in c.body]
    assert len(plans) == 2
    assert "superseded by plan v2" in plans[0].body
    assert "Plan v2: Split on whitespace and document it" in plans[1].body
    revise_request = world.openai.requests[-1]
    text = str(revise_request["messages"])
    assert "also mention the change in README.md" in text and "previous plan" in text
    assert run_id == world.run().id  # type: ignore[union-attr]


def test_stale_approve_is_refused(world: World) -> None:
    run_id = _planned(world)
    world.script_plan({**SAMPLE_PLAN, "title": "Second version"})
    world.say("/revise smaller", by="alice")
    world.drain()
    world.say("/approve v1", by="alice")
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL and run.approved_version == 0
    assert "answered plan v1, but plan v2 has been posted" in world.bot_comments()[-1].body
    assert not [j for j in world.services.queue.get_job_ids() if j.startswith("implement")]
    assert ("intake", "approval_refused") in [(e["step"], e["event"]) for e in world.services.store.entries(run_id)]


def test_approving_a_version_whose_comment_is_not_up_yet_is_refused(world: World) -> None:
    run_id = _planned(world)
    store = world.services.store
    record = store.plan(run_id, 1)
    assert record is not None
    store.add_plan(run_id, 1, record.plan, record.hash)  # as between storing v1 and posting its comment
    world.say("/approve v1", by="alice")
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL and run.approved_version == 0
    assert "plan v1 is being prepared right now" in world.bot_comments()[-1].body
    assert not [j for j in world.services.queue.get_job_ids() if j.startswith("implement")]


def test_approve_while_a_new_version_is_being_planned_is_refused(world: World) -> None:
    _planned(world)
    world.script_plan({**SAMPLE_PLAN, "title": "Second version"})
    world.say("/revise smaller", by="alice")
    world.say("/approve", by="carol")  # both queued before any job runs: v2 is in the works
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL and run.plan_version == 2
    assert any("plan v2 has been posted since" in c.body for c in world.bot_comments())


def test_non_writer_approve_is_refused_and_nothing_is_queued(world: World) -> None:
    _planned(world)
    world.say("/approve", by="trish")  # triage is not write
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL
    assert "Only people with write access to this repository can use `/approve`" in world.bot_comments()[-1].body
    assert world.services.queues.count == 0
    assert not world.services.redis_bytes.keys("rq:job:implement-*")


def test_label_by_reader_is_refused_without_a_run(world: World) -> None:
    world.new_issue()
    world.label(by="mallory")
    world.drain()

    assert world.run() is None
    [reply] = world.bot_comments()
    assert "@mallory" in reply.body and "write access" in reply.body
    assert world.openai.requests == []


def test_commands_without_a_run_get_a_pointer(world: World) -> None:
    world.new_issue()
    world.say("/approve", by="alice")
    world.say("/deploy everything", by="alice")  # unknown: ignored
    world.drain()

    [reply] = world.bot_comments()
    assert "no issuesmith run on this issue yet" in reply.body and "`issuesmith` label" in reply.body


def test_cancel_stops_the_run_and_says_so(world: World) -> None:
    _planned(world)
    world.say("/cancel", by="carol")
    world.drain()
    world.say("/approve", by="carol")
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.CANCELLED
    bodies = [c.body for c in world.bot_comments()]
    assert any("Run cancelled by @carol" in b for b in bodies)
    assert "`/approve` does not apply now: the run is cancelled" in bodies[-1]


def test_invalid_plan_json_three_times_fails_the_run_with_an_explanation(world: World) -> None:
    world.new_issue()
    bad = {"title": "no steps or files"}
    world.script_plan(bad, bad, bad)
    world.label()
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.FAILED and run.failed_step == "plan"
    [failure] = [c for c in world.bot_comments() if "stopped at the **plan** step" in c.body]
    assert "does not validate as a Plan" in failure.body
    assert "`/retry`" in failure.body and "Spent so far: 4,500 tokens in 3 model calls" in failure.body


def test_retry_after_failure_plans_again(world: World) -> None:
    world.new_issue()
    world.script_plan({"title": "x"}, {"title": "x"}, {"title": "x"})
    world.label()
    world.drain()
    world.script_plan(SAMPLE_PLAN)
    world.say("/retry", by="alice")
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL and run.attempt == 1
    assert any("Plan v1: Count words" in c.body for c in world.bot_comments())


def test_model_rate_limit_then_success_posts_the_plan(world: World) -> None:
    from standins.openai import Reply

    world.new_issue()
    world.openai.script(Reply.error(429, headers={"retry-after-ms": "20"}), match="Planner of issuesmith")
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()

    assert world.run().state == State.AWAITING_APPROVAL  # type: ignore[union-attr]
    assert len([c for c in world.bot_comments() if "issuesmith:plan" in c.body]) == 1
    assert [e.status for e in world.openai.exchanges if e.path == "/chat/completions"] == [429, 200]


def test_plan_naming_a_missing_file_is_sent_back_and_corrected(world: World) -> None:
    world.new_issue()
    wrong = {**SAMPLE_PLAN, "files": [{"path": "textstats/missing.py", "action": "modify", "reason": "x"},
                                      {"path": ".github/workflows/ci.yml", "action": "modify", "reason": "y"}]}
    world.script_plan(wrong, SAMPLE_PLAN)
    world.label()
    world.drain()

    assert world.run().state == State.AWAITING_APPROVAL  # type: ignore[union-attr]
    feedback = str(world.openai.requests[-1]["messages"][-1])
    assert "textstats/missing.py does not exist" in feedback
    assert ".github/workflows/ci.yml is a blocked path" in feedback


def test_planner_tools_read_and_search_the_repository(world: World) -> None:
    from standins.openai import Reply

    world.new_issue()
    world.openai.script(Reply.tool_calls([("search_code", {"query": "def word_count"}),
                                          ("read_file", {"path": "textstats/__init__.py", "end_line": 5}),
                                          ("read_file", {"path": "../../etc/passwd"})]),
                        match="Planner of issuesmith")
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()

    tool_results = [m for m in world.openai.requests[-1]["messages"] if m["role"] == "tool"]
    assert "textstats/__init__.py:4:def word_count(text):" in tool_results[0]["content"]
    assert '    4  def word_count(text):' in tool_results[1]["content"]
    assert "outside the repository" in tool_results[2]["content"]
    assert world.run().state == State.AWAITING_APPROVAL  # type: ignore[union-attr]


def test_approve_before_the_first_plan_is_posted_is_refused(world: World) -> None:
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.say("/approve", by="alice")  # queued before the plan job runs
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL and run.approved_version == 0
    assert any("plan v1 is being prepared right now" in c.body for c in world.bot_comments())


def test_approve_and_revise_at_the_same_instant_the_loser_is_answered_at_once(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both commands read the run awaiting approval before either writes: /revise wins, /approve loses the
    compare-and-set. The loser gets its answer in the same job, with the truth (v2 is being made), and no
    error goes to RQ's retries."""
    from bot.runs.store import RunStore

    run_id = _planned(world)
    world.script_plan({**SAMPLE_PLAN, "title": "Plan two"})
    stale = world.services.store.require(run_id)
    read = RunStore.for_issue
    monkeypatch.setattr(RunStore, "for_issue", lambda self, repo, number: stale)  # both read before either writes
    world.say("/revise split on tabs too", by="carol")
    world.say("/approve", by="alice")
    world.step()  # /revise: wins
    world.step()  # /approve: its write is refused, the run has moved on
    monkeypatch.setattr(RunStore, "for_issue", read)
    answer = world.bot_comments()[-1].body
    assert "@alice `/approve` was not applied" in answer and "plan v2 is being made" in answer
    assert not any(q.failed_job_registry.get_job_ids() for q in world.services.queues.served)
    assert not world.job_ids()[1:]
    world.drain()
    assert any("Plan v2: Plan two" in c.body for c in world.bot_comments())
    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL and run.plan_version == 2


def test_a_comment_edited_into_approve_approves_as_the_editor(world: World) -> None:
    """`/aprove` fixed by an edit is the approval, in the name of who edited it (GitHub sends
    `issue_comment.edited`), with the same version binding as a new comment."""
    run_id = _planned(world)
    typo = world.say("/aprove", by="carol")
    world.drain()
    assert world.run().state == State.AWAITING_APPROVAL  # type: ignore[union-attr]
    world.github.edit_comment(REPO, typo, "/approve v1", by="carol")
    world.step()  # the intake job only

    run = world.run()
    assert run is not None and run.state == State.APPROVED and (run.approved_version, run.approved_by) == (1, "carol")
    assert ("issuesmith[bot]", "+1") in world.reactions(typo)
    assert "approved by @carol" in world.bot_comments()[-1].body
    assert world.job_ids() == [f"implement-{run_id}-v1-a0"]


def test_a_stale_version_edited_in_is_refused_like_a_new_comment(world: World) -> None:
    _planned(world)
    world.script_plan({**SAMPLE_PLAN, "title": "Second version"})
    typo = world.say("/aprove", by="alice")
    world.say("/revise smaller", by="alice")
    world.drain()
    world.github.edit_comment(REPO, typo, "/approve v1", by="alice")
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL and run.approved_version == 0
    assert "answered plan v1, but plan v2 has been posted" in world.bot_comments()[-1].body


def test_editing_a_command_runs_nothing_and_is_answered_once_per_comment(world: World) -> None:
    _planned(world)
    world.script_plan({**SAMPLE_PLAN, "title": "Second version"})
    asked = world.say("/revise smaller", by="alice")
    world.drain()
    before = len(world.bot_comments())
    world.github.edit_comment(REPO, asked, "/approve", by="alice")
    world.drain()
    world.github.edit_comment(REPO, asked, "/cancel", by="alice")
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL and run.plan_version == 2
    answers = world.bot_comments()[before:]
    assert len(answers) == 1  # the second edit's answer replaced the first
    assert "edits of a comment that already holds a command do not run it again" in answers[0].body
    assert "(`/cancel`)" in answers[0].body


def test_cancel_while_the_planner_works_shows_what_was_spent_and_when_the_job_stopped(world: World) -> None:
    """`/cancel` lands while the Planner's (paid) call is in flight: the job stops when the call returns,
    and the status comment then shows that call's tokens and when the job stopped, as the reply promised."""
    world.new_issue()
    world.openai.script(Reply.json(SAMPLE_PLAN, usage=(1200, 300)).slowly(1.5), match="Planner of issuesmith")
    world.label()
    world.step()  # intake: the run starts, planning is queued

    def cancel_during_the_call() -> None:
        wait_until(lambda: world.openai.requests, what="the Planner's call")
        world.say("/cancel", by="carol")
        world.github.wait_for_deliveries()
        world.dispatch()
        [job_id] = world.services.intake_queue.get_job_ids()
        job = world.services.intake_queue.fetch_job(job_id)
        assert job is not None
        world.services.intake_queue.remove(job)
        job.perform()  # the intake job, beside the busy plan job (as a second worker would)

    canceller = threading.Thread(target=cancel_during_the_call)
    canceller.start()
    world.step()  # the plan job, in its model call when the cancel lands
    canceller.join(timeout=30)

    run = world.run()
    assert run is not None and run.state == State.CANCELLED
    assert any("Run cancelled by @carol" in c.body and "stops at its next check" in c.body
               for c in world.bot_comments())
    status = world.status()
    assert "1,500 tokens" in status, status
    assert re.search(r"Cancelled by @carol · the plan job stopped at \d\d:\d\d:\d\d UTC, \d+s after the cancel",
                     status), status
    assert not [c for c in world.bot_comments() if "issuesmith:plan" in c.body]  # the discarded plan is not posted
