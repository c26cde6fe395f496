"""End to end: `issuesmith serve` and `issuesmith worker` as real processes, real Redis, stand-ins.

Nothing of ours is imported into the processes under test: they read their settings from
the environment like a deployment does, and we observe only what a user would see on
GitHub plus the run state in Redis.
"""

from __future__ import annotations

import json
import time
import uuid

import httpx

from bot.runs.model import State
from bot.web.webhooks import sign
from standins.openai import Reply
from tests.e2e.processes import Deployment, kill_worker_and_start_another
from tests.world import (
    APPROVE,
    BOT,
    CODER,
    FIX,
    MODEL_KEY,
    REPO,
    REVIEWER,
    RUN_REPRO,
    SAMPLE_PLAN,
    TESTER,
    WEBHOOK_SECRET,
    reproduction_replies,
    script_implementation,
    wait_until,
)

WRITING_TESTS = "A change implementing an approved plan is in the work tree"  # the Tester after the Coder


def test_label_reacts_and_posts_the_plan_once_even_if_redelivered(deployment: Deployment) -> None:
    d = deployment
    number = d.issue("Double spaces miscount")
    d.plan_for("Double spaces miscount")
    d.github.label_issue(REPO, number, "issuesmith", by="alice")
    wait_until(lambda: (BOT, "eyes") in d.github.reactions(REPO, number), what="👀")
    body = d.wait_comment(number, "Plan v1: Count words separated by any whitespace")
    assert "Reply `/approve` to implement this plan" in body

    guid = [x for x in d.github.deliveries if x.event == "issues" and x.payload["issue"]["number"] == number][-1].guid
    d.github.redeliver(guid)
    wait_until(lambda: d.github.deliveries[-1].status_code == 200, what="redelivery answered")
    time.sleep(0.5)
    assert len([b for b in d.bot_comments(number) if "key=status" not in b]) == 1


def test_bad_signature_is_refused_and_stores_nothing(deployment: Deployment) -> None:
    d = deployment
    before = d.store.redis.dbsize()
    body = json.dumps({"action": "labeled"}).encode()
    response = httpx.post(f"{d.web_url}/webhook", content=body, headers={
        "X-GitHub-Event": "issues", "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(b"wrong-secret-value", body)})
    assert response.status_code == 401
    assert d.store.redis.dbsize() == before


def test_revise_stale_approve_non_writer_then_writer_approve_opens_a_pr(deployment: Deployment) -> None:
    d = deployment
    title = "Tabs are not word separators"
    number = d.issue(title)
    d.plan_for(title, Reply.json(SAMPLE_PLAN), Reply.json({**SAMPLE_PLAN, "title": "Plan two"}))
    d.github.label_issue(REPO, number, "issuesmith", by="alice")
    d.wait_comment(number, "Plan v1:")

    d.github.comment(REPO, number, "/revise handle tabs explicitly", by="carol")
    d.wait_comment(number, "Plan v2: Plan two")
    d.wait_comment(number, "superseded by plan v2")

    d.github.comment(REPO, number, "/approve v1", by="alice")
    d.wait_comment(number, "answered plan v1, but plan v2 has been posted")
    d.github.comment(REPO, number, "/approve", by="mallory")
    d.wait_comment(number, "Only people with write access")
    assert d.run(number).state == State.AWAITING_APPROVAL  # type: ignore[union-attr]

    script_implementation(d.openai, reproduce=True)  # the deployment's default: the reproduction phase on
    d.github.comment(REPO, number, "/approve", by="carol")
    run = d.wait_state(number, State.PR_OPEN)
    assert (run.approved_version, run.approved_by) == (2, "carol")
    [pull] = [p for p in d.github.pulls(REPO) if f"Closes #{number}" in p.body]
    assert pull.head.startswith(f"issuesmith/{number}-") and not pull.draft
    assert "4 passed, 0 failed" in pull.body  # the sample repository's own suite and the reproduction test
    assert "`tests/test_issue.py::test_repeated_spaces`: failed on `main` before the change; passes with it." \
        in pull.body
    d.wait_comment(number, "### Review and tests")


def test_invalid_plan_three_times_fails_with_an_explanation(deployment: Deployment) -> None:
    d = deployment
    title = "Empty text has one word"
    number = d.issue(title)
    d.plan_for(title, *(Reply.json({"summary": "incomplete"}) for _ in range(3)))
    d.github.label_issue(REPO, number, "issuesmith", by="alice")
    body = d.wait_comment(number, "stopped at the **plan** step")
    assert "does not validate as a Plan" in body and "`/retry`" in body
    assert d.run(number).state == State.FAILED  # type: ignore[union-attr]


def test_rate_limited_model_then_success(deployment: Deployment) -> None:
    d = deployment
    title = "Newlines are ignored"
    number = d.issue(title)
    d.plan_for(title, Reply.error(429, headers={"retry-after-ms": "50"}), Reply.json(SAMPLE_PLAN))
    d.github.label_issue(REPO, number, "issuesmith", by="alice")
    d.wait_comment(number, "Plan v1:")
    assert d.run(number).state == State.AWAITING_APPROVAL  # type: ignore[union-attr]


def test_logs_are_structured_bound_and_free_of_secrets(deployment: Deployment) -> None:
    lines = [json.loads(line) for line in deployment.logs.read_text().splitlines() if line.startswith("{")]
    bound = [entry for entry in lines if entry.get("run") and entry.get("repo") == REPO]
    assert bound and all("issue" in entry for entry in bound)
    assert any(entry.get("delivery") for entry in lines)
    text = deployment.logs.read_text()
    assert MODEL_KEY not in text and WEBHOOK_SECRET not in text and "ghs_" not in text


def test_worker_killed_mid_step_is_recovered_by_the_next_worker(deployment: Deployment) -> None:
    """Runs last in this module: it replaces the worker process three times (plan, code, test)."""
    d = deployment
    title = "Worker dies while planning"
    number = d.issue(title)
    d.plan_for(title, Reply.hang(30), Reply.json(SAMPLE_PLAN))
    d.github.label_issue(REPO, number, "issuesmith", by="alice")
    d._wait(lambda: any(title in str(r["messages"]) for r in d.openai.requests), "the plan job's model call")
    kill_worker_and_start_another(d)
    d.wait_comment(number, "Plan v1:")
    assert len([b for b in d.bot_comments(number) if "issuesmith:plan" in b]) == 1
    assert "requeued jobs left behind by dead workers" in d.logs.read_text()

    # now while the Coder is working (after the Tester's reproduction), and again while the Tester writes tests
    d.openai.script(*reproduction_replies(), Reply.hang(30), Reply.json({"summary": "Covered.", "tests_added": []}),
                    match=TESTER)
    d.openai.script(Reply.hang(30), Reply.tool_calls([FIX, RUN_REPRO]),
                    Reply.json({"summary": "Split on any whitespace.", "notes": ""}), match=CODER)
    d.openai.script(Reply.json(APPROVE), match=REVIEWER)
    d.github.comment(REPO, number, "/approve", by="alice")
    for role, what in ((CODER, "the Coder's call"), (WRITING_TESTS, "the Tester's call after the change")):
        since = len(d.openai.requests)
        d._wait(lambda role=role, since=since: any(role in str(r["messages"][0]) for r in d.openai.requests[since:]),
                what)
        kill_worker_and_start_another(d)
    run = d.wait_state(number, State.PR_OPEN)
    d.wait_comment(number, "### Review and tests")  # posted by the report step, just after the PR opens
    assert len([p for p in d.github.pulls(REPO) if f"Closes #{number}" in p.body]) == 1
    assert len([b for b in d.bot_comments(number) if "### Review and tests" in b]) == 1
    assert [e["step"] for e in d.store.entries(run.id) if e["event"] == "resumed"] == ["prepare", "prepare", "code"]
