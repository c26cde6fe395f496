"""The ASGI face of the GitHub stand-in: REST under `/api/v3`, git smart HTTP at `/{owner}/{repo}.git`."""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import json
import re
import time
import zlib
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, parse_qsl

import anyio.to_thread
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response as StarletteResponse
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from standins import github_git as gitops
from standins.github_api import Api, Response, request_id
from standins.github_core import Actor, Core
from standins.github_errors import DOCS, ApiError
from standins.github_manifest import PAGE as MANIFEST_PAGE
from standins.github_model import Exchange, Fault

API_PREFIX = "/api/v3"
GIT_PATH = re.compile(
    r"/(?P<owner>[^/]+)/(?P<repo>[^/]+?)(?:\.git)?/(?P<rest>info/refs|git-upload-pack|git-receive-pack)"
)
JSON_TYPE = "application/json; charset=utf-8"


class GitHubApp:
    """ASGI application serving the stand-in's REST API and git repositories."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.api = Api(core)
        self._push_locks: dict[str, asyncio.Lock] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if not self.core.state.bound:
            host, port = scope.get("server") or ("127.0.0.1", 80)
            self.core.state.bind(f"http://{host}:{port}")
        path: str = scope["path"]
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            await self._api(scope, receive, send, path[len(API_PREFIX) :] or "/")
            return
        match = GIT_PATH.fullmatch(path)
        if match:
            await self._git(scope, receive, send, match["owner"], match["repo"], match["rest"])
            return
        page = MANIFEST_PAGE.fullmatch(path)
        if page:
            await self._manifest_page(scope, receive, send, page["org"])
            return
        await StarletteResponse("Not Found", 404, media_type="text/plain")(scope, receive, send)

    # ------------------------------------------------------------ faults

    def _fault(self, method: str, path: str) -> Fault | None:
        with self.core.lock:
            for fault in self.core.faults:
                if fault.remaining > 0 and fault.method in (method, "*") and fault.pattern.search(path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self.core.faults.remove(fault)
                    return fault
        return None

    @staticmethod
    def _fault_body(fault: Fault) -> Any:
        if fault.body is not None:
            return fault.body
        try:
            phrase = HTTPStatus(fault.status).phrase
        except ValueError:
            phrase = "Error"
        return {"message": phrase, "documentation_url": DOCS, "status": str(fault.status)}

    # ------------------------------------------------------------ REST

    async def _api(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        request = StarletteRequest(scope, receive)
        method: str = scope["method"]
        raw = await request.body()
        query = dict(parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True))
        authorization = request.headers.get("authorization")
        body: Any = None
        parse_error = False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                parse_error = True
        fault = self._fault(method, path)
        actor: Actor | None = None
        if fault is not None:
            try:
                actor = await anyio.to_thread.run_sync(self.core.authenticate, authorization)
            except ApiError:
                actor = None
            response = Response(fault.status, self._fault_body(fault), dict(fault.headers))
        elif parse_error:
            response = Response(400, ApiError(400, "Problems parsing JSON").body())
        else:
            response, actor = await anyio.to_thread.run_sync(
                self.api.handle, method, path, query, body, authorization
            )
        headers = {
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
            "X-GitHub-Request-Id": request_id(),
        }
        headers.update(response.headers)
        self.core.exchanges.append(
            Exchange(
                method=method,
                path=path,
                query=query,
                request_json=body,
                status=response.status,
                response_json=response.body,
                actor=actor.label if actor else None,
                injected=fault is not None,
                response_headers=dict(headers),
                at=time.time(),
            )
        )
        if response.status == 204 or response.body is None:
            out = StarletteResponse(b"", response.status, headers)
        else:
            content = json.dumps(response.body, separators=(",", ":"), ensure_ascii=False).encode()
            out = StarletteResponse(content, response.status, headers, media_type=JSON_TYPE)
        await out(scope, receive, send)

    # ------------------------------------------------------------ the app-manifest page

    async def _manifest_page(self, scope: Scope, receive: Receive, send: Send, org: str | None) -> None:
        body = await StarletteRequest(scope, receive).body()
        status, headers, text = await anyio.to_thread.run_sync(
            self.core.manifests.page, scope["method"], org, scope.get("query_string", b"").decode(), body)
        await StarletteResponse(text, status, headers, media_type="text/html")(scope, receive, send)

    # ------------------------------------------------------------ git smart HTTP

    async def _git(self, scope: Scope, receive: Receive, send: Send, owner: str, name: str, rest: str) -> None:
        request = StarletteRequest(scope, receive)
        method: str = scope["method"]
        query: str = scope.get("query_string", b"").decode()
        service = parse_qs(query).get("service", [""])[0] if rest == "info/refs" else rest
        fault = self._fault(method, scope["path"])
        if fault is not None:
            body = self._fault_body(fault)
            content = json.dumps(body).encode() if not isinstance(body, bytes | str) else body
            await StarletteResponse(content, fault.status, dict(fault.headers))(scope, receive, send)
            return
        if service not in ("git-upload-pack", "git-receive-pack"):
            await _text(scope, receive, send, 403, "Service not enabled.\n")
            return
        denied = await anyio.to_thread.run_sync(
            self._git_access, request.headers.get("authorization"), owner, name, service
        )
        if isinstance(denied, StarletteResponse):
            await denied(scope, receive, send)
            return
        actor, repo_path, repo_key, full_path = denied
        body = await request.body()
        encoding = request.headers.get("content-encoding", "").lower()
        if encoding in ("gzip", "x-gzip"):
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error):
                await _text(scope, receive, send, 400, "Bad gzip body.\n")
                return
        run = gitops.http_backend(
            project_root=self.core.repos_root,
            path_info=f"/{full_path}.git/{rest}",
            method=method,
            query=query,
            content_type=request.headers.get("content-type", ""),
            body=body,
            remote_user=actor.login or "anonymous",
            git_protocol=request.headers.get("git-protocol"),
        )
        if service == "git-receive-pack" and rest == "git-receive-pack":
            lock = self._push_locks.setdefault(repo_key, asyncio.Lock())
            async with lock:
                before = await anyio.to_thread.run_sync(gitops.list_refs, repo_path)
                cgi = await run
                output = b"".join([chunk async for chunk in cgi.body])
                after = await anyio.to_thread.run_sync(gitops.list_refs, repo_path)
                await anyio.to_thread.run_sync(self._record, repo_key, before, after, actor.login)
            await StarletteResponse(output, cgi.status, dict(cgi.headers))(scope, receive, send)
            return
        cgi = await run
        await StreamingResponse(_guard(cgi), cgi.status, dict(cgi.headers))(scope, receive, send)

    def _git_access(self, authorization: str | None, owner: str, name: str,
                    service: str) -> StarletteResponse | tuple[Actor, Any, str, str]:
        challenge = {"WWW-Authenticate": 'Basic realm="GitHub"'}
        actor = Actor("anonymous")
        if authorization:
            scheme, _, credential = authorization.partition(" ")
            if scheme.lower() == "basic":
                try:
                    user, _, password = base64.b64decode(credential.strip()).decode().partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    return StarletteResponse("Invalid username or token.\n", 401, challenge, media_type="text/plain")
                token = password or user
            else:
                token = credential.strip()
            try:
                actor = self.core.authenticate(f"token {token}")
            except ApiError:
                return StarletteResponse(
                    "Invalid username or token. Password authentication is not supported for Git operations.\n",
                    401, challenge, media_type="text/plain",
                )
        with self.core.lock:
            repo = self.core.state.repo(owner, name)
            if actor.kind == "anonymous" and (repo is None or repo.private or service == "git-receive-pack"):
                return StarletteResponse("Authentication required.\n", 401, challenge, media_type="text/plain")
            if repo is None or self.core.role_of(actor, repo) == "none":
                return StarletteResponse("Repository not found.\n", 404, media_type="text/plain")
            write = service == "git-receive-pack"
            try:
                self.core.access(actor, owner, name, "contents", "write" if write else "read",
                                 "write" if write else "read")
            except ApiError:
                who = actor.login or "anonymous"
                return StarletteResponse(f"Permission to {repo.full_name}.git denied to {who}.\n", 403,
                                         media_type="text/plain")
            return actor, repo.path, repo.key, repo.full_name

    def _record(self, repo_key: str, before: dict[str, str], after: dict[str, str], actor: str | None) -> None:
        with self.core.lock:
            repo = self.core.state.repos.get(repo_key)
            if repo is None:
                return
            for ref in sorted(set(before) | set(after)):
                old, new = before.get(ref, gitops.ZERO_SHA), after.get(ref, gitops.ZERO_SHA)
                if old != new:
                    self.core.record_push(repo, ref, old, new, actor)


async def _guard(cgi: gitops.CgiResponse) -> AsyncIterator[bytes]:
    """Stream the CGI's output; end the process if the client goes away first."""
    try:
        async for chunk in cgi.body:
            yield chunk
    finally:
        if cgi.process.returncode is None:
            cgi.process.kill()
            await cgi.process.wait()


async def _text(scope: Scope, receive: Receive, send: Send, status: int, text: str) -> None:
    await StarletteResponse(text, status, media_type="text/plain")(scope, receive, send)
