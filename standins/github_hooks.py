"""Webhook deliveries of the GitHub stand-in: one background thread, in order, signed like GitHub's."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from standins.github_model import Delivery


def signatures(secret: str, body: bytes) -> tuple[str, str]:
    """(X-Hub-Signature-256, X-Hub-Signature) values for `body`."""
    key = secret.encode()
    sha256 = hmac.new(key, body, hashlib.sha256).hexdigest()
    sha1 = hmac.new(key, body, hashlib.sha1).hexdigest()
    return f"sha256={sha256}", f"sha1={sha1}"


def encode(payload: dict[str, Any]) -> bytes:
    """The exact bytes GitHub-style deliveries carry: compact JSON, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class _Job:
    guid: str
    event: str
    action: str | None
    payload: dict[str, Any]
    redelivery: bool


class WebhookSender:
    """Queues events and POSTs them, one at a time, to the configured URL."""

    def __init__(self) -> None:
        self.url: str | None = None
        self.secret = ""
        self.events: set[str] | None = None
        self.hook_id = 100_000_000 + secrets.randbelow(900_000_000)
        self.target_id: int = 0
        self.deliveries: list[Delivery] = []
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._pending = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._user_agent = f"GitHub-Hookshot/{secrets.token_hex(4)[:7]}"
        self._client: httpx.Client | None = None

    def configure(self, url: str | None, secret: str, events: set[str] | None = None) -> None:
        self.url, self.secret, self.events = url, secret, events

    def subscribed(self, event: str) -> bool:
        return self.url is not None and (self.events is None or event in self.events or "*" in self.events)

    def emit(self, event: str, action: str | None, payload: dict[str, Any]) -> str | None:
        """Queue one delivery; the payload is frozen now, as GitHub snapshots it at event time."""
        if not self.subscribed(event):
            return None
        guid = str(uuid.uuid4())
        snapshot = json.loads(encode(payload))
        self._put(_Job(guid, event, action, snapshot, redelivery=False))
        return guid

    def redeliver(self, guid: str) -> None:
        for delivery in self.deliveries:
            if delivery.guid == guid:
                self._put(_Job(guid, delivery.event, delivery.action, delivery.payload, redelivery=True))
                return
        raise KeyError(f"no delivery {guid!r}")

    def _put(self, job: _Job) -> None:
        with self._cond:
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="standin-webhooks", daemon=True)
                self._thread.start()
        self._queue.put(job)

    def wait(self, timeout: float = 10.0) -> None:
        """Block until every queued delivery has been attempted; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self._pending} webhook deliveries still pending")
                self._cond.wait(left)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(5)
            self._thread = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                self._send(job)
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

    def _send(self, job: _Job) -> None:
        body = encode(job.payload)
        sig256, sig1 = signatures(self.secret, body)
        headers = {
            "Accept": "*/*",
            "Content-Type": "application/json",
            "User-Agent": self._user_agent,
            "X-GitHub-Event": job.event,
            "X-GitHub-Delivery": job.guid,
            "X-GitHub-Hook-ID": str(self.hook_id),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-GitHub-Hook-Installation-Target-ID": str(self.target_id),
            "X-Hub-Signature": sig1,
            "X-Hub-Signature-256": sig256,
        }
        status, error = 0, None
        url = self.url
        if url is None:
            error = "no webhook URL"
        else:
            try:
                if self._client is None:
                    self._client = httpx.Client(timeout=10.0)
                status = self._client.post(url, content=body, headers=headers).status_code
            except Exception as exc:  # any failure to deliver is recorded, never raised
                error = f"{type(exc).__name__}: {exc}"
        self.deliveries.append(
            Delivery(
                guid=job.guid,
                event=job.event,
                action=job.action,
                payload=job.payload,
                status_code=status,
                redelivery=job.redelivery,
                error=error,
                at=time.time(),
            )
        )
