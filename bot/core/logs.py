"""Structured (JSON lines) logging, bound to the delivery, run, repository and issue at hand.

`bound(run=..., repo=...)` adds fields to every record logged inside the `with` block;
the fields live in a context variable, so concurrent requests do not mix them up.
Every record passes the redactor before it is written.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import orjson

from bot.core.redact import Redactor

_fields: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("issuesmith_log_fields", default=None)
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add fields (delivery, run, repo, issue, step, ...) to the records logged in this block."""
    merged = {**(_fields.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    token = _fields.set(merged)
    try:
        yield
    finally:
        _fields.reset(token)


def current_fields() -> dict[str, Any]:
    """The fields bound right now (to hand them to a thread or job)."""
    return dict(_fields.get() or {})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, bound fields, extras."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **(_fields.get() or {}),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        line = orjson.dumps(entry, default=str).decode()
        return self._redact(line)


def configure(level: str, redactor: Redactor) -> None:
    """Send every log record, as redacted JSON lines, to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(redactor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.Formatter.converter = time.gmtime
