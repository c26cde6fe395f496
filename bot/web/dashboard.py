"""The runs page: `GET /runs` (recent runs) and `GET /runs/<id>` (one run), behind a token.

Mounted by `bot.web.app.create_app` only when `ISSUESMITH_DASHBOARD_TOKEN` is set; otherwise the
routes do not exist (404). `/runs` shows 100 runs a page, newest first, read from the run index
(`bot.runs.runindex`): `?before=<cursor>` is the page of runs older than the cursor; never all runs.
With it on, a request must carry the token, as `Authorization: Bearer <token>` or in the session
cookie that `?token=<token>` sets once (answered with a redirect to the same page without the token,
so it does not stay in the address bar or history). Anything else is a 401. Comparisons are
constant-time and on bytes (a value with any characters is just wrong, never an error); the cookie
holds an HMAC of the token, not the token, and is `Secure` (sent over https only), whatever scheme
the app itself sees, as behind a TLS-terminating proxy, unless
`ISSUESMITH_DASHBOARD_INSECURE_COOKIE=1` turns that off for plain-http local use. Pages are
read-only and read Redis only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Any, cast
from urllib.parse import urlencode

import orjson
import redis
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import SecretStr

from bot.runs.journal import RedisJournal
from bot.runs.model import Run
from bot.runs.runindex import Cursor
from bot.runs.store import PREFIX, PlanRecord, RunStore
from bot.runs.timeline import spans
from bot.web import runpage

COOKIE = "issuesmith_dashboard"
RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
LIST_LIMIT = 100
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Access:
    """Decides whether a request may see the runs page."""

    def __init__(self, token: str, secure_cookie: bool = True) -> None:
        """`secure_cookie`: mark the session cookie `Secure` (off only for plain-http local use)."""
        if not token:
            raise ValueError("the runs page needs a non-empty token")
        self._token = token.encode()
        self._secure = secure_cookie
        self.cookie = hmac.new(self._token, b"issuesmith runs page session", hashlib.sha256).hexdigest()

    def _matches(self, given: str) -> bool:
        return hmac.compare_digest(_bytes(given), self._token)

    def check(self, request: Request) -> Response | None:
        """None when allowed; else the answer to send (401, or the redirect that sets the cookie)."""
        query_token = request.query_params.get("token")
        if query_token is not None:
            if not self._matches(query_token):
                return _denied()
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            redirect = RedirectResponse(target, status_code=303, headers=HEADERS)
            redirect.set_cookie(COOKIE, self.cookie, httponly=True, samesite="strict", path="/runs",
                                secure=self._secure, max_age=7 * 24 * 3600)
            return redirect
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return None if self._matches(credentials.strip()) else _denied()
        cookie = request.cookies.get(COOKIE, "")
        if cookie and hmac.compare_digest(_bytes(cookie), self.cookie.encode()):
            return None
        return _denied()


def _bytes(text: str) -> bytes:
    """A request value as bytes for `hmac.compare_digest` (which refuses non-ASCII `str`)."""
    return text.encode("utf-8", "replace")


def _denied() -> Response:
    body = runpage.document("issuesmith: token needed", "<h1>401: this page needs the dashboard token</h1>"
                            "<p>Open it once with <code>?token=…</code> (the value of ISSUESMITH_DASHBOARD_TOKEN), "
                            "or send <code>Authorization: Bearer …</code>.</p>")
    return HTMLResponse(body, status_code=401, headers={**HEADERS, "WWW-Authenticate": 'Bearer realm="issuesmith"'})


def _page(text: str) -> Response:
    return HTMLResponse(text, headers=HEADERS)


def _bad_cursor() -> Response:
    return HTMLResponse(runpage.document("issuesmith: no such page", "<h1>400: not a page of runs</h1>"
                                         '<p><a href="/runs">Newest runs</a></p>'), status_code=400, headers=HEADERS)


def _not_found() -> Response:
    return HTMLResponse(runpage.document("issuesmith: no such run", "<h1>404: no such run</h1>"
                                         '<p><a href="/runs">All runs</a></p>'), status_code=404, headers=HEADERS)


def summaries(store: RunStore, runs: list[Run]) -> list[runpage.RunSummary]:
    """Usage and pull request of each run, read in one round trip."""
    pipe = store.redis.pipeline(transaction=False)
    for run in runs:
        pipe.hgetall(f"{PREFIX}:run:{run.id}:usage")
        pipe.hget(RedisJournal.key(run.id), "publish")
    replies = pipe.execute()
    out = []
    for index, run in enumerate(runs):
        usage = cast(dict[str, str], replies[2 * index] or {})
        publish = _publish(replies[2 * index + 1])
        number = publish.get("number")
        out.append(runpage.RunSummary(
            run, cost_usd=float(usage.get("cost_usd", 0) or 0),
            tokens=int(float(usage.get("prompt_tokens", 0) or 0) + float(usage.get("completion_tokens", 0) or 0)),
            calls=int(float(usage.get("calls", 0) or 0)), pull_url=str(publish.get("url", "") or ""),
            pull_number=number if isinstance(number, int) else None))
    return out


def _publish(raw: Any) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def detail(store: RunStore, run: Run) -> runpage.RunDetail:
    """Everything one run's page shows."""
    entries = store.entries(run.id)
    plans = [p for p in (store.plan(run.id, v) for v in range(1, run.plan_version + 1)) if p is not None]
    return runpage.RunDetail(summaries(store, [run])[0], spans(entries, active=run.active), entries,
                             cast(list[PlanRecord], plans))


def mount(api: FastAPI, token: SecretStr, client: redis.Redis, secure_cookie: bool = True) -> None:
    """Add `/runs` and `/runs/{run_id}` to `api`; `client` must decode replies (`decode_responses=True`);
    `secure_cookie`: see `Access`."""
    access = Access(token.get_secret_value(), secure_cookie)
    store = RunStore(client)

    @api.get("/runs", include_in_schema=False)
    def runs_list(request: Request) -> Response:
        denied = access.check(request)
        if denied is not None:
            return denied
        raw = request.query_params.get("before")
        before = Cursor.parse(raw) if raw is not None else None
        if raw is not None and before is None:
            return _bad_cursor()
        runs, following = store.page(before, LIST_LIMIT)
        return _page(runpage.runs_list(summaries(store, runs), time.time(), older=following, first=before is None))

    @api.get("/runs/{run_id}", include_in_schema=False)
    def run_detail(request: Request, run_id: str) -> Response:
        denied = access.check(request)
        if denied is not None:
            return denied
        run = store.get(run_id) if RUN_ID.fullmatch(run_id) else None
        if run is None:
            return _not_found()
        return _page(runpage.run_page(detail(store, run), time.time()))
