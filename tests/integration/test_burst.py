"""A webhook burst: 2,000 deliveries in a few seconds, most irrelevant, some duplicated.

This checks correctness under load (each relevant delivery queued exactly once, none lost)
against the real `issuesmith serve` process, whose inbox the worker's dispatcher then turns into
jobs. The Python client here is the bottleneck;
throughput and latency figures of the web path come from `bench/webhook.py` (wrk).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import redis

from bot.cli import dispatcher
from bot.config.settings import Settings
from bot.web.webhooks import sign
from tests.contracts.openapi import webhook_examples
from tests.world import wait_until

SECRET = "burst-test-secret-0123456789"


def _bodies() -> tuple[bytes, bytes]:
    example = next(p for p in webhook_examples("issues") if p["action"] == "labeled")
    example["sender"]["type"] = "User"
    example.setdefault("installation", {"id": 1})
    relevant = {**example, "label": {**example["label"], "name": "issuesmith"}}
    irrelevant = {**example, "action": "unlabeled"}  # not for us: answered without touching the queue
    return json.dumps(relevant).encode(), json.dumps(irrelevant).encode()


async def _send(url: str, plan: list[tuple[str, bytes]], concurrency: int) -> tuple[list[int], list[float]]:
    statuses: list[int] = []
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in plan:
        queue.put_nowait(item)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        async def worker() -> None:
            while not queue.empty():
                delivery, body = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(f"{url}/webhook", content=body, headers={
                    "X-GitHub-Event": "issues", "X-GitHub-Delivery": delivery,
                    "X-Hub-Signature-256": sign(SECRET.encode(), body), "Content-Type": "application/json"})
                latencies.append(time.perf_counter() - started)
                statuses.append(response.status_code)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses, latencies


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_burst_of_2000_deliveries_queues_each_relevant_one_exactly_once(redis_url: str, tmp_path: Path) -> None:
    relevant, irrelevant = _bodies()
    rng = random.Random(7)
    plan = [(str(uuid.uuid4()), relevant if rng.random() < 0.1 else irrelevant) for _ in range(1800)]
    plan += [rng.choice(plan) for _ in range(200)]  # redeliveries of the same delivery ids
    rng.shuffle(plan)
    unique_relevant = {d for d, body in plan if body is relevant}
    port = _free_port()
    env = {"PATH": os.environ["PATH"], "ISSUESMITH_WEBHOOK_SECRET": SECRET, "ISSUESMITH_REDIS_URL": redis_url}
    server = subprocess.Popen([str(Path(sys.executable).parent / "issuesmith"), "serve", "--port", str(port)],
                              env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(f"{url}/healthz"), what="issuesmith serve")
        started = time.perf_counter()
        statuses, latencies = asyncio.run(_send(url, plan, 16))
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=10)

    assert len(statuses) == 2000 and all(s in (200, 202) for s in statuses)
    assert statuses.count(202) == len(unique_relevant)
    client = redis.Redis.from_url(redis_url)
    assert client.xlen("issuesmith:inbox") == len(unique_relevant)
    settings = Settings(_env_file=None, webhook_secret=SECRET, redis_url=redis_url,  # type: ignore[call-arg]
                        work_dir=tmp_path)
    assert dispatcher.build(settings, "burst").drain() == len(unique_relevant)
    assert client.llen("rq:queue:issuesmith-intake") == len(unique_relevant)
    queued = {job_id.decode().removeprefix("intake-") for job_id in client.lrange("rq:queue:issuesmith-intake", 0, -1)}
    assert queued == unique_relevant
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000
    print(f"\nburst: 2000 deliveries in {elapsed:.2f}s, {len(unique_relevant)} relevant queued once, p99 {p99:.1f} ms")
    assert elapsed < 60
