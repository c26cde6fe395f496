"""Domain operations of the GitHub stand-in: authentication, access checks, and state changes.

Every change that GitHub would announce also queues the webhook GitHub would send, whoever
made it (a person through `FakeGitHub`'s action methods, or a client through the REST API).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from standins import github_git as gitops
from standins.github_errors import DOCS, ApiError, check_body_length, not_found, validation
from standins.github_hooks import WebhookSender
from standins.github_manifest import Manifests
from standins.github_model import (
    DEFAULT_APP_EVENTS,
    DEFAULT_APP_PERMISSIONS,
    DEFAULT_LABEL_COLORS,
    REACTIONS,
    AppRec,
    CommentRec,
    Exchange,
    Fault,
    InstallationRec,
    IssueEventRec,
    IssueRec,
    LabelRec,
    PullRec,
    Push,
    ReactionRec,
    RepoRec,
    ReviewCommentRec,
    ReviewRec,
    State,
    TokenRec,
    random_token,
    role_at_least,
    utcnow,
)
from standins.github_render import Json, Renderer

JWT_DRIFT = 60  # seconds of clock drift GitHub tolerates
JWT_MAX_LIFETIME = 600  # seconds between iat and exp


@dataclass
class Actor:
    """Who is calling: anonymous, an app (JWT), an installation (token) or a person (token)."""

    kind: str
    login: str | None = None
    app: AppRec | None = None
    installation: InstallationRec | None = None
    token: TokenRec | None = None

    @property
    def label(self) -> str | None:
        if self.kind == "app" and self.app is not None:
            return f"app/{self.app.slug}"
        return self.login

    @property
    def via_app(self) -> int | None:
        return self.app.id if self.kind == "installation" and self.app is not None else None


class Core:
    """The stand-in's state and everything that changes it."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.state = State(root)
        self.render = Renderer(self.state)
        self.hooks = WebhookSender()
        self.pushes: list[Push] = []
        self.exchanges: list[Exchange] = []
        self.faults: list[Fault] = []
        self.manifests = Manifests(self)

    @property
    def lock(self) -> Any:
        return self.state.lock

    @property
    def repos_root(self) -> Path:
        return self.state.root / "repos"

    # ------------------------------------------------------------ setup

    def add_app(self, app_id: int, public_key_pem: str, slug: str, owner: str | None,
                permissions: dict[str, str] | None, events: list[str] | None) -> AppRec:
        key = serialization.load_pem_public_key(public_key_pem.encode())
        with self.lock:
            owner_rec = self.state.ensure_user(owner or f"{slug}-owner", "Organization" if owner is None else "User")
            bot = self.state.ensure_user(f"{slug}[bot]", "Bot")
            app = AppRec(
                id=app_id,
                slug=slug,
                name=slug,
                public_key=key,
                owner=owner_rec,
                bot=bot,
                client_id=f"Iv1.{secrets.token_hex(8)}",
                created_at=utcnow(),
                permissions=dict(permissions or DEFAULT_APP_PERMISSIONS),
                events=list(events or DEFAULT_APP_EVENTS),
            )
            self.state.apps[app_id] = app
            self.hooks.target_id = app_id
            return app

    def add_user(self, login: str, type: str, email: str | None) -> str:
        with self.lock:
            user = self.state.ensure_user(login, type)
            user.type = type
            if email is not None:
                user.email = email
            token = random_token("ghp_")
            self.state.tokens[token] = TokenRec(token=token, kind="user", login=user.login, expires_at=None)
            return token

    def add_installation(self, installation_id: int, account: str, repos: list[str] | None,
                         app_id: int | None) -> InstallationRec:
        with self.lock:
            if app_id is None:
                if not self.state.apps:
                    raise ValueError("add_app first")
                app_id = next(iter(self.state.apps))
            app = self.state.apps[app_id]
            account_rec = self.state.user(account) or self.state.ensure_user(account, "Organization")
            selected = {self._full(account_rec.login, name) for name in repos or []}
            inst = InstallationRec(
                id=installation_id,
                app_id=app_id,
                account=account_rec,
                repos=selected,
                selection="all" if repos is None else "selected",
                permissions=dict(app.permissions),
                events=list(app.events),
                created_at=utcnow(),
            )
            self.state.installations[installation_id] = inst
            return inst

    @staticmethod
    def _full(owner: str, name: str) -> str:
        return (name if "/" in name else f"{owner}/{name}").lower()

    def add_repo(self, full_name: str, installation_id: int | None, source: Path | dict[str, str] | None,
                 default_branch: str, private: bool, description: str | None) -> RepoRec:
        owner_login, _, name = full_name.partition("/")
        if not owner_login or not name or "/" in name:
            raise ValueError(f"full_name must be owner/name, not {full_name!r}")
        with self.lock:
            if self.state.repo(owner_login, name) is not None:
                raise ValueError(f"{full_name} exists")
            owner = self.state.user(owner_login) or self.state.ensure_user(owner_login, "Organization")
            path = self.repos_root / owner.login / f"{name}.git"
            gitops.init_bare(path, default_branch)
            gitops.seed(path, default_branch, source if source is not None else {"README.md": f"# {name}\n"},
                        "Initial commit")
            now = utcnow()
            repo = RepoRec(
                id=self.state.next_id(),
                owner=owner,
                name=name,
                private=private,
                default_branch=default_branch,
                path=path,
                created_at=now,
                updated_at=now,
                pushed_at=now,
                description=description,
            )
            for label_name, color in DEFAULT_LABEL_COLORS.items():
                repo.labels[label_name] = LabelRec(self.state.next_id(), label_name, color, None, True)
            self.state.repos[repo.key] = repo
            if installation_id is not None:
                self.state.installations[installation_id].repos.add(repo.key)
            return repo

    def repo(self, full_name: str) -> RepoRec:
        return self.state.repo_by_full_name(full_name)

    def issue(self, repo: RepoRec, number: int) -> IssueRec:
        found = repo.issues.get(number)
        if found is None:
            raise not_found()
        return found

    def create_issue(self, repo: RepoRec, author: str, title: str, body: str | None, labels: list[str],
                     via_app: int | None = None, notify: bool = False) -> IssueRec:
        with self.lock:
            self.state.ensure_user(author)
            now = utcnow()
            issue = IssueRec(
                id=self.state.next_id(),
                number=repo.next_number,
                title=title,
                body=body,
                user=author,
                created_at=now,
                updated_at=now,
                via_app=via_app,
            )
            repo.next_number += 1
            repo.issues[issue.number] = issue
            for label in labels:
                issue.labels.append(self.ensure_label(repo, label).name.lower())
            if notify:
                self.emit(repo, "issues", "opened", author, issue=self.render.issue(repo, issue))
            return issue

    # ------------------------------------------------------------ authentication

    def authenticate(self, authorization: str | None) -> Actor:
        """Resolve an Authorization header (token, Bearer JWT/token, Basic) to an actor."""
        if not authorization:
            return Actor("anonymous")
        scheme, _, credential = authorization.strip().partition(" ")
        scheme, credential = scheme.lower(), credential.strip()
        if scheme == "basic":
            try:
                user, _, password = base64.b64decode(credential).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise ApiError(401, "Bad credentials") from exc
            credential = password or user
        elif scheme not in ("token", "bearer"):
            raise ApiError(401, "Bad credentials")
        if credential.count(".") == 2 and credential.startswith("eyJ"):
            return self._authenticate_jwt(credential)
        with self.lock:
            token = self.state.tokens.get(credential)
            if token is None or (token.expires_at is not None and token.expires_at <= utcnow()):
                raise ApiError(401, "Bad credentials")
            if token.kind == "installation":
                inst = self.state.installations.get(token.installation_id or -1)
                if inst is None:
                    raise ApiError(401, "Bad credentials")
                app = self.state.apps[inst.app_id]
                return Actor("installation", app.bot.login, app=app, installation=inst, token=token)
            return Actor("user", token.login, token=token)

    def _authenticate_jwt(self, credential: str) -> Actor:
        undecodable = ApiError(401, "A JSON web token could not be decoded")
        try:
            header = jwt.get_unverified_header(credential)
            claims = jwt.decode(credential, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise undecodable from exc
        if header.get("alg") != "RS256":
            raise undecodable
        try:
            app_id = int(str(claims.get("iss")))
        except ValueError as exc:
            raise ApiError(401, "'Issuer' claim ('iss') must be an Integer") from exc
        with self.lock:
            app = self.state.apps.get(app_id)
        if app is None:
            raise ApiError(404, "Integration not found", doc=f"{DOCS}/apps/apps")
        try:
            jwt.decode(
                credential,
                app.public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise undecodable from exc
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int | float) or iat > now + JWT_DRIFT:
            raise ApiError(401, "'Issued at' claim ('iat') must be an Integer representing the time that the "
                                "assertion was issued")
        if not isinstance(exp, int | float) or exp <= now - JWT_DRIFT:
            raise ApiError(401, "'Expiration time' claim ('exp') must be a numeric value representing the "
                                "future time at which the assertion expires")
        if exp - iat > JWT_MAX_LIFETIME + JWT_DRIFT or exp > now + JWT_MAX_LIFETIME + JWT_DRIFT:
            raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
        return Actor("app", None, app=app)

    def require_app(self, actor: Actor) -> AppRec:
        """The app behind a JWT; any other credential (or none) is refused like GitHub does."""
        if actor.kind == "app" and actor.app is not None:
            return actor.app
        raise ApiError(401, "A JSON web token could not be decoded")

    def create_installation_token(self, app: AppRec, installation_id: int, request: Json) -> Json:
        with self.lock:
            inst = self.state.installations.get(installation_id)
            if inst is None or inst.app_id != app.id:
                raise not_found()
            permissions = dict(inst.permissions)
            asked = request.get("permissions") or {}
            if not isinstance(asked, dict):
                raise ApiError(422, "Invalid request.\n\nFor 'properties/permissions', it is not an object.")
            if asked:
                order = {"read": 1, "write": 2, "admin": 3}
                for name, level in asked.items():
                    if order.get(str(level), 9) > order.get(permissions.get(name, ""), 0):
                        raise ApiError(422, "The permissions requested are not granted to this installation.")
                permissions = {str(k): str(v) for k, v in asked.items()}
                permissions.setdefault("metadata", "read")
            scoped: list[RepoRec] | None = None
            names = request.get("repositories")
            ids = request.get("repository_ids")
            if names or ids:
                scoped = []
                for repo in self.state.repos.values():
                    if not self.state.covers(inst, repo):
                        continue
                    if (names and repo.name in names) or (ids and repo.id in ids):
                        scoped.append(repo)
                if len(scoped) != len(names or []) + len(ids or []):
                    raise ApiError(422, "There is at least one repository that does not exist or is not "
                                        "accessible to the parent installation.")
            value = random_token("ghs_")
            expires = utcnow() + timedelta(hours=1)
            self.state.tokens[value] = TokenRec(
                token=value,
                kind="installation",
                login=app.bot.login,
                expires_at=expires,
                installation_id=inst.id,
                repos=frozenset(r.key for r in scoped) if scoped is not None else None,
                permissions=permissions,
            )
            data: Json = {
                "token": value,
                "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "permissions": permissions,
                "repository_selection": "selected" if scoped is not None else inst.selection,
            }
            if scoped is not None:
                data["repositories"] = [self.render.repo(r) for r in scoped]
            return data

    # ------------------------------------------------------------ access

    def installation_repos(self, actor: Actor) -> list[RepoRec]:
        assert actor.installation is not None
        repos = [r for r in self.state.repos.values() if self.state.covers(actor.installation, r)]
        if actor.token is not None and actor.token.repos is not None:
            repos = [r for r in repos if r.key in actor.token.repos]
        return sorted(repos, key=lambda r: r.id)

    def role_of(self, actor: Actor, repo: RepoRec) -> str:
        """The actor's role on the repository, as `admin`...`none`."""
        if actor.kind == "user" and actor.login is not None:
            role = self.state.role(repo, actor.login)
            if role == "none" and not repo.private:
                return "read"
            return role
        if actor.kind == "installation" and actor.installation is not None:
            visible = self.state.covers(actor.installation, repo) and (
                actor.token is None or actor.token.repos is None or repo.key in actor.token.repos
            )
            return "write" if visible else "none"
        return "read" if not repo.private else "none"

    def access(self, actor: Actor, owner: str, name: str, permission: str = "metadata", level: str = "read",
               role: str = "read") -> RepoRec:
        """The repository if the actor may do this; else 404 (invisible), 401 or 403 like GitHub."""
        with self.lock:
            repo = self.state.repo(owner, name)
            if repo is None:
                raise not_found()
            have = self.role_of(actor, repo)
            if have == "none":
                raise not_found()
            if actor.kind == "installation":
                perms = (actor.token.permissions if actor.token and actor.token.permissions is not None
                         else (actor.installation.permissions if actor.installation else {}))
                granted = perms.get(permission, "read" if permission == "metadata" else "")
                order = {"": 0, "read": 1, "write": 2, "admin": 3}
                if order.get(granted, 0) < order[level]:
                    raise ApiError(403, "Resource not accessible by integration",
                                   headers={"X-Accepted-GitHub-Permissions": f"{permission}={level}"})
                return repo
            if actor.kind in ("anonymous", "app"):
                if role != "read" or level != "read":
                    raise ApiError(401, "Requires authentication")
                return repo
            if not role_at_least(have, role):
                raise ApiError(403, "Must have push access to repository" if role_at_least(role, "write")
                               else "Resource not accessible by personal access token")
            return repo

    # ------------------------------------------------------------ webhooks

    def emit(self, repo: RepoRec, event: str, action: str | None, sender: str, **fields: Any) -> None:
        """Queue the delivery GitHub would send to the app installed on `repo` (if it is)."""
        inst = self.state.installation_for(repo)
        if inst is None:
            return
        app = self.state.apps[inst.app_id]
        if event not in inst.events and event not in app.events:
            return
        payload: Json = {}
        if action is not None:
            payload["action"] = action
        payload.update(fields)
        payload["repository"] = {**self.render.repo(repo), "custom_properties": {}}
        if repo.owner.type == "Organization":
            payload["organization"] = self.render.organization(repo.owner)
        payload["sender"] = self.render.login(sender)
        payload["installation"] = {"id": inst.id, "node_id": inst.node_id}
        self.hooks.emit(event, action, payload)

    # ------------------------------------------------------------ labels

    def ensure_label(self, repo: RepoRec, name: str) -> LabelRec:
        with self.lock:
            key = name.lower()
            label = repo.labels.get(key)
            if label is None:
                label = LabelRec(self.state.next_id(), name, "ededed", None, False)
                repo.labels[key] = label
            return label

    def add_labels(self, repo: RepoRec, issue: IssueRec, names: list[str], actor: str) -> None:
        with self.lock:
            for name in names:
                label = self.ensure_label(repo, name)
                if label.name.lower() in issue.labels:
                    continue
                issue.labels.append(label.name.lower())
                issue.updated_at = utcnow()
                self._record_event(issue, "labeled", actor, label)
                self._issue_event(repo, issue, "labeled", actor, label=self.render.label(repo, label))

    def remove_label(self, repo: RepoRec, issue: IssueRec, name: str, actor: str) -> None:
        with self.lock:
            key = name.lower()
            if key not in issue.labels:
                raise ApiError(404, "Label does not exist")
            issue.labels.remove(key)
            issue.updated_at = utcnow()
            self._record_event(issue, "unlabeled", actor, repo.labels[key])
            self._issue_event(repo, issue, "unlabeled", actor, label=self.render.label(repo, repo.labels[key]))

    def _record_event(self, issue: IssueRec, event: str, actor: str, label: LabelRec) -> None:
        """Keep a label change in the issue's event list (served by `GET .../issues/{number}/events`)."""
        issue.events.append(IssueEventRec(self.state.next_id(), event, actor, issue.updated_at, label.name,
                                          label.color))

    def _issue_event(self, repo: RepoRec, issue: IssueRec, action: str, actor: str, **extra: Any) -> None:
        if issue.is_pull:
            pull = repo.pulls[issue.number]
            self.emit(repo, "pull_request", action, actor, number=issue.number,
                      pull_request=self.render.pull(repo, pull), **extra)
        else:
            self.emit(repo, "issues", action, actor, issue=self.render.issue(repo, issue), **extra)

    def edit_issue(self, repo: RepoRec, issue: IssueRec, changes: Json, actor: str) -> None:
        with self.lock:
            edited: Json = {}
            for field_name in ("title", "body"):
                if field_name in changes and changes[field_name] != getattr(issue, field_name):
                    edited[field_name] = {"from": getattr(issue, field_name)}
                    setattr(issue, field_name, changes[field_name])
            check_body_length("Issue", issue.body)
            if edited:
                issue.updated_at = utcnow()
                self._issue_event(repo, issue, "edited", actor, changes=edited)
            if "labels" in changes and changes["labels"] is not None:
                wanted = [str(x["name"] if isinstance(x, dict) else x) for x in changes["labels"]]
                for key in list(issue.labels):
                    if key not in {w.lower() for w in wanted}:
                        self.remove_label(repo, issue, key, actor)
                self.add_labels(repo, issue, wanted, actor)
            state = changes.get("state")
            if state in ("open", "closed") and state != issue.state:
                self.set_state(repo, issue, state, actor, changes.get("state_reason"))

    def set_state(self, repo: RepoRec, issue: IssueRec, state: str, actor: str, reason: str | None = None) -> None:
        with self.lock:
            now = utcnow()
            issue.state = state
            issue.updated_at = now
            if state == "closed":
                issue.closed_at, issue.closed_by = now, actor
                issue.state_reason = None if issue.is_pull else (reason or "completed")
            else:
                issue.closed_at, issue.closed_by = None, None
                issue.state_reason = None if issue.is_pull else "reopened"
            self._issue_event(repo, issue, "closed" if state == "closed" else "reopened", actor)

    # ------------------------------------------------------------ comments and reactions

    def add_comment(self, repo: RepoRec, number: int, body: str, actor: str, via_app: int | None) -> CommentRec:
        check_body_length("IssueComment", body)
        with self.lock:
            issue = self.issue(repo, number)
            now = utcnow()
            comment = CommentRec(self.state.next_id(), number, actor, body, now, now, via_app)
            repo.comments[comment.id] = comment
            issue.comments.append(comment.id)
            issue.updated_at = now
            self.emit(repo, "issue_comment", "created", actor, issue=self.render.issue(repo, issue),
                      comment=self.render.comment(repo, comment))
            return comment

    def comment(self, repo: RepoRec, comment_id: int) -> CommentRec:
        found = repo.comments.get(comment_id)
        if found is None:
            raise not_found()
        return found

    def edit_comment(self, repo: RepoRec, comment_id: int, body: str, actor: str) -> CommentRec:
        check_body_length("IssueComment", body)
        with self.lock:
            comment = self.comment(repo, comment_id)
            old = comment.body
            comment.body = body
            comment.updated_at = utcnow()
            issue = repo.issues[comment.number]
            self.emit(repo, "issue_comment", "edited", actor, changes={"body": {"from": old}},
                      issue=self.render.issue(repo, issue), comment=self.render.comment(repo, comment))
            return comment

    def delete_comment(self, repo: RepoRec, comment_id: int, actor: str) -> None:
        with self.lock:
            comment = self.comment(repo, comment_id)
            issue = repo.issues[comment.number]
            payload = self.render.comment(repo, comment)
            del repo.comments[comment_id]
            issue.comments.remove(comment_id)
            self.emit(repo, "issue_comment", "deleted", actor, issue=self.render.issue(repo, issue), comment=payload)

    def react(self, reactions: list[ReactionRec], content: str, actor: str) -> tuple[ReactionRec, bool]:
        if content not in REACTIONS:
            raise validation("Reaction", field="content")
        with self.lock:
            for reaction in reactions:
                if reaction.user.lower() == actor.lower() and reaction.content == content:
                    return reaction, False
            reaction = ReactionRec(self.state.next_id(), actor, content, utcnow())
            reactions.append(reaction)
            return reaction, True

    # ------------------------------------------------------------ pull requests

    def open_pull(self, repo: RepoRec, request: Json, actor: str, via_app: int | None) -> PullRec:
        doc = f"{DOCS}/pulls/pulls#create-a-pull-request"
        for required in ("head", "base"):
            if not isinstance(request.get(required), str):
                raise ApiError(422, f'Invalid request.\n\n"{required}" wasn\'t supplied.', doc=doc)
        title = request.get("title")
        if not isinstance(title, str) or not title.strip():
            raise validation("PullRequest", field="title", code="missing_field", doc=doc)
        body = request.get("body")
        check_body_length("PullRequest", body)
        head, base = str(request["head"]), str(request["base"])
        if ":" in head:
            head_owner, _, head = head.partition(":")
            if head_owner.lower() != repo.owner.login.lower():
                raise validation("PullRequest", field="head", doc=doc)
        with self.lock:
            base_sha = gitops.ref_exists(repo.path, f"refs/heads/{base}")
            if base_sha is None:
                raise validation("PullRequest", field="base", doc=doc)
            head_sha = gitops.ref_exists(repo.path, f"refs/heads/{head}")
            if head_sha is None:
                raise validation("PullRequest", field="head", doc=doc)
            for other in repo.pulls.values():
                if other.head == head and other.base == base and repo.issues[other.number].state == "open":
                    raise validation("PullRequest", code="custom", doc=doc,
                                     message=f"A pull request already exists for {repo.owner.login}:{head}.")
            if head == base or gitops.count_commits(repo.path, base_sha, head_sha) == 0:
                raise validation("PullRequest", code="custom", doc=doc,
                                 message=f"No commits between {base} and {head}")
            issue = self.create_issue(repo, actor, title, body, [], via_app=via_app)
            issue.is_pull = True
            pull = PullRec(
                id=self.state.next_id(),
                number=issue.number,
                head=head,
                base=base,
                head_sha=head_sha,
                base_sha=base_sha,
                draft=bool(request.get("draft", False)),
                maintainer_can_modify=bool(request.get("maintainer_can_modify", False)),
            )
            repo.pulls[pull.number] = pull
            self.emit(repo, "pull_request", "opened", actor, number=pull.number,
                      pull_request=self.render.pull(repo, pull))
            return pull

    def pull(self, repo: RepoRec, number: int) -> PullRec:
        found = repo.pulls.get(number)
        if found is None:
            raise not_found()
        return found

    def update_pull(self, repo: RepoRec, number: int, request: Json, actor: str) -> PullRec:
        with self.lock:
            pull = self.pull(repo, number)
            issue = repo.issues[number]
            check_body_length("PullRequest", request.get("body"))
            if "base" in request and request["base"] != pull.base:
                base_sha = gitops.ref_exists(repo.path, f"refs/heads/{request['base']}")
                if base_sha is None:
                    raise validation("PullRequest", field="base")
                pull.base, pull.base_sha = str(request["base"]), base_sha
            if "maintainer_can_modify" in request:
                pull.maintainer_can_modify = bool(request["maintainer_can_modify"])
            state = request.get("state")
            if state == "open" and issue.state == "closed":
                if pull.merged:
                    raise validation("PullRequest", code="custom", message="state cannot be changed. The pull "
                                     "request cannot be reopened because it has been merged.")
                for other in repo.pulls.values():
                    if (other is not pull and other.head == pull.head and other.base == pull.base
                            and repo.issues[other.number].state == "open"):
                        raise validation("PullRequest", code="custom", message="A pull request already "
                                         f"exists for {repo.owner.login}:{pull.head}.")
            self.edit_issue(repo, issue, {k: request[k] for k in ("title", "body") if k in request}, actor)
            if state in ("open", "closed") and state != issue.state:
                self.set_state(repo, issue, state, actor)
            return pull

    def merge_pull(self, repo: RepoRec, number: int, actor: str, method: str = "merge",
                   title: str | None = None, message: str | None = None, sha: str | None = None) -> str:
        with self.lock:
            pull = self.pull(repo, number)
            issue = repo.issues[number]
            if pull.merged or issue.state != "open":
                raise ApiError(405, "Pull Request is not mergeable")
            if pull.draft:
                raise ApiError(405, "Pull Request is still a draft")
            if method not in ("merge", "squash"):
                raise ApiError(405, "Rebase merges are not allowed on this repository."
                               if method == "rebase" else f"Invalid merge method {method}")
            head_sha = gitops.ref_exists(repo.path, f"refs/heads/{pull.head}") or pull.head_sha
            if sha is not None and sha != head_sha:
                raise ApiError(409, "Head branch was modified. Review and try the merge again.")
            base_ref = f"refs/heads/{pull.base}"
            base_sha = gitops.ref_exists(repo.path, base_ref)
            if base_sha is None:
                raise ApiError(405, "Pull Request is not mergeable")
            if method == "squash":
                headline = title or f"{issue.title} (#{number})"
            else:
                headline = title or f"Merge pull request #{number} from {repo.owner.login}/{pull.head}"
            body = message if message is not None else (issue.title if method == "merge" else "")
            text = f"{headline}\n\n{body}".rstrip() + "\n"
            merged = gitops.merge(repo.path, base_sha, head_sha, text, squash=method == "squash")
            if merged is None:
                raise ApiError(405, "Pull Request is not mergeable")
            stats_base = base_sha
            gitops.update_ref(repo.path, base_ref, merged, base_sha)
            self.pushes.append(Push(repo.full_name, base_ref, base_sha, merged, actor, via="merge"))
            now = utcnow()
            pull.head_sha, pull.base_sha = head_sha, stats_base
            pull.merged, pull.merged_at, pull.merged_by, pull.merge_commit_sha = True, now, actor, merged
            repo.pushed_at = now
            issue.state, issue.closed_at, issue.closed_by, issue.updated_at = "closed", now, actor, now
            self.emit(repo, "pull_request", "closed", actor, number=number,
                      pull_request=self.render.pull(repo, pull))
            return merged

    def submit_review(self, repo: RepoRec, number: int, actor: str, event: str, body: str,
                      comments: list[Json] | None = None) -> ReviewRec:
        states = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}
        if event not in states:
            raise validation("PullRequestReview", field="event")
        if event in ("REQUEST_CHANGES", "COMMENT") and not body and not comments:
            raise ApiError(422, "Unprocessable Entity", errors=[
                "Review Can not request changes on pull request without a body" if event == "REQUEST_CHANGES"
                else "Review Comment is missing"])
        check_body_length("PullRequestReview", body)
        with self.lock:
            pull = self.pull(repo, number)
            review = ReviewRec(self.state.next_id(), number, actor, body, states[event], pull.head_sha, utcnow())
            repo.reviews[review.id] = review
            pull.reviews.append(review.id)
            for spec in comments or []:
                self._review_comment(repo, pull, review, actor, str(spec.get("body", "")), str(spec["path"]),
                                     int(spec.get("line") or spec.get("position") or 1), str(spec.get("side", "RIGHT")),
                                     None)
            self.emit(repo, "pull_request_review", "submitted", actor, review=self._review_hook(repo, review),
                      pull_request=self.render.pull(repo, pull, full=False))
            return review

    def add_review_comment(self, repo: RepoRec, number: int, actor: str, body: str, path: str, line: int,
                           side: str = "RIGHT", in_reply_to: int | None = None) -> ReviewCommentRec:
        check_body_length("PullRequestReviewComment", body)
        with self.lock:
            pull = self.pull(repo, number)
            review = ReviewRec(self.state.next_id(), number, actor, "", "COMMENTED", pull.head_sha, utcnow())
            repo.reviews[review.id] = review
            pull.reviews.append(review.id)
            comment = self._review_comment(repo, pull, review, actor, body, path, line, side, in_reply_to)
            self.emit(repo, "pull_request_review", "submitted", actor, review=self._review_hook(repo, review),
                      pull_request=self.render.pull(repo, pull, full=False))
            return comment

    def _review_hook(self, repo: RepoRec, review: ReviewRec) -> Json:
        """A review as webhook payloads carry it: the REST shape, but the state in lower case."""
        return {**self.render.review(repo, review), "state": review.state.lower()}

    def _review_comment(self, repo: RepoRec, pull: PullRec, review: ReviewRec, actor: str, body: str, path: str,
                        line: int, side: str, in_reply_to: int | None) -> ReviewCommentRec:
        now = utcnow()
        hunk = gitops.diff_hunk(repo.path, pull.base_sha, pull.head_sha, path, line)
        comment = ReviewCommentRec(self.state.next_id(), pull.number, review.id, actor, body, path, line, side,
                                   pull.head_sha, hunk, now, now, in_reply_to)
        repo.review_comments[comment.id] = comment
        pull.review_comments.append(comment.id)
        self.emit(repo, "pull_request_review_comment", "created", actor,
                  comment=self.render.review_comment(repo, comment),
                  pull_request=self.render.pull(repo, pull, full=False))
        return comment

    # ------------------------------------------------------------ pushes

    def record_push(self, repo: RepoRec, ref: str, old: str, new: str, actor: str | None, via: str = "git") -> None:
        """Note a ref update (a push, or a ref written through the API) and resync open pulls."""
        with self.lock:
            self.pushes.append(Push(repo.full_name, ref, old, new, actor, via=via))
            repo.pushed_at = utcnow()
            if not ref.startswith("refs/heads/") or new == gitops.ZERO_SHA:
                return
            branch = ref[len("refs/heads/") :]
            for pull in repo.pulls.values():
                issue = repo.issues[pull.number]
                if issue.state == "open" and pull.head == branch and pull.head_sha != new:
                    before, pull.head_sha = pull.head_sha, new
                    issue.updated_at = utcnow()
                    self.emit(repo, "pull_request", "synchronize", actor or repo.owner.login, number=pull.number,
                              before=before, after=new, pull_request=self.render.pull(repo, pull))

