"""The GitHub stand-in against the real clients: PyGithub over REST, `git` over smart HTTP, and a
tiny webhook receiver that checks signatures the way a GitHub App must.

Each test gets a fresh `FakeGitHub` served on a loopback port, with app 42 installed (id 7) on
the `acme` organization's private repository `acme/widgets`, where alice is a maintainer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import github
import httpx
import jwt
import pytest
from github import Auth

from standins.github import FakeGitHub, generate_app_key
from standins.server import ServerThread

APP_ID = 42
INSTALLATION = 7
REPO = "acme/widgets"
SECRET = "hook-secret"
ZERO = "0" * 40


@pytest.fixture(scope="module")
def app_key() -> tuple[str, str]:
    return generate_app_key()


@dataclass
class Env:
    gh: FakeGitHub
    private_key: str
    tmp: Path
    alice_token: str

    def integration(self, key: str | None = None) -> github.GithubIntegration:
        return github.GithubIntegration(auth=Auth.AppAuth(APP_ID, key or self.private_key),
                                        base_url=self.gh.api_url, seconds_between_requests=0,
                                        seconds_between_writes=0)

    def token(self) -> str:
        return self.integration().get_access_token(INSTALLATION).token

    def client(self, token: str | None = None, *, retry: bool = True) -> github.Github:
        # PyGithub throttles itself (0.25 s per request, 1 s per write) unless told not to
        return github.Github(auth=Auth.Token(token or self.token()), base_url=self.gh.api_url,
                             retry=github.GithubRetry() if retry else None,
                             seconds_between_requests=0, seconds_between_writes=0)

    def git(self, *args: str, token: str | None = None, user: str = "x-access-token",
            check: bool = True) -> subprocess.CompletedProcess[str]:
        config: list[str] = ["-c", "user.name=Bot", "-c", "user.email=bot@example.com"]
        if token is not None:
            basic = base64.b64encode(f"{user}:{token}".encode()).decode()
            config += ["-c", f"http.extraHeader=Authorization: Basic {basic}"]
        return subprocess.run(["git", *config, *args], capture_output=True, text=True, check=check,
                              env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(self.tmp),
                                   "GIT_TERMINAL_PROMPT": "0"})


@pytest.fixture
def env(tmp_path: Path, app_key: tuple[str, str]) -> Iterator[Env]:
    private_key, public_key = app_key
    gh = FakeGitHub(tmp_path / "github")
    server = ServerThread(gh.app).start()
    gh.bind(server.url)
    gh.add_app(APP_ID, public_key)
    gh.add_installation(INSTALLATION, "acme")
    gh.add_repo(REPO, INSTALLATION, {"README.md": "# widgets\n", "src/app.py": "print('hi')\n"})
    alice = gh.add_user("alice")
    gh.set_permission(REPO, "alice", "maintain")
    try:
        yield Env(gh, private_key, tmp_path, alice)
    finally:
        gh.close()
        server.stop()


@dataclass
class Receiver:
    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook endpoint that answers 202 and keeps every request."""
    box = Receiver("")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        box.received.append((headers, body))
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    server = ServerThread(app).start()
    box.url = f"{server.url}/webhook"
    try:
        yield box
    finally:
        server.stop()


# ---------------------------------------------------------------- app auth


def test_app_jwt_mints_an_installation_token(env: Env) -> None:
    integration = env.integration()
    assert integration.get_app().slug == "issuesmith"
    assert integration.get_repo_installation("acme", "widgets").id == INSTALLATION
    assert [i.id for i in integration.get_installations()] == [INSTALLATION]

    grant = integration.get_access_token(INSTALLATION)

    assert grant.token.startswith("ghs_") and len(grant.token) == 40
    assert grant.expires_at is not None
    assert timedelta(minutes=59) < grant.expires_at - datetime.now(UTC) <= timedelta(hours=1)
    minted = [e for e in env.gh.exchanges if e.path == f"/app/installations/{INSTALLATION}/access_tokens"]
    assert minted[0].status == 201 and minted[0].actor == "app/issuesmith"
    assert minted[0].response_json["permissions"]["issues"] == "write"
    assert minted[0].response_json["expires_at"].endswith("Z")


def test_bad_jwt_and_bad_tokens_answer_401(env: Env) -> None:
    stranger_key, _ = generate_app_key()
    with pytest.raises(github.GithubException) as signed_by_stranger:
        env.integration(stranger_key).get_access_token(INSTALLATION)
    assert signed_by_stranger.value.status == 401
    assert signed_by_stranger.value.data["message"] == "A JSON web token could not be decoded"

    now = int(time.time())
    too_long = jwt.encode({"iat": now - 60, "exp": now + 1200, "iss": str(APP_ID)}, env.private_key, "RS256")
    answer = httpx.get(f"{env.gh.api_url}/app", headers={"Authorization": f"Bearer {too_long}"})
    assert answer.status_code == 401 and "too far in the future" in answer.json()["message"]
    expired = jwt.encode({"iat": now - 900, "exp": now - 300, "iss": str(APP_ID)}, env.private_key, "RS256")
    assert httpx.get(f"{env.gh.api_url}/app", headers={"Authorization": f"Bearer {expired}"}).status_code == 401

    with pytest.raises(github.BadCredentialsException):
        env.client("ghs_" + "x" * 36).get_repo(REPO)
    token = env.token()
    env.gh.expire_tokens()
    with pytest.raises(github.BadCredentialsException):
        env.client(token).get_repo(REPO)


# ---------------------------------------------------------------- repository, permissions


def test_installation_token_reads_the_repository(env: Env) -> None:
    repo = env.client().get_repo(REPO)

    assert repo.full_name == REPO and repo.private and repo.default_branch == "main"
    assert repo.clone_url == f"{env.gh.base_url}/{REPO}.git"
    assert repo.html_url == f"{env.gh.base_url}/{REPO}"
    assert repo.owner.login == "acme" and repo.owner.type == "Organization"
    assert repo.get_contents("src/app.py").decoded_content == b"print('hi')\n"  # type: ignore[union-attr]
    main = repo.get_branch("main").commit.sha
    assert repo.get_git_ref("heads/main").object.sha == main == env.gh.branches(REPO)["main"]
    with pytest.raises(github.UnknownObjectException):
        repo.get_git_ref("heads/nope")
    with pytest.raises(github.UnknownObjectException):
        repo.get_contents("missing.txt")
    with pytest.raises(github.UnknownObjectException):
        env.client().get_repo("acme/not-installed")


def test_permission_levels_map_like_github(env: Env) -> None:
    for login, role in [("bob", "write"), ("carol", "triage"), ("dave", "admin"), ("erin", "read")]:
        env.gh.add_user(login)
        env.gh.set_permission(REPO, login, role)
    env.gh.add_user("mallory")
    repo = env.client().get_repo(REPO)

    assert repo.get_collaborator_permission("alice") == "write"
    assert repo.get_collaborator_role_name("alice") == "maintain"
    assert repo.get_collaborator_permission("bob") == "write"
    assert repo.get_collaborator_permission("carol") == "read"
    assert repo.get_collaborator_role_name("carol") == "triage"
    assert repo.get_collaborator_permission("dave") == "admin"
    assert repo.get_collaborator_permission("erin") == "read"
    assert repo.get_collaborator_permission("mallory") == "none"
    with pytest.raises(github.GithubException) as unknown:
        repo.get_collaborator_permission("nobody-at-all")
    assert unknown.value.status == 404 and unknown.value.data["message"] == "nobody-at-all is not a user"
    # a person's own token sees the repo only with some access to it
    assert env.client(env.alice_token).get_repo(REPO).permissions.maintain is True
    mallory = env.gh.add_user("mallory")
    with pytest.raises(github.UnknownObjectException):
        env.client(mallory).get_repo(REPO)


# ---------------------------------------------------------------- issues, comments, reactions, labels


def test_comments_post_edit_and_paginate_past_30(env: Env) -> None:
    number = env.gh.create_issue(REPO, "alice", "Add a flag", "Please add --verbose.", ["enhancement"])
    issue = env.client().get_repo(REPO).get_issue(number)
    assert issue.title == "Add a flag" and issue.user.login == "alice"
    assert [label.name for label in issue.labels] == ["enhancement"]

    posted = issue.create_comment("Working on a plan.")
    posted.edit("Plan ready.")
    for i in range(32):
        env.gh.comment(REPO, number, f"note {i}", by="alice")

    listed = list(issue.get_comments())
    assert len(listed) == 33
    assert listed[0].body == "Plan ready." and listed[0].user.login == "issuesmith[bot]"
    assert listed[0].user.type == "Bot"
    first_page = next(e for e in env.gh.exchanges if e.path.endswith(f"/issues/{number}/comments")
                      and e.method == "GET")
    assert len(first_page.response_json) == 30
    assert 'rel="next"' in first_page.response_headers["Link"]
    stored = env.gh.comments(REPO, number)
    assert stored[0].id == posted.id and stored[0].user == "issuesmith[bot]" and stored[0].body == "Plan ready."
    assert stored[0].created_at <= stored[0].updated_at
    assert issue.get_comment(posted.id).body == "Plan ready."


def test_reactions_and_labels(env: Env) -> None:
    number = env.gh.create_issue(REPO, "alice", "Bug", "It breaks.")
    comment_id = env.gh.comment(REPO, number, "/approve", by="alice")
    issue = env.client().get_repo(REPO).get_issue(number)

    issue.create_reaction("eyes")
    issue.get_comment(comment_id).create_reaction("+1")
    issue.get_comment(comment_id).create_reaction("+1")
    with pytest.raises(github.GithubException) as invalid:
        issue.create_reaction("thumbsup")
    issue.add_to_labels("issuesmith:planning")

    assert env.gh.reactions(REPO, number) == [("issuesmith[bot]", "eyes")]
    assert env.gh.reactions(REPO, number, comment_id) == [("issuesmith[bot]", "+1")]
    statuses = [e.status for e in env.gh.exchanges if e.path.endswith(f"/comments/{comment_id}/reactions")]
    assert statuses == [201, 200]
    assert invalid.value.status == 422
    assert env.gh.labels(REPO, number) == ["issuesmith:planning"]
    assert [label.name for label in issue.get_labels()] == ["issuesmith:planning"]


# ---------------------------------------------------------------- git over smart HTTP


def test_clone_with_extra_header_and_push_a_branch(env: Env) -> None:
    token = env.token()
    work = env.tmp / "clone"
    env.git("clone", "-q", f"{env.gh.base_url}/{REPO}.git", str(work), token=token)
    assert (work / "src" / "app.py").read_text() == "print('hi')\n"
    (work / "src" / "app.py").write_text("print('hello')\n")
    env.git("-C", str(work), "checkout", "-q", "-b", "issuesmith/1-flag")
    env.git("-C", str(work), "commit", "-qam", "Say hello")
    env.git("-C", str(work), "push", "-q", "origin", "issuesmith/1-flag", token=token)

    head = env.git("-C", str(work), "rev-parse", "HEAD").stdout.strip()
    assert env.gh.branches(REPO)["issuesmith/1-flag"] == head
    push = env.gh.pushes[-1]
    assert (push.repo, push.ref, push.old, push.new, push.actor) == (
        REPO, "refs/heads/issuesmith/1-flag", ZERO, head, "issuesmith[bot]")
    content = env.client(token).get_repo(REPO).get_contents("src/app.py", ref="issuesmith/1-flag")
    assert content.decoded_content == b"print('hello')\n"  # type: ignore[union-attr]


def test_git_refuses_anonymous_and_read_only_pushes(env: Env) -> None:
    refused = env.git("clone", "-q", f"{env.gh.base_url}/{REPO}.git", str(env.tmp / "anon"), check=False)
    assert refused.returncode != 0
    answer = httpx.get(f"{env.gh.base_url}/{REPO}.git/info/refs?service=git-upload-pack")
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == 'Basic realm="GitHub"'

    reader = env.gh.add_user("erin")
    env.gh.set_permission(REPO, "erin", "read")
    work = env.tmp / "erin"
    env.git("clone", "-q", f"{env.gh.base_url}/{REPO}.git", str(work), token=reader, user="erin")
    env.git("-C", str(work), "checkout", "-q", "-b", "sneaky")
    denied = env.git("-C", str(work), "push", "-q", "origin", "sneaky", token=reader, user="erin", check=False)
    assert denied.returncode != 0 and "denied to erin" in denied.stderr
    assert env.gh.pushes == [] and "sneaky" not in env.gh.branches(REPO)


# ---------------------------------------------------------------- pull requests


def _push_branch(env: Env, token: str, branch: str) -> str:
    work = env.tmp / f"work-{branch}"
    env.git("clone", "-q", f"{env.gh.base_url}/{REPO}.git", str(work), token=token)
    env.git("-C", str(work), "checkout", "-q", "-b", branch)
    (work / "CHANGELOG.md").write_text("- flag\n")
    env.git("-C", str(work), "add", "CHANGELOG.md")
    env.git("-C", str(work), "commit", "-qm", "Add changelog")
    env.git("-C", str(work), "push", "-q", "origin", branch, token=token)
    return env.git("-C", str(work), "rev-parse", "HEAD").stdout.strip()


def test_open_a_pull_request_find_it_by_head_and_refuse_a_duplicate(env: Env) -> None:
    issue_number = env.gh.create_issue(REPO, "alice", "Add a flag", "")
    token = env.token()
    head_sha = _push_branch(env, token, "issuesmith/1")
    repo = env.client(token).get_repo(REPO)

    pull = repo.create_pull(base="main", head="issuesmith/1", title="Add a flag", body="Closes #1", draft=True)

    assert pull.number == issue_number + 1  # pulls share the issue number sequence
    assert pull.draft and pull.head.sha == head_sha and pull.user.login == "issuesmith[bot]"
    assert pull.commits == 1 and pull.changed_files == 1
    found = list(repo.get_pulls(state="open", head="acme:issuesmith/1"))
    assert [p.number for p in found] == [pull.number]
    assert list(repo.get_pulls(state="closed", head="acme:issuesmith/1")).__len__() == 0
    assert repo.get_issue(pull.number).pull_request is not None
    with pytest.raises(github.GithubException) as duplicate:
        repo.create_pull(base="main", head="issuesmith/1", title="Again", body="")
    assert duplicate.value.status == 422
    assert "already exists" in duplicate.value.data["errors"][0]["message"]
    with pytest.raises(github.GithubException) as missing:
        repo.create_pull(base="main", head="no-such-branch", title="x", body="")
    assert missing.value.status == 422 and missing.value.data["errors"][0]["field"] == "head"
    with pytest.raises(github.GithubException) as same:
        repo.create_pull(base="main", head="main", title="x", body="")
    assert same.value.status == 422

    pull.edit(title="Add a --verbose flag")
    stored = env.gh.pulls(REPO)
    assert [(p.number, p.title, p.head, p.base, p.draft, p.state, p.user) for p in stored] == [
        (pull.number, "Add a --verbose flag", "issuesmith/1", "main", True, "open", "issuesmith[bot]")]


def test_reviews_and_merge_by_a_person(env: Env, receiver: Receiver) -> None:
    env.gh.set_webhook(receiver.url, SECRET)
    token = env.token()
    _push_branch(env, token, "feature")
    repo = env.client(token).get_repo(REPO)
    pull = repo.create_pull(base="main", head="feature", title="Feature", body="")

    env.gh.review_comment(REPO, pull.number, "Typo here.", by="alice", path="CHANGELOG.md", line=1)
    env.gh.review_pull(REPO, pull.number, by="alice", event="APPROVE", body="LGTM")
    merge_sha = env.gh.merge_pull(REPO, pull.number, by="alice")
    env.gh.wait_for_deliveries()

    assert [r.state for r in pull.get_reviews()] == ["COMMENTED", "APPROVED"]
    assert [c.body for c in pull.get_review_comments()] == ["Typo here."]
    assert repo.get_pull(pull.number).merged and env.gh.branches(REPO)["main"] == merge_sha
    events = [(d.event, d.action) for d in env.gh.deliveries]
    assert events == [("pull_request", "opened"), ("pull_request_review_comment", "created"),
                      ("pull_request_review", "submitted"), ("pull_request_review", "submitted"),
                      ("pull_request", "closed")]
    assert env.gh.deliveries[-1].payload["pull_request"]["merged"] is True


# ---------------------------------------------------------------- webhooks


def _verify(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-hub-signature-256"], expected)
    assert headers["x-hub-signature"] == "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("GitHub-Hookshot/")
    payload: dict[str, Any] = json.loads(body)
    return payload


def test_people_and_the_bot_cause_signed_webhooks(env: Env, receiver: Receiver) -> None:
    env.gh.set_webhook(receiver.url, SECRET)
    number = env.gh.create_issue(REPO, "alice", "Add a flag", "Please.")

    env.gh.label_issue(REPO, number, "issuesmith", by="alice")
    comment_id = env.gh.comment(REPO, number, "/issuesmith approve", by="alice")
    env.gh.edit_comment(REPO, comment_id, "/issuesmith approve plan", by="alice")
    env.client().get_repo(REPO).get_issue(number).create_comment("On it.")
    env.gh.wait_for_deliveries()

    assert len(receiver.received) == 4
    labeled_headers, labeled_body = receiver.received[0]
    labeled = _verify(labeled_headers, labeled_body)
    assert labeled_headers["x-github-event"] == "issues"
    assert labeled_headers["x-github-delivery"] == env.gh.deliveries[0].guid
    assert labeled["action"] == "labeled" and labeled["label"]["name"] == "issuesmith"
    assert labeled["issue"]["number"] == number and labeled["sender"]["login"] == "alice"
    assert labeled["installation"]["id"] == INSTALLATION
    assert labeled["repository"]["full_name"] == REPO

    created = _verify(*receiver.received[1])
    assert (created["action"], created["comment"]["id"], created["comment"]["body"]) == (
        "created", comment_id, "/issuesmith approve")
    edited = _verify(*receiver.received[2])
    assert edited["action"] == "edited" and edited["changes"] == {"body": {"from": "/issuesmith approve"}}
    ours = _verify(*receiver.received[3])
    assert ours["sender"]["login"] == "issuesmith[bot]" and ours["sender"]["type"] == "Bot"
    assert ours["comment"]["performed_via_github_app"]["id"] == APP_ID
    assert [d.status_code for d in env.gh.deliveries] == [202, 202, 202, 202]

    env.gh.redeliver(env.gh.deliveries[0].guid)
    env.gh.wait_for_deliveries()
    again_headers, again_body = receiver.received[4]
    assert again_headers["x-github-delivery"] == labeled_headers["x-github-delivery"]
    assert again_body == labeled_body


def test_unreachable_webhook_is_recorded_as_status_0(env: Env) -> None:
    env.gh.set_webhook("http://127.0.0.1:9/nowhere", SECRET)
    number = env.gh.create_issue(REPO, "alice", "t", "b")
    env.gh.comment(REPO, number, "hi", by="alice")
    env.gh.wait_for_deliveries()
    assert [(d.event, d.status_code) for d in env.gh.deliveries] == [("issue_comment", 0)]


# ---------------------------------------------------------------- faults


def test_fail_next_injects_a_502_once(env: Env) -> None:
    token = env.token()
    env.gh.fail_next("GET", rf"^/repos/{REPO}$", 502)
    headers = {"Authorization": f"token {token}"}

    first = httpx.get(f"{env.gh.api_url}/repos/{REPO}", headers=headers)
    second = httpx.get(f"{env.gh.api_url}/repos/{REPO}", headers=headers)

    assert (first.status_code, second.status_code) == (502, 200)
    assert [(e.status, e.injected) for e in env.gh.exchanges if e.path == f"/repos/{REPO}"] == [
        (502, True), (200, False)]
    env.gh.fail_next("GET", rf"^/repos/{REPO}$", 502)
    with pytest.raises(github.GithubException) as failed:
        env.client(token, retry=False).get_repo(REPO)
    assert failed.value.status == 502
