"""A stateful stand-in for GitHub: REST API, git over smart HTTP, and webhooks.

`FakeGitHub` keeps users, a GitHub App and its installations, repositories (real bare git
repositories under `root`), issues, comments, reactions, labels and pull requests, and serves:

* the REST API under `{base}/api/v3` (GitHub Enterprise Server style), close enough to
  GitHub's that the real PyGithub client works against it: app JWTs (RS256, checked against
  the registered public key), installation tokens, `Link` pagination, GitHub's error bodies;
* git smart HTTP at `{base}/{owner}/{repo}.git` through `git http-backend`, with HTTP Basic
  auth (password = a token), recording every ref update in `pushes`;
* webhooks, sent in order by one background thread and signed like GitHub's, for what people
  do (`label_issue`, `comment`, ...) and for what API clients do (the bot's own comments too).

Serve it with `standins.server.ServerThread`:

    gh = FakeGitHub(tmp_path)
    server = ServerThread(gh.app).start()
    gh.bind(server.url)                  # URLs in responses and payloads use it
    private_pem, public_pem = generate_app_key()
    gh.add_app(1, public_pem)
    gh.add_installation(7, "acme")
    gh.add_repo("acme/widgets", 7, {"README.md": "# widgets\\n"})
    github.Github(auth=..., base_url=f"{server.url}/api/v3")

It depends only on the package's runtime dependencies (starlette, httpx, pyjwt,
cryptography, the standard library) and on the `git` executable.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from standins import github_git as gitops
from standins.github_core import Core
from standins.github_errors import ApiError
from standins.github_http import GitHubApp
from standins.github_keys import generate_app_key
from standins.github_manifest import ManifestApp
from standins.github_model import (
    REACTIONS,
    ROLES,
    Comment,
    CommentRec,
    Delivery,
    Exchange,
    Fault,
    Pull,
    Push,
    RepoRec,
    Review,
    ReviewComment,
    utcnow,
)

__all__ = [
    "Comment",
    "Delivery",
    "Exchange",
    "FakeGitHub",
    "ManifestApp",
    "Pull",
    "Push",
    "Review",
    "ReviewComment",
    "generate_app_key",
]


def _comment(rec: CommentRec) -> Comment:
    return Comment(
        id=rec.id,
        user=rec.user,
        body=rec.body,
        created_at=rec.created_at,
        updated_at=rec.updated_at,
        number=rec.number,
        performed_via_app=rec.via_app,
    )


class FakeGitHub:
    """GitHub, in-process: set it up, act as people, serve `app`, inspect what happened."""

    def __init__(self, root: Path) -> None:
        self._core = Core(Path(root))
        self.app = GitHubApp(self._core)

    # ------------------------------------------------------------ wiring

    def bind(self, base_url: str) -> None:
        """Tell the stand-in its public URL (used for url/html_url/clone_url fields)."""
        with self._core.lock:
            self._core.state.bind(base_url)

    @property
    def base_url(self) -> str:
        return self._core.state.web

    @property
    def api_url(self) -> str:
        """`{base}/api/v3`, the `base_url` to give PyGithub."""
        return self._core.state.api

    def close(self) -> None:
        """Stop the webhook thread (pending deliveries are dropped)."""
        self._core.hooks.close()

    # ------------------------------------------------------------ setup

    def add_app(self, app_id: int, public_key_pem: str, slug: str = "issuesmith", *, owner: str | None = None,
                permissions: dict[str, str] | None = None, events: Iterable[str] | None = None) -> None:
        """Register a GitHub App; its bot user is `<slug>[bot]` (type Bot)."""
        self._core.add_app(app_id, public_key_pem, slug, owner, permissions, list(events) if events else None)

    def add_user(self, login: str, type: str = "User", *, email: str | None = None) -> str:
        """Create a person (or org) and return a personal token to act as them through the API."""
        return self._core.add_user(login, type, email)

    def add_installation(self, installation_id: int, account: str, repos: list[str] | None = None, *,
                         app_id: int | None = None) -> None:
        """Install the app on `account` (created as an Organization if unknown).

        `repos` (names or full names) makes it a "selected" installation; None means "all"
        of the account's repositories. `add_repo(..., installation_id)` also selects a repo.
        """
        self._core.add_installation(installation_id, account, repos, app_id)

    def add_repo(self, full_name: str, installation_id: int | None, source: Path | dict[str, str] | None = None,
                 default_branch: str = "main", *, private: bool = True, description: str | None = None) -> None:
        """Create a bare repository with one commit of `source` (a directory or {path: content})."""
        self._core.add_repo(full_name, installation_id, source, default_branch, private, description)

    def set_permission(self, full_name: str, login: str, role: str) -> None:
        """Grant `login` a role on the repo: admin|maintain|write|triage|read|none."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        with self._core.lock:
            repo = self._repo(full_name)
            self._core.state.ensure_user(login)
            repo.roles[login.lower()] = role

    def create_issue(self, full_name: str, author: str, title: str, body: str, labels: Iterable[str] = (), *,
                     notify: bool = False) -> int:
        """Open an issue (silently, unless `notify`: then `issues.opened` is delivered)."""
        repo = self._repo(full_name)
        return self._core.create_issue(repo, author, title, body, list(labels), notify=notify).number

    def set_webhook(self, url: str | None, secret: str, events: Iterable[str] | None = None) -> None:
        """Where (and with which secret) the app's webhooks go; `events` narrows the app's events."""
        self._core.hooks.configure(url, secret, set(events) if events is not None else None)

    def expire_tokens(self) -> None:
        """Make every installation token expire now (the next use answers 401)."""
        with self._core.lock:
            for token in self._core.state.tokens.values():
                if token.kind == "installation":
                    token.expires_at = utcnow()

    # ------------------------------------------------------------ people acting

    def label_issue(self, full_name: str, number: int, label: str, by: str) -> None:
        """`by` adds a label (created if new): `issues.labeled` (or `pull_request.labeled`)."""
        repo = self._repo(full_name)
        self._core.state.ensure_user(by)
        self._call(lambda: self._core.add_labels(repo, self._core.issue(repo, number), [label], by))

    def unlabel_issue(self, full_name: str, number: int, label: str, by: str) -> None:
        repo = self._repo(full_name)
        self._call(lambda: self._core.remove_label(repo, self._core.issue(repo, number), label, by))

    def comment(self, full_name: str, number: int, body: str, by: str) -> int:
        """`by` comments on an issue or pull request: `issue_comment.created`; returns the id."""
        repo = self._repo(full_name)
        self._core.state.ensure_user(by)
        return self._call(lambda: self._core.add_comment(repo, number, body, by, None)).id

    def edit_comment(self, full_name: str, comment_id: int, body: str, by: str) -> None:
        """`by` edits a comment: `issue_comment.edited` with `changes.body.from`."""
        repo = self._repo(full_name)
        self._call(lambda: self._core.edit_comment(repo, comment_id, body, by))

    def delete_comment(self, full_name: str, comment_id: int, by: str) -> None:
        repo = self._repo(full_name)
        self._call(lambda: self._core.delete_comment(repo, comment_id, by))

    def react(self, full_name: str, number: int, content: str, by: str, comment_id: int | None = None) -> None:
        """`by` reacts to an issue or one of its comments (GitHub sends no webhook for this)."""
        if content not in REACTIONS:
            raise ValueError(f"content must be one of {REACTIONS}")
        repo = self._repo(full_name)
        self._core.state.ensure_user(by)
        with self._core.lock:
            target = (self._core.comment(repo, comment_id) if comment_id is not None
                      else self._core.issue(repo, number))
            self._core.react(target.reactions, content, by)

    def close_issue(self, full_name: str, number: int, by: str, reason: str = "completed") -> None:
        """`by` closes an issue or pull request: `issues.closed` / `pull_request.closed`."""
        repo = self._repo(full_name)
        self._call(lambda: self._core.set_state(repo, self._core.issue(repo, number), "closed", by, reason))

    def review_pull(self, full_name: str, number: int, by: str, event: str = "APPROVE", body: str = "",
                    comments: Iterable[tuple[str, int, str]] = ()) -> int:
        """`by` submits a review (APPROVE|REQUEST_CHANGES|COMMENT), with inline `comments` given as
        (path, line, body): `pull_request_review_comment.created` for each, then
        `pull_request_review.submitted`."""
        repo = self._repo(full_name)
        self._core.state.ensure_user(by)
        specs = [{"path": path, "line": line, "body": text} for path, line, text in comments]
        return self._call(lambda: self._core.submit_review(repo, number, by, event, body, specs)).id

    def review_comment(self, full_name: str, number: int, body: str, by: str, path: str, line: int = 1) -> int:
        """`by` comments on a line of the diff: `pull_request_review_comment.created` and a
        `pull_request_review.submitted` (state commented), as a single review comment does."""
        repo = self._repo(full_name)
        self._core.state.ensure_user(by)
        return self._call(lambda: self._core.add_review_comment(repo, number, by, body, path, line)).id

    def merge_pull(self, full_name: str, number: int, by: str, method: str = "merge") -> str:
        """`by` merges a pull request (merge|squash): `pull_request.closed` with merged true."""
        repo = self._repo(full_name)
        return self._call(lambda: self._core.merge_pull(repo, number, by, method))

    def push_commit(self, full_name: str, branch: str, files: dict[str, str | None], by: str,
                    message: str = "Update files") -> str:
        """`by` pushes one commit on `branch` (created from the default branch if new) that
        writes (or, for None, deletes) `files`; open pulls from that branch are synchronized."""
        repo = self._repo(full_name)
        user = self._core.state.ensure_user(by)
        email = user.email or f"{user.id}+{user.login}@users.noreply.github.com"
        env = {"GIT_AUTHOR_NAME": user.login, "GIT_AUTHOR_EMAIL": email,
               "GIT_COMMITTER_NAME": user.login, "GIT_COMMITTER_EMAIL": email}
        with self._core.lock:
            ref = f"refs/heads/{branch}"
            old = gitops.ref_exists(repo.path, ref)
            parent = old or gitops.ref_exists(repo.path, f"refs/heads/{repo.default_branch}")
            assert parent is not None
            index = {"GIT_INDEX_FILE": str(self._core.state.root / f".index-{repo.id}")}
            gitops.run_git(repo.path, "read-tree", parent, env=index)
            for path, content in files.items():
                if content is None:
                    gitops.run_git(repo.path, "update-index", "--index-info", env=index,  # mode 0 removes;
                                   input=f"0 {gitops.ZERO_SHA}\t{path}\n".encode())  # --force-remove needs a work tree
                    continue
                blob = gitops.run_git(repo.path, "hash-object", "-w", "--stdin", input=content.encode()).stdout
                gitops.run_git(repo.path, "update-index", "--add", "--cacheinfo",
                               f"100644,{blob.decode().strip()},{path}", env=index)
            tree = gitops.out(repo.path, "write-tree", env=index)
            sha = gitops.out(repo.path, "commit-tree", tree, "-p", parent, "-m", message, env=env)
            Path(index["GIT_INDEX_FILE"]).unlink(missing_ok=True)
            gitops.update_ref(repo.path, ref, sha, old or gitops.ZERO_SHA)
            self._core.record_push(repo, ref, old or gitops.ZERO_SHA, sha, user.login)
            return sha

    def ping(self, zen: str = "Keep it logically awesome.") -> None:
        """Send a `ping` delivery, as GitHub does when a webhook is set up."""
        hooks = self._core.hooks
        app = next(iter(self._core.state.apps.values()), None)
        payload: dict[str, Any] = {"zen": zen, "hook_id": hooks.hook_id, "hook": {
            "type": "App", "id": hooks.hook_id, "name": "web", "active": True,
            "events": sorted(app.events) if app else [], "config": {
                "content_type": "json", "insecure_ssl": "0", "url": hooks.url or ""},
            "updated_at": None, "created_at": None, "app_id": app.id if app else None,
            "deliveries_url": f"{self.api_url}/app/hook/deliveries"}}
        if app is not None:
            payload["hook"]["created_at"] = payload["hook"]["updated_at"] = (
                app.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
        hooks.emit("ping", None, payload)

    # ------------------------------------------------------------ inspection

    def comments(self, full_name: str, number: int) -> list[Comment]:
        repo = self._repo(full_name)
        with self._core.lock:
            issue = self._core_issue(repo, number)
            return [_comment(repo.comments[c]) for c in issue.comments]

    def reactions(self, full_name: str, number: int, comment_id: int | None = None) -> list[tuple[str, str]]:
        """(user, content) of each reaction on the issue, or on one of its comments."""
        repo = self._repo(full_name)
        with self._core.lock:
            if comment_id is not None:
                target = repo.comments[comment_id].reactions
            else:
                target = self._core_issue(repo, number).reactions
            return [(r.user, r.content) for r in target]

    def labels(self, full_name: str, number: int) -> list[str]:
        repo = self._repo(full_name)
        with self._core.lock:
            return [repo.labels[k].name for k in self._core_issue(repo, number).labels]

    def issue_state(self, full_name: str, number: int) -> str:
        repo = self._repo(full_name)
        return self._core_issue(repo, number).state

    def branches(self, full_name: str) -> dict[str, str]:
        """Branch name -> sha, read from the bare repository."""
        return gitops.branches(self._repo(full_name).path)

    def pulls(self, full_name: str) -> list[Pull]:
        repo = self._repo(full_name)
        with self._core.lock:
            result = []
            for pull in sorted(repo.pulls.values(), key=lambda x: x.number):
                issue = repo.issues[pull.number]
                result.append(Pull(number=pull.number, title=issue.title, body=issue.body, head=pull.head,
                                   base=pull.base, draft=pull.draft, state=issue.state, user=issue.user,
                                   head_sha=pull.head_sha, merged=pull.merged))
            return result

    def reviews(self, full_name: str, number: int) -> list[Review]:
        repo = self._repo(full_name)
        with self._core.lock:
            pull = repo.pulls[number]
            return [Review(r.id, r.number, r.user, r.state, r.body, r.commit_id)
                    for r in (repo.reviews[i] for i in pull.reviews)]

    def review_comments(self, full_name: str, number: int) -> list[ReviewComment]:
        """The inline review comments of a pull request, replies included, oldest first."""
        repo = self._repo(full_name)
        with self._core.lock:
            return [ReviewComment(c.id, c.review_id, c.user, c.body, c.path, c.line, c.in_reply_to)
                    for c in (repo.review_comments[i] for i in repo.pulls[number].review_comments)]

    def repo_path(self, full_name: str) -> Path:
        """The bare repository on disk."""
        return self._repo(full_name).path

    @property
    def manifest_apps(self) -> list[ManifestApp]:
        """Apps registered through the app-manifest flow (`{base}/settings/apps/new`), in order."""
        return list(self._core.manifests.created)

    def sign_in(self, login: str) -> None:
        """Who the web pages act for (the owner of an app registered without an org); default octocat."""
        self._core.manifests.web_login = login

    @property
    def pushes(self) -> list[Push]:
        """Every ref update: git pushes (`via` "git"), API ref writes ("api"), merges ("merge")."""
        return self._core.pushes

    @property
    def exchanges(self) -> list[Exchange]:
        """Every REST call, in the order answered."""
        return self._core.exchanges

    @property
    def deliveries(self) -> list[Delivery]:
        """Every webhook delivery attempt, in the order sent."""
        return self._core.hooks.deliveries

    def wait_for_deliveries(self, timeout: float = 10.0) -> None:
        """Block until the delivery queue is drained (TimeoutError after `timeout` seconds)."""
        self._core.hooks.wait(timeout)

    def redeliver(self, guid: str) -> None:
        """Send a past delivery again: same payload, same X-GitHub-Delivery, as GitHub's redelivery."""
        self._core.hooks.redeliver(guid)

    def fail_next(self, method: str, path_regex: str, status: int, times: int = 1,
                  headers: dict[str, str] | None = None, body: Any = None) -> None:
        """Answer the next `times` requests whose method matches (or "*") and whose path (REST:
        without /api/v3; git: /owner/repo.git/...) matches `path_regex` (re.search) with `status`."""
        with self._core.lock:
            self._core.faults.append(Fault(method.upper() if method != "*" else "*", re.compile(path_regex),
                                           status, times, dict(headers or {}), body))

    def rate_limit_next(self, method: str, path_regex: str, kind: str, times: int = 1,
                        retry_after: int | None = None, reset_in: int = 3600) -> None:
        """Answer the next `times` matching requests as GitHub does over a rate limit.

        "Rate limits for the REST API", *Exceeding the rate limit*
        (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit):
        `kind` "primary": 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` (epoch seconds,
        `reset_in` from now); "secondary": 403 with a message that names the secondary limit and, when
        given, `retry-after`; "429": the same secondary answer with status 429, which the page allows too.
        """
        if kind == "primary":
            headers = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-used": "5000",
                       "x-ratelimit-reset": str(int(time.time()) + reset_in), "x-ratelimit-resource": "core"}
            message = "API rate limit exceeded for installation ID 4242."
        elif kind in ("secondary", "429"):
            headers = {} if retry_after is None else {"retry-after": str(retry_after)}
            message = ("You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
                       "If you reach out to GitHub Support for help, please include the request ID.")
        else:
            raise ValueError(f"unknown rate limit kind {kind!r}")
        doc = ("https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
               + ("#about-secondary-rate-limits" if kind != "primary" else ""))
        self.fail_next(method, path_regex, 429 if kind == "429" else 403, times, headers,
                       {"message": message, "documentation_url": doc})

    # ------------------------------------------------------------ internals

    def _repo(self, full_name: str) -> RepoRec:
        with self._core.lock:
            return self._core.repo(full_name)

    def _core_issue(self, repo: RepoRec, number: int) -> Any:
        try:
            return self._core.issue(repo, number)
        except ApiError as exc:
            raise KeyError(f"no issue #{number} in {repo.full_name}") from exc

    def _call(self, action: Any) -> Any:
        try:
            return action()
        except ApiError as exc:
            raise ValueError(f"GitHub would refuse: {exc.status} {exc.body()}") from exc
