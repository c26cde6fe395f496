"""GitHub's 65,536-character limit on bodies, through the real PyGithub client against the stand-in: GitHub's
422 for a body over it, the posting guard that never sends one, and a plan quoting a long issue still posted."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import github
import pytest
from github import Auth

from bot.github import comments, fitting
from bot.runs.model import State
from standins.openai import Reply
from tests.world import INSTALLATION, REPO, World, make_world, plan_with

OVER = "x" * (fitting.LIMIT + 1)


def _too_long(call: object, resource: str) -> None:
    """`call()` is refused with GitHub's validation error for a body over the limit."""
    with pytest.raises(github.GithubException) as refused:
        call()  # type: ignore[operator]
    assert refused.value.status == 422
    data = refused.value.data
    assert data["message"] == "Validation Failed" and data["documentation_url"]
    assert data["errors"] == [{"resource": resource, "code": "custom", "field": "body",
                               "message": "body is too long (maximum is 65536 characters)"}]


def test_the_stand_in_refuses_a_body_over_the_limit_and_our_gateway_never_sends_one(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.new_issue()
    world.github.push_commit(REPO, "feature", {"README.md": "changed\n"}, by="alice")
    token = world.services.github.installation_token(INSTALLATION)
    repo = github.Github(auth=Auth.Token(token), base_url=world.github.api_url, seconds_between_requests=0,
                         seconds_between_writes=0).get_repo(REPO)
    issue = repo.get_issue(world.issue)
    _too_long(lambda: issue.create_comment(OVER), "IssueComment")
    comment = issue.create_comment("x" * fitting.LIMIT)  # exactly at the limit is accepted
    _too_long(lambda: comment.edit(OVER), "IssueComment")
    _too_long(lambda: repo.create_pull(base="main", head="feature", title="t", body=OVER), "PullRequest")
    pull = repo.create_pull(base="main", head="feature", title="t", body="fine")
    _too_long(lambda: pull.edit(body=OVER), "PullRequest")
    # (a reply over the limit is refused too, but GitHub's description declares no 422 for that endpoint,
    # so the contract check at the end would count it against the stand-in)
    review_comment = world.github.review_comment(REPO, pull.number, "why?", "alice", "README.md")

    gateway = world.services.github.repo(INSTALLATION, REPO)
    marker = comments.notice_marker("r1", "big")
    with caplog.at_level(logging.WARNING, logger="issuesmith.github"):
        posted = gateway.upsert_comment(world.issue, marker, f"{marker}\n{OVER}", None)
        gateway.update_pull(pull.number, "t", OVER)
        gateway.reply_to_review_comment(pull.number, review_comment, OVER)
    assert len([r for r in caplog.records if "size limit" in r.getMessage()]) == 3
    body = gateway.comment_body(world.issue, posted.id)
    assert comments.carries_marker(body, marker) and fitting.size(body) <= fitting.LIMIT
    assert "more characters not shown" in body


@pytest.fixture
def roomy_world(tmp_path: Path, redis_url: str, app_keys: tuple[str, str]) -> Iterator[World]:
    """A deployment that lets the model write 64k tokens (ISSUESMITH_MODEL_MAX_OUTPUT_TOKENS): room for a plan
    longer than GitHub takes in one comment (the default cap of 4,096 keeps a plan far below that)."""
    w = make_world(tmp_path, redis_url, app_keys, model_max_output_tokens=64_000)
    yield w
    w.close()


def test_a_plan_quoting_a_long_issue_is_still_posted(roomy_world: World, caplog: pytest.LogCaptureFixture) -> None:
    world = roomy_world
    issue_text = "Steps to reproduce, with the whole traceback 🔥:\n" + "  File \"x.py\", line 1, in f\n" * 2_100
    world.new_issue(body=issue_text)
    plan = plan_with(summary="The issue says:\n" + issue_text,
                     steps=[f"Fix frame {i}: " + "look closely " * 20 for i in range(300)])
    world.openai.script(Reply.json(plan), match="Planner of issuesmith")  # usage counted from the prompt it got
    with caplog.at_level(logging.WARNING, logger="issuesmith.github"):
        world.label()
        world.drain()

    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL
    [plan] = [c for c in world.bot_comments() if "issuesmith:plan" in c.body]
    record = world.services.store.plan(run.id, 1)
    assert record is not None and plan.body.split("\n", 1)[0] == comments.plan_marker(run.id, 1, record.hash)
    assert fitting.size(plan.body) <= fitting.BUDGET
    assert "more steps not shown" in plan.body and comments.APPROVE_HELP in plan.body
    assert not [r for r in caplog.records if "size limit" in r.getMessage()]  # built to fit: no guard needed
