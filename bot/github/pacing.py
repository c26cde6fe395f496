"""GitHub writes spaced per installation, across every process and host of a deployment.

GitHub's "Best practices for using the REST API" (docs.github.com/rest/guides/best-practices-for-using-the-rest-api,
"Pause between mutative requests") asks an integration making many POST, PATCH, PUT or DELETE requests to wait
at least a second between them, or meet its secondary rate limits. PyGithub can space the requests of one client
object, but the bot makes a client per repository action and runs its jobs in many processes (RQ forks one per
job, and several workers run at once), so that spacing held between nothing. Here each write first takes the
next free slot of its installation in Redis, one atomic script that reads Redis's own clock (so hosts with
skewed clocks agree), and sleeps until it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis

KEY = "issuesmith:github-writes:{installation}"

# KEYS[1]: the installation's last slot (microseconds on Redis's clock); ARGV[1]: the spacing in microseconds.
# Returns the caller's slot and Redis's clock now, in microseconds.
_TAKE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local gap = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, last + gap)
redis.call('SET', KEYS[1], string.format('%d', slot), 'PX', math.floor((slot - now + gap) / 1000) + 1)
return {slot, now}
"""


class WritePacer:
    """Slots for GitHub writes, `spacing` seconds apart per installation."""

    def __init__(self, client: redis.Redis, spacing: float, sleep: Callable[[float], None] = time.sleep) -> None:
        self.spacing = spacing
        self._sleep = sleep
        self._take = client.register_script(_TAKE_SLOT)
        self._held = threading.local()  # the installation whose slot this thread took ahead (`turn`)

    def take(self, installation_id: int) -> tuple[int, int]:
        """Take the installation's next write slot: (the slot, Redis's clock now), in microseconds."""
        slot, now = self._take(keys=[KEY.format(installation=installation_id)],
                               args=[int(self.spacing * 1_000_000)])
        return int(slot), int(now)

    def delay(self, installation_id: int) -> float:
        """Take the installation's next write slot; seconds until it comes."""
        if self.spacing <= 0:
            return 0.0
        slot, now = self.take(installation_id)
        return (slot - now) / 1_000_000

    def wait(self, installation_id: int) -> None:
        """Take the installation's next write slot and sleep until it (or use the one `turn` took)."""
        if getattr(self._held, "installation", None) == installation_id:
            self._held.installation = None
            return
        seconds = self.delay(installation_id)
        if seconds > 0:
            self._sleep(seconds)

    @contextmanager
    def turn(self, installation_id: int) -> Iterator[None]:
        """Wait for the installation's next write slot before the block, and let the block's first write use it:
        what the block reads before writing is then as fresh as it can be when the write goes out (the status
        comment shows the run as it is when its edit is sent, not as it was a second earlier)."""
        self.wait(installation_id)
        self._held.installation = installation_id
        try:
            yield
        finally:
            self._held.installation = None
