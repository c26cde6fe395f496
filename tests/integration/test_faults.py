"""Fault tolerance: transient failures retried, re-run jobs idempotent, budgets enforced."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rq.job import Job

from bot.runs.model import State
from bot.runs.queueing import enqueue_step
from tests.world import SAMPLE_PLAN, World, make_world, script_implementation


def test_github_502_while_posting_is_retried_without_replanning(world: World) -> None:
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.step()  # intake: the run starts and its status comment is posted
    world.github.fail_next("POST", r"/issues/\d+/comments$", 502)  # the plan comment's first try
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL
    assert len([c for c in world.bot_comments() if "issuesmith:plan" in c.body]) == 1
    assert len(world.openai.requests) == 1  # the retry posted the stored plan, no second model call
    errors = [e for e in world.services.store.entries(run.id) if e["event"] == "error"]
    assert errors and errors[0]["retryable"] and errors[0]["will_retry"]
    assert "502" in errors[0]["error"]


def test_rerun_after_posting_edits_instead_of_posting_twice(world: World) -> None:
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    run = world.run()
    assert run is not None
    # the job "died" after GitHub created the comment but before we recorded it
    store = world.services.store
    store.redis.delete(f"issuesmith:run:{run.id}:comments")
    record = store.plan(run.id, 1)
    assert record is not None
    store.add_plan(run.id, 1, record.plan, record.hash)
    enqueue_step(world.services.queues, "plan", run.id, 1, 9, world.services.policy)
    world.drain()

    plans = [c for c in world.bot_comments() if "issuesmith:plan" in c.body]
    assert len(plans) == 1
    assert store.plan(run.id, 1).comment_id == plans[0].id  # type: ignore[union-attr]
    assert len(world.openai.requests) == 1


def test_redelivered_command_is_applied_once(world: World) -> None:
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    world.say("/approve")
    world.step()
    approve = [d for d in world.github.deliveries if d.event == "issue_comment" and "/approve" in str(d.payload)]
    world.github.redeliver(approve[-1].guid)
    world.github.wait_for_deliveries()

    assert world.github.deliveries[-1].status_code == 200  # answered as a duplicate
    assert len([c for c in world.bot_comments() if "approved by @alice" in c.body]) == 1
    assert world.run().state == State.APPROVED  # type: ignore[union-attr]
    assert [j for j in world.job_ids() if j.startswith("implement-")] == [world.job_ids()[0]]
    assert len(world.job_ids()) == 1


def test_our_own_comments_come_back_as_webhooks_and_are_ignored(world: World) -> None:
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    ours = [d for d in world.github.deliveries if d.payload.get("sender", {}).get("login") == "issuesmith[bot]"]
    assert ours and all(d.status_code == 200 for d in ours)
    assert world.services.queues.count == 0


def test_cancel_before_planning_runs_means_no_model_call(world: World) -> None:
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.say("/cancel", by="carol")
    world.drain()

    assert world.run().state == State.CANCELLED  # type: ignore[union-attr]
    assert world.openai.requests == []
    assert not [c for c in world.bot_comments() if "issuesmith:plan" in c.body]


@pytest.fixture
def tight_world(tmp_path: Path, redis_url: str, app_keys: tuple[str, str]) -> Iterator[World]:
    w = make_world(tmp_path, redis_url, app_keys, run_budget_tokens=3000)
    yield w
    w.close()


def test_budget_stops_the_run_before_the_call(tight_world: World) -> None:
    world = tight_world
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.FAILED and run.failed_step == "plan"
    assert world.openai.requests == []
    [notice] = [c for c in world.bot_comments() if "stopped at the **plan** step" in c.body]
    assert "token budget" in notice.body and "Spent so far: 0 tokens in 0 model calls, $0.0000" in notice.body
    assert "ISSUESMITH_RUN_BUDGET_TOKENS" in notice.body


@pytest.mark.parametrize("failing", [r"/issues/\d+/comments$", r"/issues/comments/\d+/reactions$"],
                         ids=["reply", "reaction"])
def test_github_502_after_the_approval_is_answered_by_the_retry_with_what_was_decided(world: World,
                                                                                     failing: str) -> None:
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    comment = world.say("/approve", by="carol")
    world.github.fail_next("POST", failing, 502)  # after the approval transition, before the answer is complete
    world.step()  # the intake job: approves, then GitHub fails; its retry is queued behind the implementation
    run = world.run()
    assert run is not None and run.state == State.APPROVED
    script_implementation(world.openai)
    world.drain()  # the implementation opens the PR, then the intake's retry runs

    assert world.run().state == State.PR_OPEN  # type: ignore[union-attr]
    replies = [c.body for c in world.bot_comments() if "issuesmith:reply" in c.body]
    assert len(replies) == 1 and "approved by @carol" in replies[0], replies
    assert world.reactions(comment) == [("issuesmith[bot]", "+1")]
    assert len([e for e in world.services.store.entries(run.id) if e["event"] == "approved"]) == 1


def test_a_failure_github_did_not_take_is_posted_once_github_answers(world: World) -> None:
    """The run fails while GitHub refuses comments: the failure notice is kept, the runs page's log says it is
    pending, and the notices job posts it once GitHub answers again (retried on its own schedule)."""
    world.new_issue()
    bad = {"title": "no steps or files"}
    world.script_plan(bad, bad, bad)
    world.label()
    world.step()  # intake: the run starts, its status comment is up
    world.github.fail_next("POST", r"/issues/\d+/comments$", 502, times=2)  # the notice, then its first retry
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.FAILED
    assert not [c for c in world.bot_comments() if "stopped at the **plan** step" in c.body]
    events = [e["event"] for e in world.services.store.entries(run.id)]
    assert "notice_pending" in events and "notice_posted" not in events
    registry = world.services.queue.scheduled_job_registry
    [job_id] = registry.get_job_ids()  # GitHub still refused: tried again later
    assert job_id == f"notices-{run.id}"

    world.services.queue.enqueue_job(Job.fetch(job_id, connection=world.services.redis_bytes))  # its time came
    registry.remove(job_id)
    world.drain()
    [notice] = [c for c in world.bot_comments() if "stopped at the **plan** step" in c.body]
    assert "does not validate as a Plan" in notice.body and "`/retry`" in notice.body
    assert world.services.store.pending_notices(run.id) == {}
    assert "notice_posted" in [e["event"] for e in world.services.store.entries(run.id)]
