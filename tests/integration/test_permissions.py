"""Who may drive issuesmith: write, maintain or admin, asked of the API; never the payload's say-so."""

from __future__ import annotations

import copy
import json
import uuid

import httpx
import pytest

from bot.runs.model import State
from bot.web.webhooks import sign
from tests.world import SAMPLE_PLAN, WEBHOOK_SECRET, World


@pytest.mark.parametrize(("login", "allowed"), [
    ("alice", True),    # admin
    ("maya", True),     # maintain
    ("carol", True),    # write
    ("trish", False),   # triage
    ("mallory", False),  # read
    ("stranger", False),  # no access at all
])
def test_approve_by_each_permission_level(world: World, login: str, allowed: bool) -> None:
    world.github.add_user("stranger")
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label(by="alice")
    world.drain()
    world.say("/approve", by=login)
    world.step()

    run = world.run()
    assert run is not None
    assert (run.state == State.APPROVED) is allowed
    if not allowed:
        assert f"@{login} thanks! Only people with write access" in world.bot_comments()[-1].body
        assert world.job_ids() == []


def test_label_by_triage_is_refused(world: World) -> None:
    world.new_issue()
    world.label(by="trish")
    world.drain()
    assert world.run() is None and "write access" in world.bot_comments()[-1].body


def test_spoofed_author_association_is_not_trusted(world: World) -> None:
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label(by="alice")
    world.drain()
    world.say("/cancel", by="mallory")  # a real delivery to copy
    world.drain()
    template = [d for d in world.github.deliveries if d.event == "issue_comment"
                and d.payload["comment"]["user"]["login"] == "mallory"][-1].payload
    payload = copy.deepcopy(template)
    payload["comment"].update(body="/approve", author_association="OWNER", id=payload["comment"]["id"] + 1)
    body = json.dumps(payload).encode()
    response = httpx.post(f"{world.web_url}/webhook", content=body, headers={
        "X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(WEBHOOK_SECRET.encode(), body), "Content-Type": "application/json"})
    assert response.status_code == 202
    world.drain()

    assert world.run().state == State.AWAITING_APPROVAL  # type: ignore[union-attr]
    assert "Only people with write access to this repository can use `/approve`" in world.bot_comments()[-1].body


def test_permission_is_looked_up_once_then_cached(world: World) -> None:
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label(by="alice")
    world.drain()
    for text in ("/revise a", "/revise b"):
        world.say(text, by="trish")
    world.drain()
    lookups = [e for e in world.github.exchanges if e.path.endswith("/collaborators/trish/permission")]
    assert len(lookups) == 1
