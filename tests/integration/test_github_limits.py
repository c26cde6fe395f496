"""GitHub rate limits and outages: bounded backoff, then success or a clear failure."""

from __future__ import annotations

import time

from bot.runs.model import State
from bot.runs.queueing import RetryPolicy
from tests.world import SAMPLE_PLAN, World


def _plan(world: World) -> None:
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()


def test_secondary_rate_limit_with_retry_after_is_waited_out(world: World) -> None:
    world.github.fail_next("GET", r"/issues/\d+$", 403, headers={"Retry-After": "1"},
                           body={"message": "You have exceeded a secondary rate limit."})
    started = time.monotonic()
    _plan(world)
    assert world.run().state == State.AWAITING_APPROVAL  # type: ignore[union-attr]
    assert time.monotonic() - started >= 1.0


def test_429_on_a_read_is_retried(world: World) -> None:
    world.github.fail_next("GET", r"/issues/\d+$", 429, headers={"Retry-After": "1"},
                           body={"message": "Too many requests"})
    _plan(world)
    assert world.run().state == State.AWAITING_APPROVAL  # type: ignore[union-attr]


def test_primary_rate_limit_waits_for_the_reset(world: World) -> None:
    reset = str(int(time.time()) + 2)
    world.github.fail_next("GET", r"/issues/\d+$", 403, headers={"x-ratelimit-remaining": "0",
                                                                 "x-ratelimit-reset": reset},
                           body={"message": "API rate limit exceeded for installation ID 4242."})
    _plan(world)
    assert world.run().state == State.AWAITING_APPROVAL  # type: ignore[union-attr]


def test_rate_limited_post_is_retried_by_the_job_without_a_duplicate(world: World) -> None:
    world.github.fail_next("POST", r"/issues/\d+/comments$", 403, headers={"Retry-After": "1"},
                           body={"message": "You have exceeded a secondary rate limit."})
    _plan(world)
    assert world.run().state == State.AWAITING_APPROVAL  # type: ignore[union-attr]
    assert len([c for c in world.bot_comments() if "issuesmith:plan" in c.body]) == 1


def test_github_down_for_good_fails_the_run_clearly(world: World) -> None:
    world.services.policy = RetryPolicy(max_retries=1, intervals=(0,))
    world.github.fail_next("GET", r"/issues/\d+$", 502, times=100, body={"message": "Bad gateway"})
    _plan(world)
    run = world.run()
    assert run is not None and run.state == State.FAILED and run.failed_step == "plan"
    assert "GitHub answered 502" in run.error
    errors = [e for e in world.services.store.entries(run.id) if e["event"] == "error"]
    assert [e["will_retry"] for e in errors] == [True, False]  # one job retry, then stop
