"""GitHub writes are spaced per installation across processes (GitHub's "pause between mutative requests"),
through Redis: checked on the slots Redis hands out and on the writes a run makes, never with a clock."""

from __future__ import annotations

import itertools
import multiprocessing
import re

import redis

from bot.github.client import GitHubApp
from bot.github.pacing import WritePacer
from tests.world import SAMPLE_PLAN, World

GAP = 0.05


def _take_slots(url: str, installation: int, count: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    pacer = WritePacer(redis.Redis.from_url(url), GAP)
    out.put([pacer.take(installation)[0] for _ in range(count)])


def test_slots_taken_by_many_processes_at_once_are_a_spacing_apart(redis_url: str) -> None:
    out: multiprocessing.Queue = multiprocessing.get_context("fork").Queue()  # type: ignore[type-arg]
    procs = [multiprocessing.get_context("fork").Process(target=_take_slots, args=(redis_url, 7, 5, out))
             for _ in range(4)]
    for proc in procs:
        proc.start()
    slots = sorted(slot for _ in procs for slot in out.get(timeout=30))
    for proc in procs:
        proc.join(30)
    assert len(slots) == 20
    assert all(b - a >= GAP * 1_000_000 for a, b in itertools.pairwise(slots)), slots

    other = WritePacer(redis.Redis.from_url(redis_url), GAP)
    slot, now = other.take(8)  # another installation does not wait behind installation 7's writes
    assert slot == now
    assert other.take(7)[0] >= slots[-1] + GAP * 1_000_000


def test_no_spacing_takes_no_slot_and_never_waits(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    slept: list[float] = []
    WritePacer(client, 0.0, sleep=slept.append).wait(7)
    assert slept == []
    assert client.keys("issuesmith:github-writes:*") == []


class CountingPacer(WritePacer):
    """A pacer that counts the slots taken and records its waits instead of sleeping."""

    def __init__(self, client: redis.Redis, spacing: float) -> None:
        self.waits: list[float] = []
        super().__init__(client, spacing, sleep=self.waits.append)
        self.taken = 0

    def take(self, installation_id: int) -> tuple[int, int]:
        self.taken += 1
        return super().take(installation_id)


def test_every_write_of_a_run_takes_a_slot_and_no_read_does(world: World) -> None:
    s = world.settings
    pacer = CountingPacer(world.services.redis_text, 1.0)
    world.services.github = GitHubApp(s.app_id or 0, s.app_private_key(), s.github_api_url, world.services.redactor,
                                      bot_login=s.bot_login, spacing=(0.0, 1.0), pacer=pacer)
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    world.say("/revise name the function in the title", by="carol")
    world.script_plan(SAMPLE_PLAN)
    world.drain()

    writes = [e for e in world.github.exchanges if e.method != "GET" and e.actor and e.actor.endswith("[bot]")
              and not re.search(r"/access_tokens$", e.path)]
    assert len(writes) >= 5  # reactions, the status comment and its edits, two plans
    assert pacer.taken == len(writes)
    # the writes came faster than one a second here (the waits were recorded, not slept), so each took a later slot
    assert sum(1 for w in pacer.waits if w > 0) >= len(writes) - 1


def test_a_turn_taken_ahead_is_used_by_the_first_write_in_it_only(redis_url: str) -> None:
    pacer = CountingPacer(redis.Redis.from_url(redis_url), 1.0)
    with pacer.turn(7):
        assert pacer.taken == 1  # waited for before the block reads what it will write
        pacer.wait(7)  # the block's first write: the slot already taken
        assert pacer.taken == 1
        pacer.wait(7)  # a second write takes a slot of its own
        assert pacer.taken == 2
    pacer.wait(7)
    assert pacer.taken == 3
    assert len(pacer.waits) == 2  # the later slots were still to come: a second after the one before
