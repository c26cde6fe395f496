"""GitHub's app-manifest flow in the stand-in: the "new GitHub App" page and the code exchange.

GitHub documents the flow in three steps (docs.github.com, "Registering a GitHub App from a
manifest"):

1. a page of yours POSTs a form with one field, `manifest` (the app's settings as JSON), to
   `{web}/settings/apps/new?state=...` (or `/organizations/{org}/settings/apps/new`);
2. GitHub creates the app and redirects the browser to the manifest's `redirect_url` with a
   temporary `code` and the same `state`;
3. your server exchanges the code, within one hour and once only, with
   `POST {api}/app-manifests/{code}/conversions` (no authentication) for the app's id, slug,
   private key (`pem`), webhook secret and OAuth client credentials.

The stand-in does the same, with two differences it owns up to: there is no signed-in browser
session, so a personal app belongs to `web_login` (an org's app to the org), and GitHub's
confirmation page between the form post and the redirect (where the person may rename the
app and clicks "Create GitHub App") is skipped. The manifest is validated as GitHub documents
it; a refused one gets a 422 page and creates nothing. The new app is a real app of the
stand-in (JWTs signed with the returned key are accepted) and, when the stand-in has no
webhook target yet, its webhook URL and secret become that target.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from standins.github_errors import ApiError, not_found
from standins.github_keys import generate_app_key
from standins.github_render import Json

if TYPE_CHECKING:
    from standins.github_core import Core

CODE_SECONDS = 3600
"""A manifest code must be exchanged within an hour, as on GitHub."""
PAGE = re.compile(r"(?:/organizations/(?P<org>[^/]+))?/settings/apps/new/?")
LEVELS = {"read", "write", "admin"}
EVENT_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "issues": ("issues",),
    "issue_comment": ("issues", "pull_requests"),
    "label": ("issues", "pull_requests"),
    "milestone": ("issues", "pull_requests"),
    "pull_request": ("pull_requests",),
    "pull_request_review": ("pull_requests",),
    "pull_request_review_comment": ("pull_requests",),
    "pull_request_review_thread": ("pull_requests",),
    "push": ("contents",),
    "create": ("contents",),
    "delete": ("contents",),
    "release": ("contents",),
    "commit_comment": ("contents",),
    "repository": ("metadata",),
    "public": ("metadata",),
    "star": ("metadata",),
    "watch": ("metadata",),
    "check_run": ("checks",),
    "check_suite": ("checks",),
    "status": ("statuses",),
    "workflow_run": ("actions",),
}
"""Events an app may subscribe to, each with the permissions (any one) GitHub requires for it."""
MAX_NAME = 34


@dataclass
class PendingCode:
    """A manifest code not yet exchanged: what the conversion will hand over."""

    app_id: int
    pem: str
    webhook_secret: str | None
    client_secret: str
    expires_at: float


@dataclass(frozen=True)
class ManifestApp:
    """An app created through the manifest flow, as tests inspect it."""

    id: int
    slug: str
    owner: str
    public_key_pem: str
    webhook_url: str | None
    webhook_secret: str | None
    redirect_url: str
    manifest: dict[str, Any]


class ManifestError(Exception):
    """A manifest GitHub would refuse; the message is what its page says."""


def slug_of(name: str) -> str:
    """GitHub's slug of an app name: lower case, runs of other characters made one `-`."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _url(value: Any, what: str) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
        raise ManifestError(f"{what} must be an http(s) URL")
    return value


def validate(manifest: Any) -> dict[str, Any]:
    """The manifest, checked as GitHub documents its parameters; raises ManifestError."""
    if not isinstance(manifest, dict):
        raise ManifestError("the manifest must be a JSON object")
    name = manifest.get("name")
    if not isinstance(name, str) or not name.strip() or not slug_of(name):
        raise ManifestError("Name can't be blank")
    if len(name) > MAX_NAME:
        raise ManifestError(f"Name is too long (maximum is {MAX_NAME} characters)")
    _url(manifest.get("url"), "url (the homepage)")
    _url(manifest.get("redirect_url"), "redirect_url")
    hook = manifest.get("hook_attributes")
    if hook is not None:
        if not isinstance(hook, dict):
            raise ManifestError("hook_attributes must be an object")
        _url(hook.get("url"), "hook_attributes.url")
        if not isinstance(hook.get("active", True), bool):
            raise ManifestError("hook_attributes.active must be a boolean")
    if not isinstance(manifest.get("public", False), bool):
        raise ManifestError("public must be a boolean")
    permissions = manifest.get("default_permissions") or {}
    if not isinstance(permissions, dict) or not all(
            isinstance(k, str) and re.fullmatch(r"[a-z_]+", k) and v in LEVELS for k, v in permissions.items()):
        raise ManifestError("default_permissions must map permission names to read, write or admin")
    events = manifest.get("default_events") or []
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise ManifestError("default_events must be a list of event names")
    unknown = [e for e in events if e not in EVENT_PERMISSIONS]
    if unknown:
        raise ManifestError(f"Default events unsupported: {', '.join(unknown)}")
    uncovered = [e for e in events if not any(p in permissions for p in EVENT_PERMISSIONS[e])]
    if uncovered:
        raise ManifestError("Default events are not supported by permissions: " + ", ".join(uncovered))
    if hook is not None and hook.get("active", True) is False and events:
        raise ManifestError("Default events need an active webhook")
    return manifest


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class Manifests:
    """Apps made from manifests, and the one-time codes that hand over their credentials."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.web_login = "octocat"
        self.pending: dict[str, PendingCode] = {}
        self.created: list[ManifestApp] = []

    def create(self, manifest: Any, state: str | None, org: str | None) -> str:
        """Create the app a manifest describes; return where GitHub redirects the browser."""
        data = validate(manifest)
        slug = slug_of(data["name"])
        private_pem, public_pem = generate_app_key()
        hook = data.get("hook_attributes") or {}
        webhook_secret = secrets.token_hex(20) if hook else None
        code = secrets.token_hex(10)
        with self.core.lock:
            if any(app.slug == slug for app in self.core.state.apps.values()):
                raise ManifestError("Name is already in use")
            if org is not None:
                owner = self.core.state.ensure_user(org, "Organization").login
            else:
                owner = self.core.state.ensure_user(self.web_login).login
            app_id = max([*self.core.state.apps, 0]) + 1
            permissions = dict(data.get("default_permissions") or {})
            permissions.setdefault("metadata", "read")
            events = list(data.get("default_events") or [])
            target = self.core.hooks.target_id
            app = self.core.add_app(app_id, public_pem, slug, owner, permissions, events)
            app.name, app.events = data["name"], events
            if hook and hook.get("active", True) and self.core.hooks.url is None:
                self.core.hooks.configure(hook["url"], webhook_secret or "", None)
            else:  # the deliveries keep going to the app they went to
                self.core.hooks.target_id = target or app_id
            self.pending[code] = PendingCode(app_id, private_pem, webhook_secret, secrets.token_hex(20),
                                             time.time() + CODE_SECONDS)
            self.created.append(ManifestApp(app_id, slug, owner, public_pem, hook.get("url"), webhook_secret,
                                            data["redirect_url"], data))
        params = {"code": code, **({"state": state} if state is not None else {})}
        return _with_query(data["redirect_url"], **params)

    def convert(self, code: str) -> Json:
        """`POST /app-manifests/{code}/conversions`: the app with its credentials, once per code."""
        with self.core.lock:
            pending = self.pending.pop(code, None)
            if pending is None or pending.expires_at <= time.time():
                raise not_found()
            app = self.core.state.apps.get(pending.app_id)
            if app is None:
                raise ApiError(422, "The app no longer exists")
            data = self.core.render.app(app)
        data.update({"client_id": app.client_id, "client_secret": pending.client_secret,
                     "webhook_secret": pending.webhook_secret, "pem": pending.pem})
        return data

    # ------------------------------------------------------------ the web page

    def page(self, method: str, org: str | None, query: str, form_body: bytes) -> tuple[int, dict[str, str], str]:
        """The "new GitHub App" page: (status, headers, HTML)."""
        if method == "GET":
            return 200, {}, _html("Register new GitHub App",
                                  "<p>Post a <code>manifest</code> form field here to register an app from it.</p>")
        if method != "POST":
            return 405, {"Allow": "GET, POST"}, _html("Method not allowed", "")
        state = parse_qs(query).get("state", [None])[0]
        fields = parse_qs(form_body.decode("utf-8", "replace"))
        raw = fields.get("manifest", [None])[0]
        try:
            if raw is None:
                raise ManifestError("the form has no manifest field")
            try:
                manifest = json.loads(raw)
            except ValueError as exc:
                raise ManifestError("the manifest is not valid JSON") from exc
            location = self.create(manifest, state, org)
        except ManifestError as exc:
            return 422, {}, _html("Invalid GitHub App configuration", f"<p>{html.escape(str(exc))}</p>")
        return 302, {"Location": location}, ""


def _html(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>")
