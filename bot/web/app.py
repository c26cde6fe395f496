"""The web process: verify a webhook, decide cheaply, store what concerns us, answer at once.

`POST /webhook` is a plain ASGI handler in front of FastAPI (the FastAPI layers cost more
than everything else on this path); other routes (`/healthz`, `/metrics`, the runs page of
`bot.web.dashboard`) are FastAPI. No GitHub API call happens here. Every request is counted and
timed for `/metrics` (`bot.web.metrics`). Answers:

| case | status |
|---|---|
| body over 25 MB | 413 |
| missing or wrong `X-Hub-Signature-256` (any bytes, compared as bytes) | 401 |
| body not JSON, or an `X-GitHub-Delivery` that is not a GUID-like id | 400 |
| `ping` | 200 |
| not for us (event, action, not a command, bot sender) | 200, queue untouched |
| queued / already queued (same delivery id) | 202 / 200 |
| Redis unreachable | 503: GitHub marks the delivery failed and it can be redelivered |

"Queued" means appended to the inbox (`bot.runs.inbox`): one asynchronous Redis round trip on the
event loop (shared by the requests of the moment), which also de-duplicates by delivery id; the
worker's dispatcher (`bot.runs.dispatch`) turns it into the RQ intake job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio
import orjson
import redis
import redis.asyncio
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from bot.config.settings import Settings
from bot.core.logs import bound
from bot.runs.inbox import AsyncInbox
from bot.runs.intents import Intent
from bot.runs.queueing import QueueNames
from bot.web import dashboard
from bot.web.metrics import CONTENT_TYPE, WebMetrics, deployment_models, event_label
from bot.web.webhooks import decide, ignored_unread, valid_delivery, verify_signature

MAX_BODY = 25 * 1024 * 1024
log = logging.getLogger("issuesmith.web")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class TooLarge(Exception):
    """The request body is over GitHub's 25 MB cap."""


class WebhookReceiver:
    """The `/webhook` ASGI handler; everything else goes to `fallback`."""

    def __init__(self, settings: Settings, inbox: AsyncInbox, fallback: Any, metrics: WebMetrics) -> None:
        self._secret = settings.webhook_secret.get_secret_value().encode()
        self._inbox = inbox
        self._fallback = fallback
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._fallback(scope, receive, send)
            return
        started = time.perf_counter()
        if scope["path"] != "/webhook":
            await self._forward(scope, receive, send, started)
            return
        if scope["method"] != "POST":
            await _respond(send, 405, {"error": "use POST"})
            self._metrics.delivery("unknown", "bad_method", time.perf_counter() - started)
            return
        status, body, event, outcome = await self._handle(scope, receive)
        await _respond(send, status, body)
        self._metrics.delivery(event, outcome, time.perf_counter() - started)

    async def _forward(self, scope: Scope, receive: Receive, send: Send, started: float) -> None:
        """Hand the request to the fallback app, timing it by the status it answers with (500 if it raises)."""
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._fallback(scope, receive, watch)
        finally:
            self._metrics.request(status, time.perf_counter() - started)

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[int, dict[str, Any], str, str]:
        """Answer one delivery: (status, body, event label, outcome label)."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            raw = await _read_body(receive, headers.get("content-length"))
        except TooLarge:
            return 413, {"error": "payload over 25 MB"}, "unknown", "too_large"
        if not verify_signature(self._secret, raw, headers.get("x-hub-signature-256")):
            return (401, {"error": "bad signature: check ISSUESMITH_WEBHOOK_SECRET matches the app's secret"},
                    "unknown", "bad_signature")
        event = headers.get("x-github-event", "")
        label = event_label(event, verified=True)
        delivery = headers.get("x-github-delivery", "")
        if (unread := ignored_unread(event, raw)) is not None and valid_delivery(delivery):
            return 200, {"ignored": unread}, label, "ignored"
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return 400, {"error": "body is not JSON"}, label, "bad_request"
        if event == "ping":
            return 200, {"msg": "pong"}, label, "ping"
        if not isinstance(payload, dict) or not valid_delivery(delivery):
            return 400, {"error": "not a GitHub webhook delivery"}, label, "bad_request"
        decision = decide(event, delivery, payload)
        if isinstance(decision, str):
            return 200, {"ignored": decision}, label, "ignored"
        status, body, outcome = await self._queue_intent(decision)
        return status, body, label, outcome

    async def _queue_intent(self, intent: Intent) -> tuple[int, dict[str, Any], str]:
        """Store the intent in the inbox: 202 when new, 200 when its delivery id was taken in before, 503 when
        Redis cannot store it. A new delivery is logged at DEBUG only: the worker's dispatcher logs each one
        (delivery id, kind, repository, issue) and `/metrics` counts them; a log line costs as much CPU here
        as the rest of the answer."""
        try:
            fresh = await self._inbox.append(intent)
        except redis.RedisError as exc:
            _log(logging.ERROR, "queue unavailable, delivery refused", intent, error=repr(exc))
            return 503, {"error": "queue unavailable, redeliver later"}, "unavailable"
        if fresh:
            _log(logging.DEBUG, "delivery queued", intent, kind=intent.kind)
            return 202, {"queued": intent.kind}, "queued"
        _log(logging.INFO, "duplicate delivery", intent, kind=intent.kind)
        return 200, {"duplicate": intent.delivery}, "duplicate"


def _log(level: int, message: str, intent: Intent, **extra: Any) -> None:
    """Log about a delivery, with its id, repository and issue bound (nothing is built when `level` is off)."""
    if log.isEnabledFor(level):
        with bound(delivery=intent.delivery, repo=intent.repo, issue=intent.issue_number):
            log.log(level, message, extra=extra)


async def _read_body(receive: Receive, content_length: str | None) -> bytes:
    if content_length and content_length.isascii() and content_length.isdigit() and int(content_length) > MAX_BODY:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send: Send, status: int, body: dict[str, Any]) -> None:
    data = orjson.dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def create_app(settings: Settings, connection: redis.Redis | None = None) -> WebhookReceiver:
    """Build the ASGI app: the webhook receiver in front of a FastAPI app with `/healthz`, `/metrics`
    and (when `ISSUESMITH_DASHBOARD_TOKEN` is set) the runs page."""
    connection = connection or redis.Redis.from_url(settings.redis_url, socket_timeout=5,
                                                    socket_connect_timeout=2)
    text = _decoding(connection)
    queues = QueueNames(settings.intake_queue, settings.work_queue, settings.plan_queue)
    metrics = WebMetrics(connection, text, deployment_models(settings), queues.served)
    scrapes = anyio.CapacityLimiter(2)  # its own threads: a busy webhook path cannot starve a scrape
    api = FastAPI(title="issuesmith", docs_url=None, redoc_url=None)

    @api.get("/metrics")
    async def prometheus() -> Response:
        body = await anyio.to_thread.run_sync(metrics.render, limiter=scrapes)
        return Response(body, media_type=CONTENT_TYPE)

    @api.get("/healthz")
    def healthz() -> JSONResponse:
        try:
            connection.ping()
        except redis.RedisError as exc:
            return JSONResponse({"status": "degraded", "redis": f"unreachable: {type(exc).__name__}"}, 503)
        return JSONResponse({"status": "ok", "redis": "ok"})

    if settings.dashboard_token is not None:
        dashboard.mount(api, settings.dashboard_token, text, secure_cookie=not settings.dashboard_insecure_cookie)
    inbox = AsyncInbox(redis.asyncio.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2,
                                                    retry=Retry(NoBackoff(), 1)), settings.delivery_ttl_seconds)
    return WebhookReceiver(settings, inbox, api, metrics)


def _decoding(connection: redis.Redis) -> redis.Redis:
    """A client on the same server as `connection` whose replies are decoded to str (for the run store)."""
    pool = connection.connection_pool
    kwargs = {**pool.connection_kwargs, "decode_responses": True}
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs))
