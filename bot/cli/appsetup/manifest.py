"""The GitHub App manifest that `issuesmith setup` sends: `app.yml`, pointed at this deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import yaml

PUBLIC_WEB = "https://github.com"
PUBLIC_API = "https://api.github.com"


def api_url_for(github_url: str) -> str:
    """The REST API base of a GitHub: api.github.com for github.com, else `{url}/api/v3` (Enterprise Server)."""
    web = github_url.rstrip("/")
    host = (urlsplit(web).hostname or "").lower()
    if host in ("github.com", "www.github.com"):
        return PUBLIC_API
    return f"{web}/api/v3"


def is_public(api_url: str) -> bool:
    """Whether an API base is github.com's own."""
    return api_url.rstrip("/") == PUBLIC_API


def new_app_url(github_url: str, state: str, org: str | None = None) -> str:
    """Where the manifest form is posted: the user's (or the org's) "new GitHub App" page, with `state`."""
    web = github_url.rstrip("/")
    page = f"/organizations/{org}/settings/apps/new" if org else "/settings/apps/new"
    return f"{web}{page}?{urlencode({'state': state})}"


def load_manifest(path: Path, *, webhook_url: str, redirect_url: str, name: str | None = None) -> dict[str, Any]:
    """`app.yml` as a manifest, with this deployment's webhook URL, the local redirect and (optionally) a name.

    The events and permissions are `app.yml`'s, unchanged.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a GitHub App manifest (a YAML mapping)")
    manifest = dict(data)
    hook = dict(manifest.get("hook_attributes") or {})
    hook["url"] = webhook_url
    hook.setdefault("active", True)
    manifest["hook_attributes"] = hook
    manifest["redirect_url"] = redirect_url
    if name:
        manifest["name"] = name
    return manifest
