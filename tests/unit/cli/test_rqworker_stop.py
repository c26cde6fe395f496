"""A stopping worker leaves RQ's command channel without waiting for its listener's 60 s poll (real Redis)."""

from __future__ import annotations

import threading

import redis

from bot.cli.rqworker import IssuesmithWorker
from tests.world import wait_until

BOUND = 10.0
"""How long leaving the channel may take here: RQ's own way waited for the listener's poll, up to 60 s."""


def test_leaving_the_command_channel_does_not_wait_for_the_listeners_poll(redis_url: str) -> None:
    connection = redis.Redis.from_url(redis_url)
    worker = IssuesmithWorker(["stop-test"], connection=connection)
    worker.subscribe()
    listener = worker.pubsub_thread
    assert listener is not None and listener.is_alive()
    # the state a stop met: the listener has seen the channel left and waits up to 60 s for a subscription
    worker.pubsub.unsubscribe()
    wait_until(lambda: not worker.pubsub.subscribed, what="the listener to read the unsubscribe reply")

    leaving = threading.Thread(target=worker.unsubscribe, daemon=True)
    leaving.start()
    leaving.join(BOUND)
    assert not leaving.is_alive(), "leaving the command channel waited for the listener's poll"
    listener.join(BOUND)  # and the listener ends by itself at its next wake-up, not left behind for good
    assert not listener.is_alive()
