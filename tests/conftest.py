"""Shared fixtures: a clean Redis database, the app's key pair, a whole `World`, and the bubblewrap backend."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.sandboxes import BubblewrapBackend
from standins.github import generate_app_key
from tests.world import World, make_world

REDIS_URL = os.environ.get("ISSUESMITH_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database emptied before and after the test."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    except redis.ConnectionError:
        pytest.fail(f"no Redis at {REDIS_URL}: start redis-server (bash .ci/run does) or set "
                    "ISSUESMITH_TEST_REDIS_URL")
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def app_keys() -> tuple[str, str]:
    """The GitHub App's (private, public) PEM pair for this test session."""
    return generate_app_key()


@pytest.fixture(scope="module")
def bwrap() -> BubblewrapBackend:
    """The bubblewrap backend, or the test is skipped with the reason it cannot run here."""
    backend = BubblewrapBackend()
    probe = backend.probe()
    if not probe.available:
        pytest.skip(f"bubblewrap cannot run here: {probe.reason}")
    return backend


@pytest.fixture
def world(tmp_path: Path, redis_url: str, app_keys: tuple[str, str]) -> Iterator[World]:
    """Stand-ins + web app + in-process services; contracts are checked at the end."""
    w = make_world(tmp_path, redis_url, app_keys)
    try:
        yield w
        problems = w.contract_problems()
        assert not problems, "exchanges break the published API descriptions:\n" + "\n".join(problems[:20])
    finally:
        w.close()
