"""`issuesmith setup` against the GitHub stand-in, driven as a person with a browser would drive it.

The command serves its page on a free port; the test GETs it, submits its form exactly as a
browser would (the form's action, method and fields) to the stand-in's "new GitHub App" page,
follows the redirect back to the local callback, and then checks what was written: `.env` and
the key file (0600, other lines kept), a key that belongs to the app the stand-in created, and
credentials that really work (`Settings` from that `.env`, `bot.github.client.GitHubApp` minting an
installation token). Also: a forged `state` is refused and writes nothing, a code works once,
the manifest sent is `app.yml`'s, and a GHES-style `--github-url` yields `{url}/api/v3`.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from bot.cli.appsetup import main
from bot.config.settings import Settings
from bot.core.redact import Redactor
from bot.github.client import GitHubApp
from standins.github import FakeGitHub
from standins.server import ServerThread
from tests.contracts.openapi import github_contract

ROOT = Path(__file__).resolve().parents[2]
APP_YML = ROOT / "app.yml"
WEBHOOK_URL = "https://issuesmith.acme.test/webhook"


@dataclass
class Form:
    """The first form of a page, as a browser sees it."""

    action: str = ""
    method: str = "get"
    fields: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.form: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form" and self.form is None:
            self.form = Form(values.get("action", ""), values.get("method", "get").lower())
        elif tag == "input" and self.form is not None and "name" in values:
            self.form.fields[values["name"]] = values.get("value", "")


def first_form(page: str) -> Form:
    parser = _FormParser()
    parser.feed(page)
    assert parser.form is not None, "the page has no form"
    return parser.form


class Setup:
    """`issuesmith setup` running in a thread, with its output."""

    def __init__(self, *args: str) -> None:
        self.out = io.StringIO()
        self.rc: int | None = None
        self.thread = threading.Thread(target=self._run, args=(list(args),), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while (match := re.search(r"Open (http://\S+/) ", self.out.getvalue())) is None:
            assert time.monotonic() < deadline and self.thread.is_alive(), self.out.getvalue()
            time.sleep(0.02)
        self.url = match.group(1)

    def _run(self, args: list[str]) -> None:
        self.rc = main(args, out=self.out, open_browser=lambda url: pytest.fail("--no-browser opened a browser"))

    def wait(self) -> int:
        self.thread.join(15)
        assert self.rc is not None, "issuesmith setup did not finish"
        return self.rc


@pytest.fixture
def github(tmp_path: Path) -> Iterator[FakeGitHub]:
    gh = FakeGitHub(tmp_path / "github")
    server = ServerThread(gh.app).start()
    gh.bind(server.url)
    yield gh
    server.stop()
    gh.close()


def start(github: FakeGitHub, tmp_path: Path, *extra: str) -> Setup:
    return Setup("--github-url", github.base_url, "--webhook-url", WEBHOOK_URL, "--manifest", str(APP_YML),
                 "--env-file", str(tmp_path / ".env"), "--port", "0", "--no-browser", "--timeout", "20", *extra)


def register(browser: httpx.Client, setup: Setup) -> httpx.Response:
    """What the browser does: load the page, submit its form, land on the redirect GitHub answers."""
    page = browser.get(setup.url)
    assert page.status_code == 200
    form = first_form(page.text)
    assert form.method == "post"
    created = browser.post(urljoin(setup.url, form.action), data=form.fields)
    assert created.status_code == 302, created.text
    return created


def env_lines(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and line[0] != "#")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_setup_registers_the_app_and_its_credentials_work(github: FakeGitHub, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text("# mine\nOPENAI_API_KEY=sk-keep-this\nISSUESMITH_WEBHOOK_SECRET=an-old-secret-value\n"
                   "ISSUESMITH_PRIVATE_KEY=an-inline-key-that-would-clash\nISSUESMITH_MODEL=gpt-4o\n")
    setup = start(github, tmp_path)
    with httpx.Client() as browser:
        created = register(browser, setup)
        location = created.headers["location"]
        assert location.startswith(setup.url + "callback?")
        done = browser.get(location)
    assert done.status_code == 200, done.text
    assert setup.wait() == 0

    [app] = github.manifest_apps
    install = f"{github.base_url}/apps/{app.slug}/installations/new"
    assert install in done.text and install in setup.out.getvalue()

    # The manifest GitHub received is app.yml's, pointed at this deployment.
    spec = yaml.safe_load(APP_YML.read_text())
    assert app.manifest["default_events"] == spec["default_events"]
    assert app.manifest["default_permissions"] == spec["default_permissions"]
    assert app.manifest["name"] == spec["name"] and app.slug == "issuesmith"
    assert app.webhook_url == WEBHOOK_URL and app.manifest["hook_attributes"]["active"] is True
    assert app.redirect_url == setup.url + "callback"

    # What was written, and how.
    values = env_lines(env)
    key_file = tmp_path / "issuesmith.private-key.pem"
    assert mode(env) == 0o600 and mode(key_file) == 0o600
    assert values["ISSUESMITH_APP_ID"] == str(app.id)
    assert values["ISSUESMITH_PRIVATE_KEY_PATH"] == str(key_file)
    assert values["ISSUESMITH_WEBHOOK_SECRET"] == app.webhook_secret
    assert values["ISSUESMITH_GITHUB_API_URL"] == github.api_url  # a GHES-style host: {url}/api/v3
    assert "ISSUESMITH_PRIVATE_KEY" not in values  # would clash with the key path
    assert env.read_text().startswith("# mine\nOPENAI_API_KEY=sk-keep-this\n")
    assert values["ISSUESMITH_MODEL"] == "gpt-4o"
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert public == app.public_key_pem

    # Nothing secret on the terminal.
    printed = setup.out.getvalue()
    assert app.webhook_secret and app.webhook_secret not in printed
    assert "PRIVATE KEY" not in printed and key_file.read_text().splitlines()[1] not in printed

    # The credentials work: the settings load, the app's JWT is accepted, an installation token is minted.
    for name in [n for n in list(os.environ) if n.startswith(("ISSUESMITH_", "OPENAI_"))]:
        monkeypatch.delenv(name)
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.app_id == app.id and settings.github_api_url == github.api_url
    github.add_installation(4242, "acme", app_id=app.id)
    client = GitHubApp(settings.app_id, settings.app_private_key(), settings.github_api_url,
                       Redactor(settings.secrets()))
    assert client.bot_login() == f"{app.slug}[bot]"
    assert client.installation_token(4242).startswith("ghs_")

    # The code was good once.
    code = parse_qs(urlsplit(location).query)["code"][0]
    again = httpx.post(f"{github.api_url}/app-manifests/{code}/conversions")
    assert again.status_code == 404

    contract = github_contract()
    conversions = [ex for ex in github.exchanges if ex.path.startswith("/app-manifests/")]
    assert [ex.status for ex in conversions] == [201, 404]
    problems = []
    for ex in github.exchanges:
        problems += contract.check_request(ex.method, ex.path, ex.query, ex.request_json)
        problems += contract.check_response(ex.method, ex.path, ex.status, ex.response_json)
    assert problems == []


def test_a_forged_state_is_refused_and_writes_nothing(github: FakeGitHub, tmp_path: Path) -> None:
    setup = start(github, tmp_path, "--org", "acme", "--name", "Acme Smith")
    with httpx.Client() as browser:
        page = browser.get(setup.url)
        form = first_form(page.text)
        assert urlsplit(form.action).path == "/organizations/acme/settings/apps/new"
        created = browser.post(urljoin(setup.url, form.action), data=form.fields)
        query = parse_qs(urlsplit(created.headers["location"]).query)
        forged = browser.get(f"{setup.url}callback", params={"code": query["code"][0], "state": "someone-elses"})
        assert forged.status_code == 400
        assert not (tmp_path / ".env").exists() and not (tmp_path / "issuesmith.private-key.pem").exists()
        missing = browser.get(f"{setup.url}callback", params={"code": query["code"][0]})
        assert missing.status_code == 400
        # The registration started here still completes with its own state.
        done = browser.get(created.headers["location"])
    assert done.status_code == 200
    assert setup.wait() == 0
    [app] = github.manifest_apps
    assert (app.owner, app.slug) == ("acme", "acme-smith")
    assert env_lines(tmp_path / ".env")["ISSUESMITH_APP_ID"] == str(app.id)


def test_an_unanswered_setup_times_out_without_writing(github: FakeGitHub, tmp_path: Path) -> None:
    setup = Setup("--github-url", github.base_url, "--webhook-url", WEBHOOK_URL, "--manifest", str(APP_YML),
                  "--env-file", str(tmp_path / ".env"), "--port", "0", "--no-browser", "--timeout", "0.5")
    assert setup.wait() == 1
    assert "nothing was written" in setup.out.getvalue()
    assert not (tmp_path / ".env").exists()


@pytest.mark.parametrize(("change", "message"), [
    ({"url": None}, "url (the homepage) must be an http(s) URL"),
    ({"hook_attributes": {"active": True}}, "hook_attributes.url must be an http(s) URL"),
    ({"default_events": ["issues", "check_run"]}, "Default events are not supported by permissions: check_run"),
    ({"default_events": ["nonsense"]}, "Default events unsupported: nonsense"),
    ({"default_permissions": {"issues": "everything"}}, "default_permissions must map"),
    ({"name": ""}, "Name can&#x27;t be blank"),
])
def test_the_stand_in_refuses_manifests_github_would_refuse(github: FakeGitHub, change: dict[str, object],
                                                           message: str) -> None:
    manifest = yaml.safe_load(APP_YML.read_text()) | {"redirect_url": "http://127.0.0.1:9/callback"}
    manifest.update(change)
    answer = httpx.post(f"{github.base_url}/settings/apps/new", params={"state": "s"},
                        data={"manifest": json.dumps(manifest)})
    assert answer.status_code == 422 and message in answer.text
    assert github.manifest_apps == []
    assert httpx.get(f"{github.base_url}/settings/apps/new").status_code == 200
