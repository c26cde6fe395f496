"""Waiting out GitHub's rate limits inside one API call, as GitHub asks, within a bounded total wait.

"Rate limits for the REST API", *Exceeding the rate limit* and *Handling rate limit errors*
(https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit):
a request over the primary or a secondary limit is answered 403 or 429. Then, in this order:
with a `retry-after` header, do not retry before that many seconds; with `x-ratelimit-remaining: 0`,
not before `x-ratelimit-reset` (UTC epoch seconds); otherwise wait at least one minute, and longer
(exponentially) while the limit keeps answering, and give up after some retries.

`RateLimitRetry` is the urllib3 retry PyGithub runs every request through. PyGithub's own
`GithubRetry` sleeps a fixed `secondary_rate_wait` for a secondary limit without `retry-after`, and
urllib3 never retries a POST, so a rate-limited comment went back to the job, whose retry intervals
(seconds apart) know nothing of `retry-after`. Here the wait comes from the headers for every method:
a rate-limited request was refused, not carried out, so sending a POST again cannot duplicate it.
Server errors (5xx) are still retried only for idempotent methods. The waits of one call are summed;
one that would take the sum over `max_wait` raises `GitHubRateLimited` (retryable, with the wait
still owed, which the job's retry honours: `bot.runs.queueing.honour_retry_after`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import github
from urllib3.response import BaseHTTPResponse

from bot.core.errors import GitHubRateLimited

RATE_LIMITED = frozenset({403, 429})
SECONDARY_MIN_WAIT = 60.0
"""GitHub: without `retry-after` or a spent primary limit, "wait for at least one minute before retrying"."""
log = logging.getLogger("issuesmith.github")


def required_wait(response: BaseHTTPResponse, now: float, earlier_limits: int) -> float:
    """Seconds GitHub asks us to wait before sending a rate-limited request again.

    `earlier_limits`: how many rate-limited answers this call had before this one (the exponential part).
    """
    headers = response.headers
    retry_after = (headers.get("retry-after") or "").strip()
    if retry_after.isdigit():
        return float(retry_after)
    reset = (headers.get("x-ratelimit-reset") or "").strip()
    if (headers.get("x-ratelimit-remaining") or "").strip() == "0" and reset.isdigit():
        return max(float(reset) - now, 0.0) + 1.0  # the reset falls somewhere in that second
    return SECONDARY_MIN_WAIT * 2 ** earlier_limits


class RateLimitRetry(github.GithubRetry):
    """PyGithub's retry with GitHub's waits for 403/429 on every method, and a bound on their sum."""

    def __init__(self, max_wait: float, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, waited: float = 0.0, **kwargs: Any) -> None:
        kwargs.pop("secondary_rate_wait", None)
        kwargs.pop("max_rate_limit_wait", None)  # the bound is ours: GithubRetry would raise before we count
        super().__init__(secondary_rate_wait=0, max_rate_limit_wait=None, **kwargs)
        self.max_wait = max_wait
        self.waited = waited
        self._sleep = sleep
        self._clock = clock

    def new(self, **kw: Any) -> RateLimitRetry:
        """The retry for the next attempt, carrying the bound, the clock and the wait so far."""
        kw.update(max_wait=self.max_wait, sleep=self._sleep, clock=self._clock, waited=self.waited)
        return super().new(**kw)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        """403/429 are looked at for every method (`increment` tells a rate limit from a refusal)."""
        if status_code in RATE_LIMITED and self.total is not False:
            return True
        return bool(super().is_retry(method, status_code, has_retry_after))

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        """Wait as GitHub asks after a rate limit (within the bound), else back off as urllib3 does."""
        if response is None or response.status not in RATE_LIMITED:
            super().sleep(response)
            return
        earlier = sum(1 for h in self.history[:-1] if h.status in RATE_LIMITED)
        wait = required_wait(response, self._clock(), earlier)
        if self.waited + wait > self.max_wait:
            raise GitHubRateLimited(response.status, wait, self.waited, self.max_wait)
        log.warning("GitHub rate limit: waiting before sending the request again",
                    extra={"status": response.status, "seconds": wait, "waited": self.waited})
        self._sleep(wait)
        self.waited += wait
