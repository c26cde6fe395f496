"""The last step of the manifest flow: trade the one-time code for the new app's credentials, and keep them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from bot.cli.appsetup.envfile import update_env, write_private
from bot.cli.appsetup.manifest import is_public

API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
               "User-Agent": "issuesmith-setup"}
OURS = ("ISSUESMITH_APP_ID", "ISSUESMITH_PRIVATE_KEY_PATH", "ISSUESMITH_WEBHOOK_SECRET", "ISSUESMITH_GITHUB_API_URL")
REPLACED = ("ISSUESMITH_PRIVATE_KEY",)
"""Settings that would contradict the new ones (a key given inline as well as by path is refused)."""


class ExchangeError(Exception):
    """GitHub did not hand over the app: the code was unknown, used or expired, or the answer was not an app."""


@dataclass(frozen=True)
class NewApp:
    """The app GitHub created, with its credentials (never printed)."""

    id: int
    slug: str
    html_url: str
    pem: str
    webhook_secret: str

    @property
    def install_url(self) -> str:
        """Where to install the app on accounts and repositories."""
        return f"{self.html_url.rstrip('/')}/installations/new"


def convert(api_url: str, code: str, timeout: float = 30.0) -> NewApp:
    """`POST {api}/app-manifests/{code}/conversions` (unauthenticated) and check the answer."""
    url = f"{api_url.rstrip('/')}/app-manifests/{quote(code, safe='')}/conversions"
    try:
        response = httpx.post(url, headers=API_HEADERS, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ExchangeError(f"GitHub at {api_url} could not be reached: {type(exc).__name__}") from exc
    if response.status_code == 404:
        raise ExchangeError("GitHub does not know this code: it was used already or expired (codes last an hour); "
                            "start again from the setup page")
    if response.status_code != 201:
        raise ExchangeError(f"GitHub answered {response.status_code} to the code exchange")
    try:
        data: Any = response.json()
        app = NewApp(int(data["id"]), str(data["slug"]), str(data["html_url"]), str(data["pem"]),
                     str(data["webhook_secret"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ExchangeError("GitHub's answer to the code exchange is not an app with its credentials") from exc
    if data["webhook_secret"] is None or "PRIVATE KEY" not in app.pem:
        raise ExchangeError("GitHub's answer lacks the webhook secret or the private key")
    return app


def save(app: NewApp, api_url: str, env_file: Path, key_file: Path) -> None:
    """Write the key (0600) and merge the app's settings into `env_file` (0600), keeping everything else there."""
    write_private(key_file, app.pem)
    values = {"ISSUESMITH_APP_ID": str(app.id), "ISSUESMITH_PRIVATE_KEY_PATH": str(key_file.resolve()),
              "ISSUESMITH_WEBHOOK_SECRET": app.webhook_secret}
    remove = list(REPLACED)
    if is_public(api_url):
        remove.append("ISSUESMITH_GITHUB_API_URL")
    else:
        values["ISSUESMITH_GITHUB_API_URL"] = api_url.rstrip("/")
    update_env(env_file, values, remove)
