"""Scrub token-shaped strings and configured secrets from text we post or log."""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"

_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}\b"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}\b"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}\b"),
    re.compile(r"(?i)\b(authorization:\s*(?:basic|bearer|token)\s+)[A-Za-z0-9+/=._\-]{8,}"),
]


class Redactor:
    """Replaces secrets with `[redacted]`; knows the token shapes plus the configured values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Also redact this value from now on (e.g. a fresh installation token).

        A multi-line secret (a PEM key) is also redacted line by line, so a fragment of it, such
        as the middle of a key printed by a test and cut by an output cap, is caught too.
        """
        pieces = [secret, *(line.strip() for line in secret.splitlines() if len(line.strip()) >= 16)]
        fresh = [p for p in pieces if len(p) >= 6 and p not in self._secrets]
        if fresh:
            self._secrets = sorted([*self._secrets, *fresh], key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(_replacement, text)
        return text


def _replacement(match: re.Match[str]) -> str:
    if match.lastindex:
        return match.group(1) + REDACTED
    return REDACTED
