"""`issuesmith setup`'s pure parts: the API address of a GitHub, the new-app page, and merging `.env`."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bot.cli.appsetup.envfile import merged, update_env
from bot.cli.appsetup.manifest import api_url_for, load_manifest, new_app_url

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("web", "api"), [
    ("https://github.com", "https://api.github.com"),
    ("https://github.com/", "https://api.github.com"),
    ("https://ghe.acme.test", "https://ghe.acme.test/api/v3"),
    ("https://ghe.acme.test/", "https://ghe.acme.test/api/v3"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v3"),
])
def test_api_url_of_github_and_enterprise_server(web: str, api: str) -> None:
    assert api_url_for(web) == api


def test_new_app_page_for_a_user_and_for_an_org() -> None:
    assert new_app_url("https://ghe.acme.test/", "s t") == "https://ghe.acme.test/settings/apps/new?state=s+t"
    assert new_app_url("https://github.com", "x", "acme") == (
        "https://github.com/organizations/acme/settings/apps/new?state=x")


def test_manifest_is_app_yml_pointed_at_this_deployment() -> None:
    manifest = load_manifest(ROOT / "app.yml", webhook_url="https://h.test/webhook",
                             redirect_url="http://127.0.0.1:3000/callback", name="smith-acme")
    assert manifest["hook_attributes"] == {"url": "https://h.test/webhook", "active": True}
    assert manifest["redirect_url"] == "http://127.0.0.1:3000/callback" and manifest["name"] == "smith-acme"
    assert "issues" in manifest["default_events"] and manifest["default_permissions"]["metadata"] == "read"


def test_merge_replaces_ours_keeps_the_rest_and_drops_clashes() -> None:
    before = ("# settings\nexport ISSUESMITH_APP_ID=1\nOPENAI_API_KEY=sk-x\n\nISSUESMITH_PRIVATE_KEY=inline\n"
              "ISSUESMITH_APP_ID=2\n")
    after = merged(before, {"ISSUESMITH_APP_ID": "77", "ISSUESMITH_WEBHOOK_SECRET": "abc",
                            "ISSUESMITH_PRIVATE_KEY_PATH": "/a b/key.pem"}, ["ISSUESMITH_PRIVATE_KEY"])
    assert after == ("# settings\nISSUESMITH_APP_ID=77\nOPENAI_API_KEY=sk-x\n\nISSUESMITH_WEBHOOK_SECRET=abc\n"
                     "ISSUESMITH_PRIVATE_KEY_PATH='/a b/key.pem'\n")


def test_update_env_makes_the_file_private(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("KEEP=1\n")
    env.chmod(0o644)
    update_env(env, {"ISSUESMITH_APP_ID": "5"})
    assert env.read_text() == "KEEP=1\nISSUESMITH_APP_ID=5\n"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [".env"]  # no temporary file left behind
