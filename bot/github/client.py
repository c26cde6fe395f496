"""The only module that talks to GitHub: a facade over PyGithub with methods named by intent.

`GitHubApp` holds the app's identity (JWT → installation tokens, cached until shortly
before they expire); `RepoGateway` acts on one repository with an installation token.
Comments we may post twice (a re-run job) are *upserted* through a hidden marker. Every body sent
passes `fitting.guard`: our renderers build bodies that fit GitHub's limit, and one that does not is
cut (its marker line kept) with a warning rather than refused by GitHub with a 422.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import github
from github import Auth
from urllib3.util import Retry

from bot.core.redact import Redactor
from bot.github.comments import carries_marker
from bot.github.fitting import guard
from bot.github.pacing import WritePacer
from bot.github.ratelimit import RateLimitRetry
from bot.runs.issue import IssueInfo

TOKEN_MARGIN_SECONDS = 300
WRITE_PERMISSIONS = frozenset({"admin", "write"})


def _http_retry(max_rate_wait: float, sleep: Callable[[float], None] = time.sleep) -> Retry:
    """In-client retries: 5xx with backoff for idempotent requests, rate limits for every request.

    `RateLimitRetry` (`bot.github.ratelimit`) waits as GitHub asks (`retry-after`, `x-ratelimit-reset`,
    at least a minute for a bare secondary limit), at most `max_rate_wait` seconds in all for one
    call; a longer wait raises `GitHubRateLimited` and the job is retried after it. A 5xx POST is
    never replayed here (it may hide a comment that was created); it fails to the job, whose retry
    upserts by marker instead.
    """
    return RateLimitRetry(max_rate_wait, sleep=sleep, total=4, backoff_factor=0.3,
                          status_forcelist=[429, 500, 502, 503, 504],
                          allowed_methods=Retry.DEFAULT_ALLOWED_METHODS | {"PATCH"}, raise_on_status=False)


@dataclass(frozen=True)
class CommentRef:
    """A comment we posted or found: its id, when GitHub created it, its web address."""

    id: int
    created_at: str
    html_url: str = ""


@dataclass(frozen=True)
class PullRef:
    """A pull request we opened or found."""

    number: int
    html_url: str
    draft: bool
    head: str
    base: str


class GitHubApp:
    """The GitHub App: mints installation tokens and hands out per-repository gateways."""

    def __init__(self, app_id: int, private_key: str, api_url: str, redactor: Redactor,
                 bot_login: str | None = None, spacing: tuple[float, float] = (0.25, 1.0),
                 max_rate_wait: float = 120.0, sleep: Callable[[float], None] = time.sleep,
                 pacer: WritePacer | None = None) -> None:
        """`max_rate_wait`: most seconds one call waits out rate limits; `sleep` waits (tests record it); `pacer`:
        spaces the writes of each installation across processes (`spacing[1]` then spaces only one client's)."""
        self.api_url = api_url
        self._spacing = spacing
        self._pacer = pacer
        self._retry = (max_rate_wait, sleep)
        self._integration = github.GithubIntegration(
            auth=Auth.AppAuth(app_id, private_key), base_url=api_url, retry=_http_retry(*self._retry))
        self._redactor = redactor
        self._tokens: dict[int, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._bot_login = bot_login

    def installation_token(self, installation_id: int) -> str:
        """An installation token, reused until five minutes before it expires."""
        with self._lock:
            cached = self._tokens.get(installation_id)
            if cached and cached[1] - time.time() > TOKEN_MARGIN_SECONDS:
                return cached[0]
            grant = self._integration.get_access_token(installation_id)
            expires = grant.expires_at or datetime.now(UTC)
            self._tokens[installation_id] = (grant.token, expires.timestamp())
            self._redactor.add(grant.token)
            return grant.token

    def bot_login(self) -> str:
        """Our own login (`<slug>[bot]`), to recognise our comments."""
        if self._bot_login is None:
            self._bot_login = f"{self._integration.get_app().slug}[bot]"
        return self._bot_login

    def learn_bot_login(self) -> str:
        """`bot_login`, asked now, with the connection it used closed after: a worker does this before RQ forks a
        process per job, so no job asks again (`GET /app` was one request of every job) and none of them shares
        a socket the worker opened."""
        try:
            return self.bot_login()
        finally:
            self._integration.close()

    def write_turn(self, installation_id: int) -> contextlib.AbstractContextManager[None]:
        """A block whose first write to GitHub was waited for before the block began (`WritePacer.turn`)."""
        return self._pacer.turn(installation_id) if self._pacer else contextlib.nullcontext()

    def repo(self, installation_id: int, full_name: str) -> RepoGateway:
        """A gateway acting on `full_name` as the installation."""
        token = self.installation_token(installation_id)
        pacer = self._pacer
        client = github.Github(auth=Auth.Token(token), base_url=self.api_url, retry=_http_retry(*self._retry),
                               seconds_between_requests=self._spacing[0],
                               seconds_between_writes=0 if pacer else self._spacing[1], lazy=True)
        if pacer is None:
            return RepoGateway(client, full_name, self.bot_login(), token)
        return RepoGateway(client, full_name, self.bot_login(), token, pace=lambda: pacer.wait(installation_id))


class RepoGateway:
    """Actions on one repository, named by what the bot means to do."""

    def __init__(self, client: github.Github, full_name: str, bot_login: str, token: str,
                 pace: Callable[[], None] = lambda: None) -> None:
        """`pace`: called before each write, sleeping until the installation may write again."""
        self._client = client
        self._pace = pace
        self._repo = client.get_repo(full_name)  # lazy: fetched only if an attribute is read
        self.full_name = full_name
        self.bot_login = bot_login
        self.token = token

    def permission(self, login: str) -> str:
        """The person's permission on the repository: admin, write, read or none.

        GitHub reports `maintain` (and custom roles based on write) as `write`, so this is
        the value to gate on; `author_association` in payloads is never trusted for that.
        """
        try:
            return str(self._repo.get_collaborator_permission(login) or "none")
        except github.GithubException as exc:
            if exc.status == 404:  # not a user, or not visible to us
                return "none"
            raise

    def can_write(self, login: str) -> bool:
        """Whether the person has write, maintain or admin permission."""
        return self.permission(login) in WRITE_PERMISSIONS

    def issue(self, number: int) -> IssueInfo:
        """Title, body, author, labels and state of an issue."""
        issue = self._repo.get_issue(number)
        return IssueInfo(number, issue.title, issue.body or "", issue.user.login,
                         tuple(label.name for label in issue.labels), issue.state)

    def label_added_by(self, number: int, label: str) -> str | None:
        """Who last added `label` (compared case-insensitively) to an issue, or None if no event says so.

        Read from "List issue events" (https://docs.github.com/rest/issues/events#list-issue-events),
        oldest first: each `labeled` event carries its `actor` and `label.name`.
        """
        wanted, adder = label.casefold(), None
        for event in self._repo.get_issue(number).get_events():
            if event.event == "labeled" and event.label is not None and event.label.name.casefold() == wanted:
                adder = event.actor.login if event.actor is not None else None
        return adder

    def default_branch(self) -> str:
        """The repository's default branch."""
        return str(self._repo.default_branch)

    def clone_url(self) -> str:
        """The HTTPS clone address (without credentials)."""
        return str(self._repo.clone_url)

    def file_text(self, path: str) -> str | None:
        """A file's text on the default branch, or None when there is no such file.

        A symlink counts as no file: GitHub answers a link to a regular file of the repository with
        that file, any other link with `"type": "symlink"` and its `target` ("Get repository content",
        https://docs.github.com/rest/repos/contents#get-repository-content); that is logged, never followed.
        """
        try:
            found = self._repo.get_contents(path)
        except github.GithubException as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(found, list) and found.type == "symlink":
            logging.getLogger("issuesmith.github").warning(
                f"{path} in {self.full_name} is ignored: it is a symlink (to {found.target!r}) that does not "
                "lead to a file of the repository; commit the file itself there")
            return None
        if isinstance(found, list) or found.type != "file":
            return None
        return found.decoded_content.decode("utf-8", errors="replace")

    def react_to_issue(self, number: int, content: str) -> None:
        """Add a reaction (e.g. `eyes`) to an issue."""
        self._pace()
        self._repo.get_issue(number).create_reaction(content)

    def react_to_comment(self, number: int, comment_id: int, content: str) -> None:
        """Add a reaction (e.g. `+1`) to an issue comment."""
        self._pace()
        self._repo.get_issue(number).get_comment(comment_id).create_reaction(content)

    def post_comment(self, number: int, body: str) -> CommentRef:
        """Post a new comment on an issue."""
        self._pace()
        comment = self._repo.get_issue(number).create_comment(guard(body, "comment"))
        return _ref(comment)

    def edit_comment(self, number: int, comment_id: int, body: str) -> CommentRef:
        """Replace the body of one of our comments."""
        comment = self._repo.get_issue(number).get_comment(comment_id)
        self._pace()
        comment.edit(guard(body, "comment"))
        return _ref(comment)

    def comment_body(self, number: int, comment_id: int) -> str:
        """The current body of a comment."""
        return str(self._repo.get_issue(number).get_comment(comment_id).body or "")

    def find_comment(self, number: int, marker: str) -> CommentRef | None:
        """Our comment on the issue that carries `marker` (as its first line), if there is one."""
        for comment in self._repo.get_issue(number).get_comments():
            if comment.user.login == self.bot_login and carries_marker(comment.body or "", marker):
                return _ref(comment)
        return None

    def upsert_comment(self, number: int, marker: str, body: str, known_id: int | None) -> CommentRef:
        """Edit the comment carrying `marker` (by id, else found by search) or post it."""
        if not carries_marker(body, marker):
            raise ValueError("an upserted comment must start with its marker")
        existing = known_id or (found.id if (found := self.find_comment(number, marker)) else None)
        if existing:
            return self.edit_comment(number, existing, body)
        return self.post_comment(number, body)


    def branch_head(self, branch: str) -> str | None:
        """The commit a branch points at, or None when it does not exist."""
        try:
            return str(self._repo.get_git_ref(f"heads/{branch}").object.sha)
        except github.GithubException as exc:
            if exc.status == 404:
                return None
            raise

    def find_open_pull(self, head_branch: str) -> PullRef | None:
        """Our open pull request from `head_branch`, if there is one (a re-run never opens a second)."""
        owner = self.full_name.split("/", 1)[0]
        for pull in self._repo.get_pulls(state="open", head=f"{owner}:{head_branch}"):
            return _pull(pull)
        return None

    def open_pull(self, head: str, base: str, title: str, body: str, draft: bool) -> PullRef:
        """Open a pull request from our branch `head` into `base`."""
        self._pace()
        return _pull(self._repo.create_pull(base=base, head=head, title=title, body=guard(body, "pull request body"),
                                            draft=draft))

    def update_pull(self, number: int, title: str, body: str) -> PullRef:
        """Replace the title and body of one of our pull requests."""
        pull = self._repo.get_pull(number)
        self._pace()
        pull.edit(title=title, body=guard(body, "pull request body"))
        return _pull(pull)


    # the bot's pull request: reviews, replies, its branch ----------------------------------
    def pull_text(self, number: int) -> tuple[str, str]:
        """The title and body of a pull request."""
        pull = self._repo.get_pull(number)
        return str(pull.title or ""), str(pull.body or "")

    def review_request(self, number: int, review_id: int) -> ReviewRequest:
        """A review of pull request `number`: who wrote it, its body, state and inline comments."""
        pull = self._repo.get_pull(number)
        review = pull.get_review(review_id)
        notes = [ReviewNote(c.id, c.path, int(c.line or c.original_line or 0), c.body or "", c.user.login)
                 for c in pull.get_single_review_comments(review_id)]
        return ReviewRequest(review_id, review.user.login, review.body or "", str(review.state), tuple(notes))

    def review_replies(self, number: int) -> dict[int, list[str]]:
        """The bodies of our replies in the review threads of a pull request, by the comment answered."""
        found: dict[int, list[str]] = {}
        for comment in self._repo.get_pull(number).get_review_comments():
            if comment.user.login == self.bot_login and comment.in_reply_to_id:
                found.setdefault(int(comment.in_reply_to_id), []).append(comment.body or "")
        return found

    def reply_to_review_comment(self, number: int, comment_id: int, body: str) -> int:
        """Answer an inline review comment in its thread; returns the reply's id."""
        self._pace()
        return int(self._repo.get_pull(number).create_review_comment_reply(comment_id, guard(body, "review reply")).id)

    def delete_branch(self, branch: str) -> bool:
        """Delete a branch; False when it was already gone (a re-run deletes nothing twice)."""
        # PyGithub's lazy `get_git_ref(...).delete()` would DELETE `/git/ref/...`, which is not an endpoint
        url = f"{self._repo.url}/git/refs/heads/{urllib.parse.quote(branch)}"
        self._pace()
        try:
            self._client.requester.requestJsonAndCheck("DELETE", url)
        except github.GithubException as exc:
            if exc.status in (404, 422):
                return False
            raise
        return True


@dataclass(frozen=True)
class ReviewNote:
    """One inline comment of a review: where it points and what it says."""

    id: int
    path: str
    line: int
    body: str
    author: str


@dataclass(frozen=True)
class ReviewRequest:
    """A submitted pull request review with its inline comments."""

    id: int
    author: str
    body: str
    state: str
    comments: tuple[ReviewNote, ...]


def _pull(pull: github.PullRequest.PullRequest) -> PullRef:
    return PullRef(pull.number, pull.html_url, bool(pull.draft), pull.head.ref, pull.base.ref)


def _ref(comment: github.IssueComment.IssueComment) -> CommentRef:
    created = comment.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return CommentRef(comment.id, created, comment.html_url)
