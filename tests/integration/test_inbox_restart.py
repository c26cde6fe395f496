"""Redis restarted in the middle of a webhook burst: every relevant delivery becomes exactly one intake job.

The real `issuesmith serve` process takes the deliveries; two dispatchers built as `issuesmith worker`
builds its own (`bot.cli.dispatcher`) turn the inbox into RQ jobs, one of them taking over what the
other holds almost at once (`ISSUESMITH_INBOX_RECLAIM_SECONDS` tiny), so both race for every entry.
The Redis server (append-only file, fsync always) is stopped and started again while deliveries
arrive. A sender acts like GitHub: any answer but 200/202 (503, a refused connection) is
delivered again with the same delivery id until it is accepted.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
import redis

from bot.cli import dispatcher
from bot.config.settings import Settings
from bot.runs.inbox import GROUP, INBOX
from bot.web.webhooks import sign
from tests.integration.test_burst import _answers, _bodies, _free_port
from tests.integration.test_redis_restart import PrivateRedis
from tests.world import wait_until

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
SECRET = "burst-test-secret-0123456789"
DELIVERIES = 600


class Sender:
    """Delivers each (delivery id, body) until it is accepted, counting every answer per delivery."""

    def __init__(self, url: str, plan: list[tuple[str, bytes]]) -> None:
        self.url = url
        self.plan = plan
        self.answers: dict[str, list[int | str]] = {delivery: [] for delivery, _ in plan}
        self.accepted = 0
        self.refused = 0

    async def run(self, concurrency: int) -> None:
        queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        for item in self.plan:
            queue.put_nowait(item)
        async with httpx.AsyncClient(timeout=30) as client:
            await asyncio.gather(*(self._worker(client, queue) for _ in range(concurrency)))

    async def _worker(self, client: httpx.AsyncClient, queue: asyncio.Queue[tuple[str, bytes]]) -> None:
        while not queue.empty():
            delivery, body = queue.get_nowait()
            while not await self._deliver(client, delivery, body):
                self.refused += 1
                await asyncio.sleep(0.05)  # GitHub redelivers later
            self.accepted += 1

    async def _deliver(self, client: httpx.AsyncClient, delivery: str, body: bytes) -> bool:
        try:
            response = await client.post(f"{self.url}/webhook", content=body, headers={
                "X-GitHub-Event": "issues", "X-GitHub-Delivery": delivery,
                "X-Hub-Signature-256": sign(SECRET.encode(), body), "Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            self.answers[delivery].append(type(exc).__name__)
            return False
        self.answers[delivery].append(response.status_code)
        return response.status_code in (200, 202)


def test_redis_restarted_mid_burst_loses_and_doubles_no_delivery(tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path, persistent=True)
    server.start()
    relevant, irrelevant = _bodies()
    plan = [(str(uuid.uuid4()), relevant if i % 3 else irrelevant) for i in range(DELIVERIES)]
    wanted = {delivery for delivery, body in plan if body is relevant}
    settings = Settings(_env_file=None, webhook_secret=SECRET, redis_url=server.url,  # type: ignore[call-arg]
                        work_dir=tmp_path, inbox_reclaim_seconds=0.001)
    port = _free_port()
    env = {"PATH": os.environ["PATH"], "ISSUESMITH_WEBHOOK_SECRET": SECRET, "ISSUESMITH_REDIS_URL": server.url}
    web = subprocess.Popen([str(Path(sys.executable).parent / "issuesmith"), "serve", "--port", str(port)],
                           env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dispatchers = [dispatcher.DispatcherThread(dispatcher.build(settings, name), name).start() for name in "ab"]
    sender = Sender(f"http://127.0.0.1:{port}", plan)
    try:
        wait_until(lambda: _answers(f"{sender.url}/healthz"), what="issuesmith serve")
        load = threading.Thread(target=asyncio.run, args=(sender.run(16),))
        load.start()
        wait_until(lambda: sender.accepted >= DELIVERIES // 4, what="a quarter of the deliveries accepted")
        server.stop()
        wait_until(lambda: sender.refused >= 20, what="deliveries refused while Redis is down")
        accepted_while_down = sender.accepted
        server.start()
        load.join(120)
        assert not load.is_alive()
        client = redis.Redis.from_url(server.url)
        wait_until(lambda: client.xlen(INBOX) == 0 and client.xpending(INBOX, GROUP)["pending"] == 0,
                   timeout=60, what="the inbox emptied by the dispatchers")
        jobs = [job_id.decode() for job_id in client.lrange("rq:queue:issuesmith-intake", 0, -1)]
    finally:
        for thread in dispatchers:
            thread.stop()
        web.terminate()
        web.wait(timeout=10)
        server.stop()

    assert DELIVERIES // 4 <= accepted_while_down < DELIVERIES  # the outage fell in the middle of the burst
    statuses = Counter(answer for answers in sender.answers.values() for answer in answers)
    assert statuses[503] > 0  # while Redis was down, /webhook said so (and GitHub would redeliver)
    for delivery, answers in sender.answers.items():
        assert answers.count(202) <= 1, (delivery, answers)  # never taken in twice
        assert answers[-1] in (200, 202), (delivery, answers)  # every delivery ended accepted
    assert len(jobs) == len(set(jobs)) and {job.removeprefix("intake-") for job in jobs} == wanted
