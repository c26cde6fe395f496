"""Records and public dataclasses of the GitHub stand-in (see `standins.github`).

The mutable `*Rec` classes are the stand-in's own state, guarded by `State.lock`; the frozen
dataclasses (`Comment`, `Pull`, `Push`, `Exchange`, `Delivery`, ...) are what tests read.
"""

from __future__ import annotations

import base64
import itertools
import secrets
import string
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROLES: tuple[str, ...] = ("none", "read", "triage", "write", "maintain", "admin")
ROLE_RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}
REACTIONS: tuple[str, ...] = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
DEFAULT_APP_PERMISSIONS: dict[str, str] = {
    "contents": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
}
DEFAULT_APP_EVENTS: tuple[str, ...] = (
    "issues",
    "issue_comment",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
)
DEFAULT_LABEL_COLORS: dict[str, str] = {
    "bug": "d73a4a",
    "documentation": "0075ca",
    "duplicate": "cfd3d7",
    "enhancement": "a2eeef",
    "good first issue": "7057ff",
    "help wanted": "008672",
    "invalid": "e4e669",
    "question": "d876e3",
    "wontfix": "ffffff",
}


def utcnow() -> datetime:
    """Now, in UTC, at second resolution (GitHub's timestamps have no fraction)."""
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 with a `Z`, as GitHub writes timestamps; None stays None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, ident: int) -> str:
    """A legacy-format global node id, e.g. `MDQ6VXNlcjE=` for ("User", 1)."""
    return base64.b64encode(f"0{len(kind)}:{kind}{ident}".encode()).decode()


def random_token(prefix: str) -> str:
    """A token like GitHub's: a prefix (`ghs_`, `ghp_`) and 36 alphanumerics."""
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(36))


def role_at_least(role: str, minimum: str) -> bool:
    """Whether `role` (admin|maintain|write|triage|read|none) is at least `minimum`."""
    return ROLE_RANK.get(role, 0) >= ROLE_RANK[minimum]


# ---------------------------------------------------------------- state records


@dataclass
class UserRec:
    id: int
    login: str
    type: str  # User | Bot | Organization
    created_at: datetime
    name: str | None = None
    email: str | None = None

    @property
    def node_id(self) -> str:
        kind = {"Bot": "Bot", "Organization": "Organization"}.get(self.type, "User")
        return node_id(kind, self.id)


@dataclass
class AppRec:
    id: int
    slug: str
    name: str
    public_key: Any
    owner: UserRec
    bot: UserRec
    client_id: str
    created_at: datetime
    permissions: dict[str, str]
    events: list[str]


@dataclass
class InstallationRec:
    id: int
    app_id: int
    account: UserRec
    repos: set[str]  # lower-cased full names explicitly selected
    selection: str  # all | selected
    permissions: dict[str, str]
    events: list[str]
    created_at: datetime

    @property
    def node_id(self) -> str:
        return node_id("Installation", self.id)


@dataclass
class TokenRec:
    token: str
    kind: str  # installation | user
    login: str
    expires_at: datetime | None
    installation_id: int | None = None
    repos: frozenset[str] | None = None  # lower-cased full names, when down-scoped
    permissions: dict[str, str] | None = None


@dataclass
class LabelRec:
    id: int
    name: str
    color: str
    description: str | None
    default: bool


@dataclass
class ReactionRec:
    id: int
    user: str
    content: str
    created_at: datetime


@dataclass
class CommentRec:
    id: int
    number: int
    user: str
    body: str
    created_at: datetime
    updated_at: datetime
    via_app: int | None = None
    reactions: list[ReactionRec] = field(default_factory=list)


@dataclass
class IssueEventRec:
    """One entry of an issue's event list (`labeled`/`unlabeled`: who, when, which label)."""

    id: int
    event: str
    actor: str
    created_at: datetime
    label: str
    color: str


@dataclass
class IssueRec:
    id: int
    number: int
    title: str
    body: str | None
    user: str
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    state_reason: str | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    labels: list[str] = field(default_factory=list)  # lower-cased label keys
    comments: list[int] = field(default_factory=list)
    reactions: list[ReactionRec] = field(default_factory=list)
    locked: bool = False
    is_pull: bool = False
    via_app: int | None = None
    events: list[IssueEventRec] = field(default_factory=list)


@dataclass
class PullRec:
    id: int
    number: int
    head: str
    base: str
    head_sha: str
    base_sha: str
    draft: bool
    maintainer_can_modify: bool = False
    merged: bool = False
    merged_at: datetime | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    reviews: list[int] = field(default_factory=list)
    review_comments: list[int] = field(default_factory=list)


@dataclass
class ReviewRec:
    id: int
    number: int
    user: str
    body: str
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED | PENDING
    commit_id: str
    submitted_at: datetime


@dataclass
class ReviewCommentRec:
    id: int
    number: int
    review_id: int
    user: str
    body: str
    path: str
    line: int
    side: str
    commit_id: str
    diff_hunk: str
    created_at: datetime
    updated_at: datetime
    in_reply_to: int | None = None
    reactions: list[ReactionRec] = field(default_factory=list)


@dataclass
class RepoRec:
    id: int
    owner: UserRec
    name: str
    private: bool
    default_branch: str
    path: Path
    created_at: datetime
    updated_at: datetime
    pushed_at: datetime
    description: str | None = None
    labels: dict[str, LabelRec] = field(default_factory=dict)
    issues: dict[int, IssueRec] = field(default_factory=dict)
    pulls: dict[int, PullRec] = field(default_factory=dict)
    comments: dict[int, CommentRec] = field(default_factory=dict)
    reviews: dict[int, ReviewRec] = field(default_factory=dict)
    review_comments: dict[int, ReviewCommentRec] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)  # lower-cased login -> role
    next_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    @property
    def key(self) -> str:
        return self.full_name.lower()


class State:
    """Everything the stand-in knows, behind one re-entrant lock."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = threading.RLock()
        self.web = "http://localhost"
        self.api = "http://localhost/api/v3"
        self.bound = False
        self.users: dict[str, UserRec] = {}
        self.apps: dict[int, AppRec] = {}
        self.installations: dict[int, InstallationRec] = {}
        self.repos: dict[str, RepoRec] = {}
        self.tokens: dict[str, TokenRec] = {}
        self._ids = itertools.count(1_000_001)
        self._user_ids = itertools.count(100_001)

    def next_id(self) -> int:
        return next(self._ids)

    def bind(self, base_url: str) -> None:
        self.web = base_url.rstrip("/")
        self.api = f"{self.web}/api/v3"
        self.bound = True

    def user(self, login: str) -> UserRec | None:
        return self.users.get(login.lower())

    def ensure_user(self, login: str, type: str = "User") -> UserRec:
        found = self.user(login)
        if found is None:
            found = UserRec(id=next(self._user_ids), login=login, type=type, created_at=utcnow())
            self.users[login.lower()] = found
        return found

    def repo(self, owner: str, name: str) -> RepoRec | None:
        return self.repos.get(f"{owner}/{name}".lower())

    def repo_by_full_name(self, full_name: str) -> RepoRec:
        found = self.repos.get(full_name.lower())
        if found is None:
            raise KeyError(f"no repository {full_name!r}")
        return found

    def installation_for(self, repo: RepoRec) -> InstallationRec | None:
        """The installation (of any registered app) that covers `repo`, if one does."""
        for inst in self.installations.values():
            if self.covers(inst, repo):
                return inst
        return None

    def covers(self, inst: InstallationRec, repo: RepoRec) -> bool:
        if repo.key in inst.repos:
            return True
        return inst.selection == "all" and repo.owner.login.lower() == inst.account.login.lower()

    def app_for_bot(self, login: str) -> AppRec | None:
        for app in self.apps.values():
            if app.bot.login.lower() == login.lower():
                return app
        return None

    def role(self, repo: RepoRec, login: str) -> str:
        """A person's role on a repository: explicit grant, else admin for a personal owner."""
        explicit = repo.roles.get(login.lower())
        if explicit is not None:
            return explicit
        if repo.owner.type == "User" and repo.owner.login.lower() == login.lower():
            return "admin"
        return "none"


# ---------------------------------------------------------------- public views


@dataclass(frozen=True)
class Comment:
    """An issue (or pull request conversation) comment, as a test sees it."""

    id: int
    user: str
    body: str
    created_at: datetime
    updated_at: datetime
    number: int = 0
    performed_via_app: int | None = None


@dataclass(frozen=True)
class Pull:
    """A pull request, as a test sees it."""

    number: int
    title: str
    body: str | None
    head: str
    base: str
    draft: bool
    state: str
    user: str
    head_sha: str = ""
    merged: bool = False


@dataclass(frozen=True)
class Review:
    """A submitted pull request review."""

    id: int
    number: int
    user: str
    state: str
    body: str
    commit_id: str


@dataclass(frozen=True)
class ReviewComment:
    """An inline review comment (or a reply in its thread), as a test sees it."""

    id: int
    review_id: int
    user: str
    body: str
    path: str
    line: int
    in_reply_to: int | None = None


@dataclass(frozen=True)
class Push:
    """One ref update; `old`/`new` are 40 zeros when absent.

    `via` is "git" for git-receive-pack, "api" for the git refs endpoints, "merge" for a merge.
    """

    repo: str
    ref: str
    old: str
    new: str
    actor: str | None
    via: str = "git"


@dataclass(frozen=True)
class Exchange:
    """One REST call: path has no /api/v3 prefix; `injected` marks a `fail_next` answer.

    `actor` is the login acting (the bot's `<slug>[bot]` for installation tokens), `app/<slug>`
    for an app JWT, or None when anonymous or unauthenticated.
    """

    method: str
    path: str
    query: dict[str, str]
    request_json: Any
    status: int
    response_json: Any
    actor: str | None
    injected: bool = False
    response_headers: dict[str, str] = field(default_factory=dict)
    at: float = 0.0
    """When the stand-in answered (time.time()), for benchmarks that time a flow by what GitHub saw."""


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery attempt; status_code 0 means the connection failed."""

    guid: str
    event: str
    action: str | None
    payload: dict[str, Any]
    status_code: int
    redelivery: bool = False
    error: str | None = None
    at: float = 0.0
    """When the app answered the delivery (time.time())."""


@dataclass
class Fault:
    """A pending `fail_next` injection."""

    method: str
    pattern: Any
    status: int
    remaining: int
    headers: dict[str, str]
    body: Any
