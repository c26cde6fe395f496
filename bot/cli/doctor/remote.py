"""Doctor checks over the network: the GitHub App (JWT, installations) and the model endpoint.

Each client is built here with a short timeout and no retries, so that a dead or slow service
is reported within seconds rather than waited out.
"""

from __future__ import annotations

import math
import socket
import ssl
from collections.abc import Iterator
from itertools import islice
from typing import Any

import github
import httpx
import openai
import requests
from github import Auth

from bot.cli.doctor.config import APP_ID, KEY_PAGE, KEY_PATH, AppKey
from bot.cli.doctor.result import Check, fail, ok
from bot.config.settings import Settings
from bot.core.errors import ConfigError
from bot.models.replay import ReplayModel

PUBLIC_OPENAI = "https://api.openai.com/v1"
SHOWN_INSTALLATIONS = 5
LISTED_INSTALLATIONS = 100


def unreachable(exc: BaseException, timeout: float) -> str:
    """Why a connection failed, in words: refused, DNS, timeout, TLS, or the error itself."""
    for cause in _chain(exc):
        if isinstance(cause, socket.gaierror):
            return "its host name does not resolve (DNS)"
        if isinstance(cause, ConnectionRefusedError):
            return "the connection was refused (nothing listens there)"
        if isinstance(cause, TimeoutError | requests.Timeout | httpx.TimeoutException | openai.APITimeoutError):
            return f"no answer within {timeout:g} s"
        if isinstance(cause, ssl.SSLError):
            return f"the TLS handshake failed ({cause.reason or cause})"
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and contexts, and the `reason`s urllib3 wraps errors in."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None),
                  *(a for a in current.args if isinstance(a, BaseException))]
        todo += [e for e in linked if isinstance(e, BaseException)]


# ------------------------------------------------------------------------------------------ GitHub


def check_github(settings: Settings, key: AppKey, timeout: float) -> list[Check]:
    """The API answers, accepts the app's JWT (GET /app), and lists at least one installation."""
    url = settings.github_api_url
    integration = github.GithubIntegration(
        auth=Auth.AppAuth(key.app_id, key.pem), base_url=url, timeout=max(1, math.ceil(timeout)), retry=0,
        seconds_between_requests=None, seconds_between_writes=None)
    try:
        app = integration.get_app()
    except github.GithubException as exc:
        refused = _refused_jwt(url, key.app_id, exc)
        return [Check(refused.name, refused.status, refused.detail, refused.fix, ("installations not checked",))]
    except requests.RequestException as exc:
        return [fail("GitHub API", f"GitHub API at {url} cannot be reached: {unreachable(exc, timeout)}",
                     "check ISSUESMITH_GITHUB_API_URL (https://api.github.com, or https://HOST/api/v3 for GitHub "
                     "Enterprise Server) and that this machine can reach it (network, proxy, firewall)",
                     "installations not checked")]
    first = ok("GitHub API", f"{url} accepted the JWT of app {app.slug!r} (id {app.id})")
    return [first, _installations(integration, app, timeout)]


def _refused_jwt(url: str, app_id: int, exc: github.GithubException) -> Check:
    said = _github_message(exc)
    head = f"GitHub API at {url} answered {exc.status}"
    if exc.status == 401 and ("'iat'" in said or "'exp'" in said):
        return fail("GitHub API", f"{head}: the JWT's times were refused ({said})",
                    "this machine's clock is off: synchronise it (NTP, e.g. `timedatectl set-ntp true`)")
    if exc.status == 401:
        return fail("GitHub API", f"{head}: the JWT was refused — the private key does not match app id {app_id} "
                                  f"(GitHub says: {said})",
                    f"download a new private key from {KEY_PAGE} and point {KEY_PATH} at it; check that "
                    f"{APP_ID} is the App ID shown on that page")
    if exc.status == 404:
        return fail("GitHub API", f"{head}: there is no GitHub App with id {app_id} (GitHub says: {said})",
                    f"set {APP_ID} to the App ID shown on {KEY_PAGE} (not the client ID or an installation id)")
    return fail("GitHub API", f"{head}: {said}",
                "check ISSUESMITH_GITHUB_API_URL; if GitHub is having an outage, try again later")


def _github_message(exc: github.GithubException) -> str:
    data = exc.data
    message = data.get("message") if isinstance(data, dict) else data
    return str(message or "no message")[:300]


def _installations(integration: github.GithubIntegration, app: Any, timeout: float) -> Check:
    try:
        installs = list(islice(integration.get_installations(), LISTED_INSTALLATIONS))
    except github.GithubException as exc:
        return fail("installations", f"listing the installations failed: {exc.status} {_github_message(exc)}",
                    "try again; if it persists, check the app's settings page")
    except requests.RequestException as exc:
        return fail("installations", f"listing the installations failed: {unreachable(exc, timeout)}",
                    "check the network between this machine and GitHub")
    if not installs:
        return fail("installations", f"app {app.slug!r} is not installed on any account",
                    f"install it from {app.html_url}/installations/new on the accounts (or repositories) it "
                    "should work on")
    lines = [f"{i.account.login} (installation {i.id}, {i.repository_selection} repositories)" for i in installs]
    more = len(lines) - SHOWN_INSTALLATIONS
    notes = lines[SHOWN_INSTALLATIONS:] if more > 0 else []
    shown = ", ".join(lines[:SHOWN_INSTALLATIONS]) + (f" and {more} more" if more > 0 else "")
    return ok("installations", f"installed on {len(installs)} account(s): {shown}", *notes)


# ------------------------------------------------------------------------------------------ model


def check_model(settings: Settings, timeout: float) -> Check:
    """The model endpoint answers (GET /models/{model}) and the configured model exists there.

    With the replay provider there is no endpoint: the transcript must load instead.
    """
    if settings.model_provider == "replay":
        return _transcript(settings)
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    if key is None and settings.openai_base_url is None:
        return fail("model", "no model endpoint configured: OPENAI_API_KEY is not set",
                    "set OPENAI_API_KEY (and OPENAI_BASE_URL for another OpenAI-compatible endpoint)")
    base = settings.openai_base_url or PUBLIC_OPENAI
    client = openai.OpenAI(api_key=key or "unused", base_url=base, timeout=timeout, max_retries=0)
    try:
        with client:
            return _model_exists(client, base, settings.model, timeout)
    except openai.APIConnectionError as exc:
        return fail("model", f"the model endpoint at {base} cannot be reached: {unreachable(exc, timeout)}",
                    "check OPENAI_BASE_URL (unset for OpenAI itself) and that the endpoint is running and reachable")
    except openai.APIStatusError as exc:
        return _model_refused(base, exc)


def _transcript(settings: Settings) -> Check:
    if settings.replay_transcript is None:
        return fail("model", "ISSUESMITH_MODEL_PROVIDER=replay, but no transcript is named",
                    "set ISSUESMITH_REPLAY_TRANSCRIPT to a transcript file (see bot/models/replay.py)")
    try:
        replies = ReplayModel.from_file(settings.replay_transcript).remaining()
    except ConfigError as exc:
        return fail("model", str(exc), "record a transcript with ISSUESMITH_RECORD_TRANSCRIPT or fix the file")
    counts = ", ".join(f"{agent} {n}" for agent, n in sorted(replies.items()))
    return ok("model", f"replaying {settings.replay_transcript} (replies: {counts or 'none'})")


def _model_exists(client: openai.OpenAI, base: str, model: str, timeout: float) -> Check:
    try:
        found = client.models.retrieve(model)
    except openai.NotFoundError as missing:
        return _model_in_list(client, base, model, missing)
    return ok("model", f"{base} answers; model {found.id!r} exists (owned by {found.owned_by})")


def _model_in_list(client: openai.OpenAI, base: str, model: str, missing: openai.NotFoundError) -> Check:
    """After a 404 for the model: does the list have it (an endpoint without GET /models/{id})?"""
    try:
        available = [m.id for m in client.models.list()]
    except openai.APIError:
        available = []
    if model in available:
        return ok("model", f"{base} answers; model {model!r} is in its model list",
                  "the endpoint does not serve GET /models/{model}; found through GET /models")
    offer = f"one of: {', '.join(available[:20])}" if available else "a model the endpoint serves"
    return fail("model", f"model {model!r} does not exist at {base} (404: {_api_message(missing)})",
                f"set ISSUESMITH_MODEL to {offer}")


def _model_refused(base: str, exc: openai.APIStatusError) -> Check:
    said = _api_message(exc)
    head = f"the model endpoint at {base} answered {exc.status_code}"
    if exc.status_code == 401:
        return fail("model", f"{head}: the API key was refused ({said})",
                    "set OPENAI_API_KEY to a valid key for this endpoint")
    if exc.status_code == 403:
        return fail("model", f"{head}: the key may not use this model or endpoint ({said})",
                    "give the key's project access to the model, or choose another ISSUESMITH_MODEL")
    return fail("model", f"{head}: {said}", "check OPENAI_BASE_URL; if the service is having an outage, try later")


def _api_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
    return str(exc.message)[:300]
