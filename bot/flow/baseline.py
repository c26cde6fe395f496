"""The base run: the test command on the base tree, before the change, once per base commit.

It runs in the test step (or earlier, in the code step, before the Coder's first `run_tests`),
after the setup command and before the tests of the change, in the
same work tree, sandbox, HOME and limits (`Implementation.run_tests(on=commit)`): the tree is
put back to the base commit for it (the agents' edits and added tests out, what the setup
command built kept) and restored to base plus the change afterwards. One test run more per
run, none when the cache has it: runs of the same repository from the same base commit with
the same test and setup commands and timeout share it (`bot.runs.baselines`). A base run that
timed out, or whose counts are unknown, is not cached. `ISSUESMITH_TEST_BASELINE=0` switches it off.
Runs that need the same base run at the same time make it once: the others wait for it
(`BaselineCache.claim` / `wait`), and make their own only when it could not be kept.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bot.config.limits import DeploymentLimits
from bot.flow.pipeline import StepContext
from bot.runs.baselines import BaselineCache, baseline_key
from bot.sandboxes.baseline import BaseRun

if TYPE_CHECKING:
    from bot.flow.implement import Implementation

LEASE_MARGIN_SECONDS = 120
"""A claimed base run may take the test timeout plus this before a run
waiting for it stops waiting and makes its own."""


def base_run(impl: Implementation, ctx: StepContext, touched: list[str]) -> BaseRun | None:
    """What the test command does on the base commit (from the cache when it has it); None when switched off
    or there is no test command."""
    settings = impl.services.settings
    command = impl.brief.test_command
    if not settings.test_baseline or not command:
        return None
    commit = impl.baseline_commit(ctx)
    limits = DeploymentLimits.from_settings(settings)
    key = baseline_key(impl.run.repo, commit, command, limits.run_setup_command(impl.config),
                       str(limits.run_test_timeout(impl.config)))
    cache = BaselineCache(impl.services.redis_text)
    cached = BaseRun.from_dict(cache.get(key))
    lease = limits.run_test_timeout(impl.config) + LEASE_MARGIN_SECONDS
    claimed = cached is None and cache.claim(key, lease)
    if cached is None and not claimed:  # another run makes this base run now: wait for it
        waited = time.monotonic()
        cached = BaseRun.from_dict(cache.wait(key, lease, ctx.check))
        if cached is not None:
            ctx.log("baseline", cached=True, commit=commit, what=cached.what, failures=cached.failures,
                    waited=round(time.monotonic() - waited, 3))
            return cached
    elif cached is not None:
        ctx.log("baseline", cached=True, commit=commit, what=cached.what, failures=cached.failures)
        return cached
    try:
        return _run_base(impl, ctx, touched, commit, cache, key)
    finally:
        if claimed:
            cache.release(key)


def _run_base(impl: Implementation, ctx: StepContext, touched: list[str], commit: str, cache: BaselineCache,
              key: str) -> BaseRun:
    """Make the base run, and keep it when it can be reused."""
    impl.status(ctx.step, f"running the tests on {impl.brief.branch} before the change")
    started = time.monotonic()
    report, _ = impl.run_tests(ctx, touched, on=commit)
    found = BaseRun.of(report, commit, time.monotonic() - started)
    stored = report.counted and not report.timed_out and cache.put(key, found.to_dict())
    ctx.log("baseline", cached=False, stored=stored, commit=commit, what=found.what, failures=found.failures,
            seconds=found.seconds)
    return found
