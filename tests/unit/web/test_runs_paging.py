"""`/runs` in pages read from the run index: first, next and last page, a run created between pages, ties."""

from __future__ import annotations

import re

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.runs.model import Run
from bot.runs.runindex import Cursor
from bot.runs.store import RunStore
from bot.web import dashboard

TOKEN = "paging-token-0123456789abcdefghij"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def store(redis_url: str) -> RunStore:
    return RunStore(redis.Redis.from_url(redis_url, decode_responses=True))


@pytest.fixture
def web(store: RunStore) -> TestClient:
    api = FastAPI()
    dashboard.mount(api, SecretStr(TOKEN), store.redis)
    return TestClient(api)


def add(store: RunStore, number: int, created_at: float, run_id: str = "") -> str:
    run_id = run_id or f"r{number:04d}"
    assert store.create(Run(id=run_id, repo="o/r", issue=number, installation_id=1, created_at=created_at))[0] \
        == "created"
    return run_id


def listed(page: str) -> list[str]:
    return re.findall(r'<a href="/runs/([^"]+)">', page)


def older_link(page: str) -> str | None:
    match = re.search(r'<a href="(/runs\?before=[^"]+)" rel="next">', page)
    return match[1].replace("&amp;", "&") if match else None


def test_pages_walk_every_run_once_newest_first_and_a_new_run_shifts_nothing(
        store: RunStore, web: TestClient) -> None:
    ids = [add(store, n, 1_700_000_000.0 + n * 0.5) for n in range(250)]
    first = web.get("/runs", headers=BEARER).text
    assert listed(first) == ids[::-1][:100] and "newest runs</a>" not in first
    add(store, 999, 1_700_009_999.0, "rnew")  # created between pages: on the first page, not the next
    second = web.get(older_link(first) or "", headers=BEARER)
    assert second.status_code == 200 and listed(second.text) == ids[::-1][100:200]
    assert '<a href="/runs" rel="first">' in second.text
    last = web.get(older_link(second.text) or "", headers=BEARER).text
    assert listed(last) == ids[::-1][200:] and older_link(last) is None
    assert listed(web.get("/runs", headers=BEARER).text)[:2] == ["rnew", ids[-1]]


def test_runs_created_at_the_same_instant_are_neither_lost_nor_repeated(store: RunStore) -> None:
    ids = sorted(add(store, n, 1_700_000_000.25, f"r{n:02d}") for n in range(7))
    add(store, 50, 1_700_000_001.0, "z-newest")
    add(store, 51, 1_699_999_999.0, "a-oldest")
    seen: list[str] = []
    cursor: Cursor | None = None
    while True:
        runs, cursor = store.page(cursor, 3)
        seen += [run.id for run in runs]
        if cursor is None:
            break
        assert Cursor.parse(str(cursor)) == cursor  # survives the URL exactly
    assert seen == ["z-newest", *ids[::-1], "a-oldest"]


def test_an_empty_index_and_a_bad_cursor(store: RunStore, web: TestClient) -> None:
    assert store.page(None, 10) == ([], None)
    page = web.get("/runs", headers=BEARER)
    assert page.status_code == 200 and "No runs yet." in page.text and older_link(page.text) is None
    for bad in ("x", "1.5", "1.5~", "1.5~../x", "-3~r1", "1e9~r1", "1.5~" + "r" * 65):
        assert web.get("/runs", params={"before": bad}, headers=BEARER).status_code == 400
    assert web.get("/runs", params={"before": "1.5~r1"}).status_code == 401
