"""REST endpoints of the GitHub stand-in (paths as under `/api/v3` on GitHub Enterprise Server)."""

from __future__ import annotations

import logging
import posixpath
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from standins import github_git as gitops
from standins.github_core import Actor, Core
from standins.github_errors import DOCS, ApiError, not_found, validation
from standins.github_model import InstallationRec, ReactionRec, RepoRec, iso, role_at_least, utcnow
from standins.github_render import Json

log = logging.getLogger(__name__)
REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
RATE_LIMIT = 5000


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    actor: Actor


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[["Api", Request, dict[str, str]], Response]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append((method, re.compile(pattern + r"/?"), handler))
        return handler

    return register


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


class Api:
    """Dispatches one REST call to its handler; every outcome is a `Response`."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.render = core.render
        self._rate: dict[str, tuple[int, int]] = {}

    def handle(self, method: str, path: str, query: dict[str, str], body: Any,
               authorization: str | None) -> tuple[Response, Actor | None]:
        actor: Actor | None = None
        try:
            actor = self.core.authenticate(authorization)
            for route_method, pattern, handler in ROUTES:
                match = pattern.fullmatch(path)
                if match and route_method == method:
                    response = handler(self, Request(method, path, query, body, actor), match.groupdict())
                    break
            else:
                raise not_found()
        except ApiError as error:
            response = Response(error.status, error.body(), dict(error.headers))
        except Exception:  # a stand-in bug: answer like GitHub's 500 and keep serving
            log.exception("GitHub stand-in failed on %s %s", method, path)
            response = Response(500, {"message": "Server Error", "documentation_url": DOCS, "status": "500"})
        response.headers.update(self._rate_headers(actor))
        return response, actor

    def _rate_headers(self, actor: Actor | None) -> dict[str, str]:
        key = actor.label if actor and actor.label else "anonymous"
        limit = RATE_LIMIT if key != "anonymous" else 60
        now = int(time.time())
        used, reset = self._rate.get(key, (0, now + 3600))
        if reset <= now:
            used, reset = 0, now + 3600
        used += 1
        self._rate[key] = (used, reset)
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(limit - used, 0)),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Used": str(used),
            "X-RateLimit-Resource": "core",
        }

    # ------------------------------------------------------------ helpers

    def page(self, req: Request, items: list[Any], render: Callable[[Any], Json]) -> Response:
        """One page of `items` with GitHub's `Link` header (per_page default 30, max 100)."""
        per_page = min(max(_int(req.query.get("per_page"), 30), 1), 100)
        page = max(_int(req.query.get("page"), 1), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []

        def link(number: int, rel: str) -> str:
            query = {k: v for k, v in req.query.items() if k not in ("page", "per_page")}
            query.update({"per_page": str(per_page), "page": str(number)})
            return f'<{self.core.state.api}{req.path}?{urlencode(query)}>; rel="{rel}"'

        if page > 1:
            links.append(link(page - 1, "prev"))
        if page < last:
            links.append(link(page + 1, "next"))
            links.append(link(last, "last"))
        if page > 1:
            links.append(link(1, "first"))
        headers = {"Link": ", ".join(links)} if links else {}
        return Response(200, [render(item) for item in chunk], headers)

    def body(self, req: Request) -> Json:
        if req.body is None:
            return {}
        if not isinstance(req.body, dict):
            raise ApiError(400, "Problems parsing JSON")
        return req.body

    def acting(self, req: Request) -> str:
        if req.actor.login is None:
            raise ApiError(401, "Requires authentication")
        return req.actor.login

    def repo(self, req: Request, p: dict[str, str], permission: str = "metadata", level: str = "read",
             role: str = "read") -> RepoRec:
        return self.core.access(req.actor, p["owner"], p["repo"], permission, level, role)

    def may_edit(self, req: Request, repo: RepoRec, author: str, role: str = "triage") -> None:
        """People may edit their own things; others need `role` (installations pass)."""
        if req.actor.kind != "user" or req.actor.login is None:
            return
        if req.actor.login.lower() == author.lower():
            return
        if not role_at_least(self.core.role_of(req.actor, repo), role):
            raise ApiError(403, "Must have push access to repository")


# ---------------------------------------------------------------- apps


@route("GET", r"/app")
def get_app(api: Api, req: Request, p: dict[str, str]) -> Response:
    app = api.core.require_app(req.actor)
    return Response(200, api.render.app(app))


@route("GET", r"/app/installations")
def list_app_installations(api: Api, req: Request, p: dict[str, str]) -> Response:
    app = api.core.require_app(req.actor)
    installs = sorted((i for i in api.core.state.installations.values() if i.app_id == app.id), key=lambda i: i.id)

    def listed(inst: InstallationRec) -> Json:
        # This operation's published schema types `account` as allOf(simple-user, enterprise), so
        # the account also carries the enterprise-only required keys (harmless extras for clients).
        data = api.render.installation(inst)
        account = inst.account
        data["account"].update({"name": account.name or account.login, "slug": account.login.lower(),
                                "created_at": iso(account.created_at), "updated_at": iso(account.created_at)})
        return data

    return api.page(req, installs, listed)


@route("GET", r"/app/installations/(?P<iid>\d+)")
def get_app_installation(api: Api, req: Request, p: dict[str, str]) -> Response:
    app = api.core.require_app(req.actor)
    inst = api.core.state.installations.get(int(p["iid"]))
    if inst is None or inst.app_id != app.id:
        raise not_found()
    return Response(200, api.render.installation(inst))


@route("POST", r"/app/installations/(?P<iid>\d+)/access_tokens")
def create_access_token(api: Api, req: Request, p: dict[str, str]) -> Response:
    app = api.core.require_app(req.actor)
    return Response(201, api.core.create_installation_token(app, int(p["iid"]), api.body(req)))


@route("GET", REPO + r"/installation")
def get_repo_installation(api: Api, req: Request, p: dict[str, str]) -> Response:
    app = api.core.require_app(req.actor)
    repo = api.core.state.repo(p["owner"], p["repo"])
    inst = api.core.state.installation_for(repo) if repo else None
    if inst is None or inst.app_id != app.id:
        raise not_found()
    return Response(200, api.render.installation(inst))


@route("GET", r"/installation/repositories")
def list_installation_repos(api: Api, req: Request, p: dict[str, str]) -> Response:
    if req.actor.kind != "installation" or req.actor.installation is None:
        raise ApiError(403, "This endpoint can only be accessed with an installation token")
    repos = api.core.installation_repos(req.actor)
    listing = api.page(req, repos, api.render.repo)
    listing.body = {
        "total_count": len(repos),
        "repository_selection": req.actor.installation.selection,
        "repositories": listing.body,
    }
    return listing


# ---------------------------------------------------------------- users


def _public_user(api: Api, login: str) -> Json:
    user = api.core.state.user(login)
    if user is None:
        raise not_found()
    data = api.render.user(user)
    data.update(
        {
            "name": user.name,
            "company": None,
            "blog": "",
            "location": None,
            "email": user.email,
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "public_repos": sum(1 for r in api.core.state.repos.values() if r.owner is user and not r.private),
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": iso(user.created_at),
            "updated_at": iso(user.created_at),
        }
    )
    return data


@route("GET", r"/users/(?P<login>[^/]+)")
def get_user(api: Api, req: Request, p: dict[str, str]) -> Response:
    return Response(200, _public_user(api, p["login"]))


@route("GET", r"/user")
def get_authenticated_user(api: Api, req: Request, p: dict[str, str]) -> Response:
    if req.actor.kind == "anonymous":
        raise ApiError(401, "Requires authentication")
    if req.actor.kind != "user" or req.actor.login is None:
        raise ApiError(403, "Resource not accessible by integration")
    return Response(200, _public_user(api, req.actor.login))


@route("GET", r"/rate_limit")
def get_rate_limit(api: Api, req: Request, p: dict[str, str]) -> Response:
    now = int(time.time())
    core = {"limit": RATE_LIMIT, "remaining": RATE_LIMIT, "reset": now + 3600, "used": 0, "resource": "core"}
    return Response(200, {"resources": {"core": core}, "rate": core})


# ---------------------------------------------------------------- repositories


@route("GET", REPO)
def get_repo(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p)
    flags = None
    if req.actor.kind in ("user", "installation"):
        flags = api.render.permission_flags(api.core.role_of(req.actor, repo))
    return Response(200, api.render.repo(repo, full=True, permissions=flags))


@route("GET", REPO + r"/collaborators/(?P<username>[^/]+)/permission")
def get_collaborator_permission(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p)
    user = api.core.state.user(p["username"])
    if user is None:
        raise ApiError(404, f"{p['username']} is not a user", doc=f"{DOCS}/collaborators/collaborators")
    role = api.core.state.role(repo, user.login)
    if role == "none" and not repo.private:
        role = "read"
    permission = {"maintain": "write", "triage": "read"}.get(role, role)
    flags = api.render.permission_flags(role)
    person = api.render.user(user)
    person.update({"permissions": flags, "role_name": role})
    return Response(200, {"permission": permission, "role_name": role, "user": person})


# ---------------------------------------------------------------- issues


@route("GET", REPO + r"/issues")
def list_issues(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "read")
    state = req.query.get("state", "open")
    wanted = {x.strip().lower() for x in req.query.get("labels", "").split(",") if x.strip()}
    issues = [
        i for i in repo.issues.values()
        if (state == "all" or i.state == state) and wanted <= set(i.labels)
        and (not req.query.get("creator") or i.user.lower() == req.query["creator"].lower())
    ]
    reverse = req.query.get("direction", "desc") == "desc"
    key = "updated_at" if req.query.get("sort") == "updated" else "created_at"
    issues.sort(key=lambda i: (getattr(i, key), i.number), reverse=reverse)
    return api.page(req, issues, lambda i: api.render.issue(repo, i))


@route("GET", REPO + r"/issues/(?P<number>\d+)")
def get_issue(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "read")
    return Response(200, api.render.issue(repo, api.core.issue(repo, int(p["number"])), single=True))


@route("PATCH", REPO + r"/issues/(?P<number>\d+)")
def update_issue(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "write")
    issue = api.core.issue(repo, int(p["number"]))
    api.may_edit(req, repo, issue.user)
    api.core.edit_issue(repo, issue, api.body(req), api.acting(req))
    return Response(200, api.render.issue(repo, issue, single=True))


@route("GET", REPO + r"/issues/(?P<number>\d+)/comments")
def list_comments(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "read")
    issue = api.core.issue(repo, int(p["number"]))
    since = req.query.get("since")
    comments = [repo.comments[c] for c in issue.comments]
    if since:
        comments = [c for c in comments if (iso(c.updated_at) or "") >= since]
    return api.page(req, comments, lambda c: api.render.comment(repo, c))


def required_text(body: dict[str, Any], field: str) -> str:
    """The string `field` of a request body, or GitHub's 422 when it is missing."""
    value = body.get(field)
    if not isinstance(value, str):
        raise ApiError(422, f'Invalid request.\n\n"{field}" wasn\'t supplied.')
    return value


@route("POST", REPO + r"/issues/(?P<number>\d+)/comments")
def create_comment(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "write")
    body = required_text(api.body(req), "body")
    comment = api.core.add_comment(repo, int(p["number"]), body, api.acting(req), req.actor.via_app)
    data = api.render.comment(repo, comment)
    return Response(201, data, {"Location": data["url"]})


@route("GET", REPO + r"/issues/comments")
def list_repo_comments(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "read")
    comments = sorted(repo.comments.values(), key=lambda c: c.id)
    return api.page(req, comments, lambda c: api.render.comment(repo, c))


@route("GET", REPO + r"/issues/comments/(?P<cid>\d+)")
def get_comment(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "read")
    return Response(200, api.render.comment(repo, api.core.comment(repo, int(p["cid"]))))


@route("PATCH", REPO + r"/issues/comments/(?P<cid>\d+)")
def update_comment(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "write")
    comment = api.core.comment(repo, int(p["cid"]))
    body = required_text(api.body(req), "body")
    api.may_edit(req, repo, comment.user, role="write")
    api.core.edit_comment(repo, comment.id, body, api.acting(req))
    return Response(200, api.render.comment(repo, comment))


@route("DELETE", REPO + r"/issues/comments/(?P<cid>\d+)")
def delete_comment(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "write")
    comment = api.core.comment(repo, int(p["cid"]))
    api.may_edit(req, repo, comment.user, role="write")
    api.core.delete_comment(repo, comment.id, api.acting(req))
    return Response(204)


def _list_reactions(api: Api, req: Request, reactions: list[ReactionRec]) -> Response:
    content = req.query.get("content")
    items = [r for r in reactions if content is None or r.content == content]
    return api.page(req, items, api.render.reaction)


def _react(api: Api, req: Request, reactions: list[ReactionRec]) -> Response:
    content = api.body(req).get("content")
    if not isinstance(content, str):
        raise ApiError(422, 'Invalid request.\n\n"content" wasn\'t supplied.')
    reaction, created = api.core.react(reactions, content, api.acting(req))
    return Response(201 if created else 200, api.render.reaction(reaction))


@route("GET", REPO + r"/issues/(?P<number>\d+)/reactions")
def list_issue_reactions(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "read")
    return _list_reactions(api, req, api.core.issue(repo, int(p["number"])).reactions)


@route("POST", REPO + r"/issues/(?P<number>\d+)/reactions")
def create_issue_reaction(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "write")
    return _react(api, req, api.core.issue(repo, int(p["number"])).reactions)


@route("GET", REPO + r"/issues/comments/(?P<cid>\d+)/reactions")
def list_comment_reactions(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "read")
    return _list_reactions(api, req, api.core.comment(repo, int(p["cid"])).reactions)


@route("POST", REPO + r"/issues/comments/(?P<cid>\d+)/reactions")
def create_comment_reaction(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "write")
    return _react(api, req, api.core.comment(repo, int(p["cid"])).reactions)


# ---------------------------------------------------------------- labels


def _label_names(body: Any) -> list[str]:
    items = body.get("labels") if isinstance(body, dict) else body
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list) or not items:
        raise ApiError(422, 'Invalid request.\n\n"labels" wasn\'t supplied.')
    names = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name.strip():
            raise validation("Label", field="name", code="invalid")
        names.append(name.strip())
    return names


@route("GET", REPO + r"/labels")
def list_repo_labels(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "read")
    labels = sorted(repo.labels.values(), key=lambda label: label.name.lower())
    return api.page(req, labels, lambda label: api.render.label(repo, label))


@route("GET", REPO + r"/labels/(?P<name>.+)")
def get_repo_label(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "read")
    label = repo.labels.get(p["name"].lower())
    if label is None:
        raise not_found()
    return Response(200, api.render.label(repo, label))


@route("GET", REPO + r"/issues/(?P<number>\d+)/labels")
def list_issue_labels(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "read")
    issue = api.core.issue(repo, int(p["number"]))
    return api.page(req, [repo.labels[k] for k in issue.labels], lambda label: api.render.label(repo, label))


@route("GET", REPO + r"/issues/(?P<number>\d+)/events")
def list_issue_events(api: Api, req: Request, p: dict[str, str]) -> Response:
    """List issue events, oldest first (https://docs.github.com/rest/issues/events#list-issue-events);
    the stand-in records label changes, which carry who made them (`actor`) and the label."""
    repo = api.repo(req, p, "issues", "read")
    issue = api.core.issue(repo, int(p["number"]))
    return api.page(req, list(issue.events), lambda event: api.render.issue_event(repo, event))


def _issue_labels(api: Api, repo: RepoRec, number: int) -> Response:
    issue = api.core.issue(repo, number)
    return Response(200, [api.render.label(repo, repo.labels[k]) for k in issue.labels])


@route("POST", REPO + r"/issues/(?P<number>\d+)/labels")
def add_issue_labels(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "write", "triage")
    issue = api.core.issue(repo, int(p["number"]))
    api.core.add_labels(repo, issue, _label_names(req.body), api.acting(req))
    return _issue_labels(api, repo, issue.number)


@route("PUT", REPO + r"/issues/(?P<number>\d+)/labels")
def set_issue_labels(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "write", "triage")
    issue = api.core.issue(repo, int(p["number"]))
    api.core.edit_issue(repo, issue, {"labels": _label_names(req.body)}, api.acting(req))
    return _issue_labels(api, repo, issue.number)


@route("DELETE", REPO + r"/issues/(?P<number>\d+)/labels/(?P<name>.+)")
def remove_issue_label(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "write", "triage")
    issue = api.core.issue(repo, int(p["number"]))
    api.core.remove_label(repo, issue, p["name"], api.acting(req))
    return _issue_labels(api, repo, issue.number)


@route("DELETE", REPO + r"/issues/(?P<number>\d+)/labels")
def clear_issue_labels(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "issues", "write", "triage")
    issue = api.core.issue(repo, int(p["number"]))
    for key in list(issue.labels):
        api.core.remove_label(repo, issue, key, api.acting(req))
    return Response(204)


# ---------------------------------------------------------------- git data


def _full_ref(ref: str) -> str:
    return ref if ref.startswith("refs/") else f"refs/{ref}"


@route("GET", REPO + r"/git/ref/(?P<ref>.+)")
def get_ref(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "contents", "read")
    ref = _full_ref(p["ref"])
    sha = gitops.ref_exists(repo.path, ref) if ref.count("/") >= 2 else None
    if sha is None or ref not in gitops.list_refs(repo.path):
        raise ApiError(404, "Not Found", doc=f"{DOCS}/git/refs#get-a-reference")
    return Response(200, api.render.ref(repo, ref, sha))


@route("GET", REPO + r"/git/matching-refs/(?P<ref>.*)")
def list_matching_refs(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "contents", "read")
    prefix = _full_ref(p["ref"])
    refs = sorted((name, sha) for name, sha in gitops.list_refs(repo.path).items() if name.startswith(prefix))
    return Response(200, [api.render.ref(repo, name, sha) for name, sha in refs])


@route("POST", REPO + r"/git/refs")
def create_ref(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "contents", "write", "write")
    body = api.body(req)
    ref, sha = body.get("ref"), body.get("sha")
    if not isinstance(ref, str) or not isinstance(sha, str):
        raise ApiError(422, 'Invalid request.\n\n"ref", "sha" weren\'t supplied.')
    if not ref.startswith("refs/") or ref.count("/") < 2:
        raise ApiError(422, "Reference name must start with 'refs/' and have at least two slashes.")
    with api.core.lock:
        if gitops.ref_exists(repo.path, ref):
            raise ApiError(422, "Reference already exists")
        if gitops.resolve(repo.path, sha) != sha:
            raise ApiError(422, "Object does not exist")
        gitops.update_ref(repo.path, ref, sha, gitops.ZERO_SHA)
        api.core.record_push(repo, ref, gitops.ZERO_SHA, sha, req.actor.login, via="api")
    data = api.render.ref(repo, ref, sha)
    return Response(201, data, {"Location": data["url"]})


@route("PATCH", REPO + r"/git/refs/(?P<ref>.+)")
def update_ref(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "contents", "write", "write")
    ref = _full_ref(p["ref"])
    body = api.body(req)
    sha = body.get("sha")
    if not isinstance(sha, str):
        raise ApiError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
    with api.core.lock:
        old = gitops.ref_exists(repo.path, ref)
        if old is None:
            raise ApiError(422, "Reference does not exist")
        if gitops.resolve(repo.path, sha) != sha:
            raise ApiError(422, "Object does not exist")
        ancestor = gitops.run_git(repo.path, "merge-base", "--is-ancestor", old, sha, check=False).returncode == 0
        if not ancestor and not body.get("force"):
            raise ApiError(422, "Update is not a fast forward")
        gitops.update_ref(repo.path, ref, sha, old)
        api.core.record_push(repo, ref, old, sha, req.actor.login, via="api")
    return Response(200, api.render.ref(repo, ref, sha))


@route("DELETE", REPO + r"/git/refs/(?P<ref>.+)")
def delete_ref(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "contents", "write", "write")
    ref = _full_ref(p["ref"])
    with api.core.lock:
        old = gitops.ref_exists(repo.path, ref)
        if old is None:
            raise ApiError(422, "Reference does not exist")
        gitops.update_ref(repo.path, ref, gitops.ZERO_SHA, old)
        api.core.record_push(repo, ref, old, gitops.ZERO_SHA, req.actor.login, via="api")
    return Response(204)


@route("GET", REPO + r"/branches")
def list_branches(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "contents", "read")
    items = sorted(gitops.branches(repo.path).items())
    base = api.render.repo_api(repo)
    return api.page(req, items, lambda item: {
        "name": item[0],
        "commit": {"sha": item[1], "url": f"{base}/commits/{item[1]}"},
        "protected": False,
    })


@route("GET", REPO + r"/branches/(?P<branch>.+)")
def get_branch(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "contents", "read")
    sha = gitops.ref_exists(repo.path, f"refs/heads/{p['branch']}")
    if sha is None:
        raise ApiError(404, "Branch not found", doc=f"{DOCS}/branches/branches#get-a-branch")
    return Response(200, api.render.branch(repo, p["branch"], sha))


@route("GET", REPO + r"/contents(?:/(?P<path>.*))?")
def get_contents(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "contents", "read")
    ref = req.query.get("ref") or repo.default_branch
    commit = gitops.resolve(repo.path, ref)
    if commit is None:
        raise ApiError(404, f"No commit found for the ref {ref}", doc=f"{DOCS}/repos/contents#get-repository-content")
    path = (p.get("path") or "").strip("/")
    if gitops.is_tree(repo.path, commit, path):
        entries = gitops.ls_tree(repo.path, commit, path)
        return Response(200, [api.render.content(repo, ref, e, with_body=False) for e in entries])
    entries = gitops.ls_tree(repo.path, commit, path)
    if len(entries) != 1 or entries[0].path != path:
        raise ApiError(404, "Not Found", doc=f"{DOCS}/repos/contents#get-repository-content")
    return Response(200, api.render.content(repo, ref, _link_to_file(repo, commit, entries[0]), with_body=True))


def _link_to_file(repo: RepoRec, commit: str, entry: gitops.TreeEntry) -> gitops.TreeEntry:
    """The file a symlink leads to when that is a regular file of the same commit, else the entry itself.

    "If the content is a symlink and the symlink's target is a normal file in the repository, then
    the API responds with the content of the file. Otherwise, the API responds with an object
    describing the symlink itself." (https://docs.github.com/rest/repos/contents#get-repository-content)
    """
    if entry.mode != "120000":
        return entry
    target = gitops.read_blob(repo.path, entry.sha).decode(errors="surrogateescape")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(entry.path), target))
    if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
        return entry
    found = gitops.ls_tree(repo.path, commit, resolved)
    regular = len(found) == 1 and found[0].path == resolved and found[0].mode in ("100644", "100755")
    return found[0] if regular else entry


# ---------------------------------------------------------------- pull requests


@route("GET", REPO + r"/pulls")
def list_pulls(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "pull_requests", "read")
    state = req.query.get("state", "open")
    head = req.query.get("head")
    base = req.query.get("base")
    pulls = []
    for pull in repo.pulls.values():
        issue = repo.issues[pull.number]
        if state != "all" and issue.state != state:
            continue
        if head and ":" in head:
            owner, _, branch = head.partition(":")
            if owner.lower() != repo.owner.login.lower() or pull.head != branch:
                continue
        if base and pull.base != base:
            continue
        pulls.append(pull)
    sort = req.query.get("sort", "created")
    direction = req.query.get("direction", "desc" if sort == "created" else "asc")
    if sort == "updated":
        pulls.sort(key=lambda x: (repo.issues[x.number].updated_at, x.number), reverse=direction == "desc")
    else:
        pulls.sort(key=lambda x: x.number, reverse=direction == "desc")
    return api.page(req, pulls, lambda x: api.render.pull(repo, x, full=False))


@route("POST", REPO + r"/pulls")
def create_pull(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "pull_requests", "write", "write")
    pull = api.core.open_pull(repo, api.body(req), api.acting(req), req.actor.via_app)
    data = api.render.pull(repo, pull)
    return Response(201, data, {"Location": data["url"]})


@route("GET", REPO + r"/pulls/(?P<number>\d+)")
def get_pull(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "pull_requests", "read")
    return Response(200, api.render.pull(repo, api.core.pull(repo, int(p["number"]))))


@route("PATCH", REPO + r"/pulls/(?P<number>\d+)")
def update_pull(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "pull_requests", "write")
    pull = api.core.pull(repo, int(p["number"]))
    api.may_edit(req, repo, repo.issues[pull.number].user, role="write")
    api.core.update_pull(repo, pull.number, api.body(req), api.acting(req))
    return Response(200, api.render.pull(repo, pull))


@route("GET", REPO + r"/pulls/(?P<number>\d+)/merge")
def check_merged(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "pull_requests", "read")
    if not api.core.pull(repo, int(p["number"])).merged:
        raise not_found()
    return Response(204)


@route("PUT", REPO + r"/pulls/(?P<number>\d+)/merge")
def merge_pull(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "contents", "write", "write")
    body = api.body(req)
    sha = api.core.merge_pull(
        repo, int(p["number"]), api.acting(req), str(body.get("merge_method") or "merge"),
        body.get("commit_title"), body.get("commit_message"), body.get("sha"),
    )
    return Response(200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"})


@route("GET", REPO + r"/pulls/(?P<number>\d+)/reviews")
def list_reviews(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "pull_requests", "read")
    pull = api.core.pull(repo, int(p["number"]))
    return api.page(req, [repo.reviews[r] for r in pull.reviews], lambda r: api.render.review(repo, r))


@route("POST", REPO + r"/pulls/(?P<number>\d+)/reviews")
def create_review(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "pull_requests", "write")
    body = api.body(req)
    event = body.get("event")
    if not isinstance(event, str):
        raise ApiError(422, 'Invalid request.\n\n"event" wasn\'t supplied (pending reviews are not supported '
                            "by this stand-in).")
    comments = body.get("comments") or []
    review = api.core.submit_review(repo, int(p["number"]), api.acting(req), event,
                                    str(body.get("body") or ""), comments)
    return Response(200, api.render.review(repo, review))


@route("GET", REPO + r"/pulls/(?P<number>\d+)/reviews/(?P<rid>\d+)")
def get_review(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "pull_requests", "read")
    pull = api.core.pull(repo, int(p["number"]))
    if int(p["rid"]) not in pull.reviews:
        raise not_found()
    return Response(200, api.render.review(repo, repo.reviews[int(p["rid"])]))


@route("GET", REPO + r"/pulls/(?P<number>\d+)/reviews/(?P<rid>\d+)/comments")
def list_review_comments_of_review(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "pull_requests", "read")
    pull = api.core.pull(repo, int(p["number"]))
    rid = int(p["rid"])
    if rid not in pull.reviews:
        raise not_found()
    comments = [repo.review_comments[c] for c in pull.review_comments if repo.review_comments[c].review_id == rid]
    return api.page(req, comments, lambda c: api.render.review_comment(repo, c))


@route("POST", REPO + r"/pulls/(?P<number>\d+)/comments/(?P<cid>\d+)/replies")
def create_review_comment_reply(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "pull_requests", "write")
    body = api.body(req)
    text = required_text(body, "body")
    number = int(p["number"])
    parent = repo.review_comments.get(int(p["cid"]))
    if parent is None or parent.number != number:
        raise not_found()
    top = parent.in_reply_to or parent.id  # GitHub threads a reply to a reply under the thread's first comment
    comment = api.core.add_review_comment(repo, number, api.acting(req), text, parent.path, parent.line,
                                          parent.side, top)
    data = api.render.review_comment(repo, comment)
    return Response(201, data, {"Location": data["url"]})


@route("GET", REPO + r"/pulls/(?P<number>\d+)/comments")
def list_review_comments(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "pull_requests", "read")
    pull = api.core.pull(repo, int(p["number"]))
    return api.page(req, [repo.review_comments[c] for c in pull.review_comments],
                    lambda c: api.render.review_comment(repo, c))


@route("POST", REPO + r"/pulls/(?P<number>\d+)/comments")
def create_review_comment(api: Api, req: Request, p: dict[str, str]) -> Response:
    repo = api.repo(req, p, "pull_requests", "write")
    body = api.body(req)
    text = required_text(body, "body")
    reply = body.get("in_reply_to")
    if reply is not None:
        parent = repo.review_comments.get(int(reply))
        if parent is None:
            raise not_found()
        path, line = parent.path, parent.line
    else:
        given_path, given_line = body.get("path"), body.get("line")
        if not isinstance(given_path, str) or not isinstance(given_line, int):
            raise ApiError(422, 'Invalid request.\n\n"path", "line" weren\'t supplied.')
        path, line = given_path, given_line
    comment = api.core.add_review_comment(repo, int(p["number"]), api.acting(req), text, path, line,
                                          str(body.get("side") or "RIGHT"),
                                          int(reply) if reply is not None else None)
    data = api.render.review_comment(repo, comment)
    return Response(201, data, {"Location": data["url"]})


# ---------------------------------------------------------------- app manifests


@route("POST", r"/app-manifests/(?P<code>[^/]+)/conversions")
def convert_manifest_code(api: Api, req: Request, p: dict[str, str]) -> Response:
    return Response(201, api.core.manifests.convert(p["code"]))


def request_id() -> str:
    """A request id in GitHub's `XXXX:XXXX:...` shape."""
    return ":".join(secrets.token_hex(n).upper() for n in (2, 3, 3, 4, 4))


def now_stamp() -> str:
    return iso(utcnow()) or ""
