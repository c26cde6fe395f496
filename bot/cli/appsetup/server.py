"""The local pages of `issuesmith setup`: a form posting the manifest to GitHub, and the callback it redirects to.

`GET /` shows the form (the manifest as a hidden field, posted to GitHub's "new GitHub App"
page with a random `state`). GitHub creates the app and redirects the browser to
`GET /callback?code=...&state=...`: a wrong or missing `state` is refused with 400 and writes
nothing (a forged redirect cannot plant an app of someone else's); otherwise the code is
exchanged, the credentials are saved, and the page links to the app's installation page.
The server serves until one registration succeeded.
"""

from __future__ import annotations

import html
import json
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.cli.appsetup.exchange import ExchangeError, NewApp

log = logging.getLogger("issuesmith.setup")
CALLBACK = "/callback"


@dataclass
class Flow:
    """One registration: where the form goes, what it carries, and what to do with the code."""

    form_action: str
    manifest: dict[str, Any]
    state: str
    finish: Callable[[str], NewApp]
    """Exchanges the code and saves the credentials; raises ExchangeError."""
    result: NewApp | None = None


def new_state() -> str:
    """A random, unguessable `state` for one registration."""
    return secrets.token_urlsafe(24)


def _page(title: str, body: str) -> bytes:
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>").encode()


def form_page(flow: Flow) -> bytes:
    """The start page: what will be registered, and the button that posts the manifest to GitHub."""
    events = ", ".join(flow.manifest.get("default_events") or []) or "none"
    permissions = ", ".join(f"{k}: {v}" for k, v in sorted((flow.manifest.get("default_permissions") or {}).items()))
    hook = (flow.manifest.get("hook_attributes") or {}).get("url", "")
    body = (
        f"<p>This registers the GitHub App <b>{html.escape(str(flow.manifest.get('name', '')))}</b> from "
        f"<code>app.yml</code>: webhook <code>{html.escape(hook)}</code>; events {html.escape(events)}; "
        f"permissions {html.escape(permissions)}.</p>"
        f"<form action=\"{html.escape(flow.form_action)}\" method=\"post\">"
        f"<input type=\"hidden\" name=\"manifest\" value=\"{html.escape(json.dumps(flow.manifest))}\">"
        "<button type=\"submit\">Register GitHub App</button></form>")
    return _page("Register issuesmith on GitHub", body)


class SetupServer(ThreadingHTTPServer):
    """Serves the flow's two pages on a local port; `done` is set once the app is registered and saved."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], flow: Flow) -> None:
        super().__init__(address, _Handler)
        self.flow = flow
        self.done = threading.Event()
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: SetupServer

    def log_message(self, format: str, *args: Any) -> None:  # the query carries the code: keep it out of logs
        return

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        flow = self.server.flow
        if url.path == "/":
            self._send(200, form_page(flow))
            return
        if url.path != CALLBACK:
            self._send(404, _page("Not found", ""))
            return
        query = parse_qs(url.query)
        state, code = query.get("state", [""])[0], query.get("code", [""])[0]
        if not secrets.compare_digest(state.encode(), flow.state.encode()):
            self._send(400, _page("Refused", "<p>This answer does not belong to the registration started here "
                                            "(its <code>state</code> does not match). Nothing was written.</p>"))
            return
        if not code:
            self._send(400, _page("Refused", "<p>GitHub's redirect carries no code. Nothing was written.</p>"))
            return
        with self.server.lock:
            if flow.result is None:
                try:
                    flow.result = flow.finish(code)
                except ExchangeError as exc:
                    self._send(502, _page("Registration not completed",
                                          f"<p>{html.escape(str(exc))}</p><p><a href=\"/\">Start again</a></p>"))
                    return
        app = flow.result
        assert app is not None
        self._send(200, _page("GitHub App registered", (
            f"<p>The app <b>{html.escape(app.slug)}</b> (id {app.id}) is registered and its settings are saved.</p>"
            f"<p>Next: <a href=\"{html.escape(app.install_url)}\">install it</a> on your repositories.</p>")))
        self.server.done.set()
