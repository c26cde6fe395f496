"""CPU per request of each part of `POST /webhook`: read body, HMAC, parse, decide, enqueue, the rest.

Run from the repository root, with a Redis whose database `--redis-db` is empty (it is flushed after):

    .venv/bin/python bench/webhook_parts.py [--redis-url redis://127.0.0.1:6379] [--redis-db 13] [--n 20000]

Each part is the real function the web app calls, run `--n` times in a loop in this one process, on the
~10 KB `issues` payload `bench/webhook.py` sends (a relevant `labeled issuesmith` delivery, and an
ignored `unlabeled bug` one). CPU is `time.process_time()` (this process, all threads) divided by the
calls; Redis's own CPU per call comes from `INFO cpu`. The parts:

| part | what runs |
|---|---|
| read body | the ASGI receive loop of `bot.web.app` and the headers decoded to a dict |
| HMAC | `verify_signature` (SHA-256 over the body, compared in constant time) |
| parse | `orjson.loads` of the body |
| decide | `bot.web.webhooks.decide` (event → `Intent` or the reason to ignore it) |
| enqueue, inbox | `AsyncInbox.append`: one EVALSHA through `redis.asyncio`, on the event loop (today) |
| … 16 at once | the same, 16 requests at a time: they share one EVALSHA (as concurrent requests do) |
| enqueue, RQ in a thread | `enqueue_intake` through `run_in_threadpool` (before: RQ's `unique=True` enqueue) |
| whole handler | `WebhookReceiver` as uvicorn calls it (all the above, the answer, metrics), 1 and 16 at once |

The whole handler minus the parts is what the answer and the metrics cost. uvicorn's
own HTTP parsing and the socket writes are not in any row (the bare FastAPI app of `bench/webhook.py`
pays them too). Results go to `bench/results/webhook-parts.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import redis
import redis.asyncio
from rq import Queue
from starlette.concurrency import run_in_threadpool

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from webhook_bench.load import Variant, build_variants
from webhook_bench.options import RESULTS_DIR, ROOT
from webhook_bench.servers import redis_db_url

from bot.config.settings import Settings
from bot.core.logs import configure
from bot.core.redact import Redactor
from bot.runs.inbox import AsyncInbox
from bot.runs.intents import Intent
from bot.runs.queueing import RetryPolicy, enqueue_intake
from bot.web.app import _read_body, create_app
from bot.web.webhooks import decide, verify_signature

SECRET = "parts-bench-secret-0123456789abcdef"
Part = Callable[[int], Awaitable[None]]
WIDTH = 16


def _redis_cpu(client: redis.Redis) -> float:
    info: Any = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def together(part: Part, width: int) -> Part:
    """`part` run `width` times at once (as concurrent requests are), as one call."""
    async def calls(i: int) -> None:
        await asyncio.gather(*(part(i * width + j) for j in range(width)))
    return calls


async def _timed(part: Part, n: int, client: redis.Redis, width: int = 1) -> dict[str, float]:
    """µs of this process's CPU (and of Redis's) per call of `part`, over `n` calls after a short warm-up;
    with `width` > 1, `n` calls made `width` at a time."""
    rounds = max(1, n // width)
    part = together(part, width) if width > 1 else part
    for i in range(min(200, rounds)):
        await part(-1 - i)
    cpu, server, wall = time.process_time(), _redis_cpu(client), time.perf_counter()
    for i in range(rounds):
        await part(i)
    cpu, server, wall = time.process_time() - cpu, _redis_cpu(client) - server, time.perf_counter() - wall
    n = rounds * width
    return {"cpu_us": round(cpu / n * 1e6, 1), "redis_cpu_us": round(server / n * 1e6, 1),
            "wall_us": round(wall / n * 1e6, 1)}


def _scope(variant: Variant, delivery: str) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
               (b"content-length", str(len(variant.body)).encode()), (b"x-github-event", b"issues"),
               (b"x-github-delivery", delivery.encode()), (b"x-hub-signature-256", variant.signature.encode()),
               (b"user-agent", b"GitHub-Hookshot/abc")]
    return {"type": "http", "method": "POST", "path": "/webhook", "headers": headers}


def parts(variants: dict[str, Variant], settings: Settings, inbox: AsyncInbox,
          queue: Queue) -> dict[str, tuple[str, Part, int]]:
    """The parts to time, by row name: (variant name, the part, how many run at once)."""
    relevant, ignored = variants["labeled-issuesmith"], variants["unlabeled-bug"]
    payload = orjson.loads(relevant.body)
    intent = decide("issues", "d", payload)
    assert isinstance(intent, Intent)
    secret, policy, app = SECRET.encode(), RetryPolicy(), create_app(settings)
    run = f"{uuid.uuid4().hex[:8]}-"

    async def read_body(i: int) -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": relevant.body, "more_body": False}
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in _scope(relevant, "d")["headers"]}
        await _read_body(receive, headers.get("content-length"))

    async def hmac_check(i: int) -> None:
        verify_signature(secret, relevant.body, relevant.signature)

    async def parse(i: int) -> None:
        orjson.loads(relevant.body)

    async def decide_relevant(i: int) -> None:
        decide("issues", "d", payload)

    async def enqueue_inbox(i: int) -> None:
        await inbox.append(Intent(**{**intent.to_record(), "delivery": f"{run}inbox-{i}"}))

    async def enqueue_rq(i: int) -> None:
        await run_in_threadpool(enqueue_intake, queue, Intent(**{**intent.to_record(), "delivery": f"{run}rq-{i}"}),
                                policy, 3600)

    def whole(variant: Variant, tag: str) -> Part:
        async def handler(i: int) -> None:
            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": variant.body, "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                return None
            await app(_scope(variant, f"{run}{tag}-{i}"), receive, send)
        return handler

    label = "labeled-issuesmith"
    return {"read body": (label, read_body, 1), "HMAC": (label, hmac_check, 1), "parse": (label, parse, 1),
            "decide": (label, decide_relevant, 1), "enqueue, inbox (one at a time)": (label, enqueue_inbox, 1),
            f"enqueue, inbox ({WIDTH} at once)": (label, enqueue_inbox, WIDTH),
            "enqueue, RQ in a thread (before, one at a time)": (label, enqueue_rq, 1),
            f"enqueue, RQ in a thread (before, {WIDTH} at once)": (label, enqueue_rq, WIDTH),
            "whole handler, relevant (one at a time)": (label, whole(relevant, "whole"), 1),
            f"whole handler, relevant ({WIDTH} at once)": (label, whole(relevant, "many"), WIDTH),
            "whole handler, ignored": ("unlabeled-bug", whole(ignored, "ignored"), 1)}


async def measure(options: argparse.Namespace, url: str, client: redis.Redis) -> dict[str, dict[str, Any]]:
    """Every part, timed in turn."""
    settings = Settings(_env_file=None, webhook_secret=SECRET, redis_url=url)  # type: ignore[call-arg]
    configure(settings.log_level, Redactor(settings.secrets()))  # as `issuesmith serve` logs
    logging.getLogger().handlers[0].setStream(open("/dev/null", "w"))  # noqa: SIM115 the lines, not the terminal
    inbox = AsyncInbox(redis.asyncio.Redis.from_url(url), settings.delivery_ttl_seconds)
    variants = {v.name: v for v in build_variants(SECRET)}
    results: dict[str, dict[str, Any]] = {}
    for name, (variant, part, width) in parts(variants, settings, inbox,
                                              Queue(settings.intake_queue, connection=client)).items():
        results[name] = {"variant": variant, "at_once": width, **await _timed(part, options.n, client, width)}
        print(f"{name:<50} {results[name]['cpu_us']:>8.1f} µs CPU   Redis {results[name]['redis_cpu_us']:>6.1f} µs"
              f"   wall {results[name]['wall_us']:>8.1f} µs", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--n", type=int, default=20000, help="calls per part")
    options = parser.parse_args(argv)
    url = redis_db_url(options.redis_url, options.redis_db)
    client = redis.Redis.from_url(url)
    if client.dbsize():
        sys.exit(f"Redis database {options.redis_db} is not empty; pick an empty one with --redis-db")
    try:
        try:
            import uvloop
            results = uvloop.run(measure(options, url, client))
        except ImportError:
            results = asyncio.run(measure(options, url, client))
    finally:
        client.flushdb()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / "webhook-parts.json"
    out.write_bytes(orjson.dumps({"n": options.n, "parts": results}, option=orjson.OPT_INDENT_2))
    print(f"\nwritten: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
