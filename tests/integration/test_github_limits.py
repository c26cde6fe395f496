"""GitHub rate limits and outages: GitHub's waits honoured (recorded, not slept), bounded, then success or a
clear failure. The waits asked for are checked through an injected `sleep`, never with a clock."""

from __future__ import annotations

import re
import time

from rq.registry import ScheduledJobRegistry

from bot.github.client import GitHubApp
from bot.runs.model import State
from bot.runs.queueing import RetryPolicy, honour_retry_after
from tests.world import SAMPLE_PLAN, QuietWorker, World

COMMENTS = r"/issues/\d+/comments$"


def _record_waits(world: World, max_rate_wait: float = 120.0) -> list[float]:
    """Give the world a GitHub client whose rate-limit waits are recorded instead of slept."""
    slept: list[float] = []
    s = world.settings
    world.services.github = GitHubApp(s.app_id or 0, s.app_private_key(), s.github_api_url, world.services.redactor,
                                      bot_login=s.bot_login, spacing=(0.0, 0.0), max_rate_wait=max_rate_wait,
                                      sleep=slept.append)
    return slept


def _plan(world: World) -> None:
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()


def _plan_comments(world: World) -> int:
    return len([c for c in world.bot_comments() if "issuesmith:plan" in c.body])


def _attempts(world: World, method: str, pattern: str) -> list[int]:
    return [e.status for e in world.github.exchanges if e.method == method and re.search(pattern, e.path)]


def test_secondary_limit_on_a_post_waits_retry_after_then_sends_it_once_more(world: World) -> None:
    slept = _record_waits(world)
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.step()  # intake: the status comment is posted
    world.github.rate_limit_next("POST", COMMENTS, "secondary", retry_after=60)  # the plan comment
    world.drain()

    assert world.run().state == State.AWAITING_APPROVAL  # type: ignore[union-attr]
    assert slept == [60.0]
    assert _attempts(world, "POST", COMMENTS)[-2:] == [403, 201]  # the same request, after the wait, once
    assert _plan_comments(world) == 1


def test_429_with_retry_after_is_waited_out(world: World) -> None:
    slept = _record_waits(world)
    world.github.rate_limit_next("GET", r"/issues/\d+$", "429", retry_after=7)
    _plan(world)
    assert world.run().state == State.AWAITING_APPROVAL  # type: ignore[union-attr]
    assert slept == [7.0]


def test_primary_limit_waits_until_the_reset(world: World) -> None:
    slept = _record_waits(world)
    world.github.rate_limit_next("GET", r"/issues/\d+$", "primary", reset_in=30)
    _plan(world)
    assert world.run().state == State.AWAITING_APPROVAL  # type: ignore[union-attr]
    assert len(slept) == 1 and 29.0 <= slept[0] <= 32.0  # the reset, plus the second it falls in


def test_secondary_limit_without_retry_after_waits_a_minute_then_longer(world: World) -> None:
    slept = _record_waits(world, max_rate_wait=600)
    world.github.rate_limit_next("GET", r"/issues/\d+$", "secondary", times=2)
    _plan(world)
    assert world.run().state == State.AWAITING_APPROVAL  # type: ignore[union-attr]
    assert slept == [60.0, 120.0]


def test_a_wait_over_the_bound_fails_the_call_as_retryable_and_the_job_waits_it_out(world: World) -> None:
    slept = _record_waits(world, max_rate_wait=120)
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.step()  # intake
    world.github.rate_limit_next("POST", COMMENTS, "secondary", retry_after=600)
    worker = QuietWorker(world.services.queues.served, connection=world.services.redis_bytes,
                          exception_handlers=[honour_retry_after])
    before = time.time()
    worker.work(burst=True, max_jobs=1, with_scheduler=False)  # the plan job

    assert slept == [] and _attempts(world, "POST", COMMENTS)[-1] == 403  # not sent again within the call
    run = world.run()
    assert run is not None and run.state != State.FAILED
    [error] = [e for e in world.services.store.entries(run.id) if e["event"] == "error"]
    assert error["retryable"] and error["will_retry"]
    assert "rate limit" in error["error"] and "wait of 600 s" in error["error"]
    scheduled = ScheduledJobRegistry(queue=world.services.queues.plan)  # the plan job's queue
    [job_id] = scheduled.get_job_ids()
    assert scheduled.get_scheduled_time(job_id).timestamp() >= int(before) + 600  # not the policy's 0 s


def test_github_down_for_good_fails_the_run_clearly(world: World) -> None:
    world.services.policy = RetryPolicy(max_retries=1, intervals=(0,))
    world.github.fail_next("GET", r"/issues/\d+$", 502, times=100, body={"message": "Bad gateway"})
    _plan(world)
    run = world.run()
    assert run is not None and run.state == State.FAILED and run.failed_step == "plan"
    assert "GitHub answered 502" in run.error
    errors = [e for e in world.services.store.entries(run.id) if e["event"] == "error"]
    assert [e["will_retry"] for e in errors] == [True, False]  # one job retry, then stop
