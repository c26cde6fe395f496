"""Reaching Redis: one clear error when it refuses the password or does not answer, without the password.

`ISSUESMITH_REDIS_URL` carries the password (`redis://:PASSWORD@HOST:6379/0`, or `rediss://` for
TLS); redis-py's `from_url` takes both schemes as they are. The worker and the web app check the
connection once at start, so a wrong or missing password stops them with a sentence that says
what to fix instead of a traceback from the first job. Addresses are shown with the password
replaced by `***`.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis

from bot.core.errors import ConfigError

PASSWORD_FORM = "redis://:PASSWORD@HOST:6379/DB (rediss:// for TLS)"


def shown_url(url: str) -> str:
    """A Redis URL fit to print: any password replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unparseable URL)"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def ensure_reachable(client: redis.Redis, url: str) -> None:
    """PING Redis through `client`; a `ConfigError` saying what to fix when it refuses us or does not answer."""
    where = shown_url(url)
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        has_password = urlsplit(url).password is not None
        what = "refused the password in ISSUESMITH_REDIS_URL" if has_password else "requires a password"
        raise ConfigError(f"Redis at {where} {what} ({exc})",
                          hint=f"put Redis's password (its `requirepass`) in ISSUESMITH_REDIS_URL: {PASSWORD_FORM}"
                          ) from None
    except redis.ResponseError as exc:
        raise ConfigError(f"Redis at {where} answered with an error: {exc}",
                          hint=f"check ISSUESMITH_REDIS_URL: {PASSWORD_FORM}") from None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise ConfigError(f"Redis at {where} does not answer ({type(exc).__name__}: {exc})",
                          hint="start Redis or correct the host and port in ISSUESMITH_REDIS_URL") from None
