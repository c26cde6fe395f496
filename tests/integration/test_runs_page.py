"""The runs page (`/runs`, `/runs/<id>`) over HTTP after a real run: who may see it, and what they see."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.world import REPO, SAMPLE_PLAN, World, make_world, script_implementation

TOKEN = "dashboard-token-0123456789abcdef"
HOSTILE_TITLE = '<script>alert("owned")</script> word_count & "quotes"'


@pytest.fixture
def dash_world(tmp_path: Path, redis_url: str, app_keys: tuple[str, str]) -> Iterator[World]:
    """A world whose web app has the runs page on (ISSUESMITH_DASHBOARD_TOKEN set)."""
    w = make_world(tmp_path, redis_url, app_keys, dashboard_token=TOKEN)
    try:
        yield w
        assert not w.contract_problems()
    finally:
        w.close()


def finish_a_run(world: World, title: str = HOSTILE_TITLE) -> str:
    """Label → plan → /approve → pull request; returns the run id."""
    script_implementation(world.openai)
    run_id = world.plan_and_approve(title=title)
    run = world.run()
    assert run is not None and run.state == "PR_OPEN"
    return run_id


def get(world: World, path: str, **kwargs: object) -> httpx.Response:
    return httpx.get(f"{world.web_url}{path}", timeout=10, follow_redirects=False, **kwargs)  # type: ignore[arg-type]


def test_runs_page_is_off_without_a_token(world: World) -> None:
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    run = world.run()
    assert run is not None
    for path in ("/runs", f"/runs/{run.id}", f"/runs/{run.id}?token=anything"):
        assert get(world, path).status_code == 404
    assert get(world, "/runs", headers={"Authorization": "Bearer anything"}).status_code == 404


def test_runs_page_needs_the_token(dash_world: World) -> None:
    world = dash_world
    run_id = finish_a_run(world, title="word_count is wrong")
    wrong = TOKEN[:-1] + "X"
    for path in ("/runs", f"/runs/{run_id}"):
        assert get(world, path).status_code == 401
        assert get(world, path, headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
        assert get(world, path, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
        assert get(world, f"{path}?token={wrong}").status_code == 401
        not_the_token = {"issuesmith_dashboard": TOKEN}  # the cookie holds an HMAC of the token, not the token
        assert get(world, path, cookies=not_the_token).status_code == 401
        assert get(world, path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200

    once = get(world, f"/runs/{run_id}?token={TOKEN}")
    assert once.status_code == 303 and once.headers["location"] == f"/runs/{run_id}"
    cookie = once.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower() and TOKEN not in cookie
    session = {"issuesmith_dashboard": once.cookies["issuesmith_dashboard"]}
    assert get(world, f"/runs/{run_id}", cookies=session).status_code == 200
    assert get(world, "/runs", cookies=session).status_code == 200

    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert get(world, "/runs/r00000000000", headers=bearer).status_code == 404
    assert get(world, "/runs/..%2f..%2fetc", headers=bearer).status_code == 404


def test_runs_page_shows_the_run_escaped(dash_world: World) -> None:
    world = dash_world
    run_id = finish_a_run(world)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    store = world.services.store
    [pull] = world.github.pulls(REPO)

    listing = get(world, "/runs", headers=bearer)
    assert listing.status_code == 200 and listing.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in listing.headers["content-security-policy"]
    page = listing.text
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt; word_count &amp; &quot;quotes&quot;" in page
    assert f'href="/runs/{run_id}"' in page and "PR_OPEN" in page and REPO in page
    assert f"#{world.issue} " in page and f'/pull/{pull.number}"' in page and f">#{pull.number}</a>" in page
    assert f"${store.usage(run_id)['cost_usd']:.4f}" in page

    detail = get(world, f"/runs/{run_id}", headers=bearer)
    assert detail.status_code == 200
    page = detail.text
    assert "<script" not in page and "&lt;script&gt;" in page
    entries = store.entries(run_id)
    started = [e["step"] for e in entries if e["event"] == "started"]
    assert set(started) >= {"plan", "implement", "prepare", "code", "test", "publish", "report"}
    bars = re.findall(r'<div class="bar (\w+)" style="left:([\d.]+)%;width:([\d.]+)%"', page)
    assert len(bars) == len(started) and {outcome for outcome, _, _ in bars} == {"ok"}
    assert all(0 <= float(left) <= 100 and float(left) + float(width) <= 100.001 for _, left, width in bars)
    plan = store.plan(run_id, 1)
    assert plan is not None and plan.hash[:16] in page and SAMPLE_PLAN["title"] in page
    assert "yes, by carol" in page
    assert f"Execution log ({len(entries)} entries)" in page
    assert page.count('<tr><td class="num mono">') == len(entries)
