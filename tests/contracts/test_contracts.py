"""Unit tests for the vendored API contracts and the OpenAPI validator (tests/contracts/).

They use only the vendored files: no network, no ../shared.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.contracts import openapi
from tests.contracts.openapi import (
    KNOWN_EXCEPTIONS,
    Contract,
    KnownException,
    github_contract,
    openai_contract,
    webhook_events,
    webhook_examples,
)
from tests.contracts.regenerate import GITHUB_OPERATIONS, OPENAI_OPERATIONS, WEBHOOK_EVENTS

CONTRACTS = Path(openapi.__file__).resolve().parent


# --- vendored files ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["github-openapi.json", "openai-openapi.json"])
def test_vendored_descriptions_load(name: str) -> None:
    doc = json.loads((CONTRACTS / name).read_text(encoding="utf-8"))
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["version"]
    assert doc["paths"] and doc["components"]["schemas"]
    assert (CONTRACTS / name).stat().st_size < 1_500_000


@pytest.mark.parametrize("event", WEBHOOK_EVENTS)
def test_vendored_webhook_files_load(event: str) -> None:
    payloads = json.loads((CONTRACTS / "webhooks" / f"{event}.json").read_text(encoding="utf-8"))
    assert isinstance(payloads, list) and payloads
    assert all(isinstance(p, dict) for p in payloads)


def test_sources_and_licenses_are_vendored() -> None:
    sources = (CONTRACTS / "SOURCES.md").read_text(encoding="utf-8")
    assert "@octokit/openapi@" in sources and "@octokit/webhooks-examples@" in sources
    assert "regenerate.py" in sources
    for name in ("octokit-openapi", "octokit-webhooks-examples", "openai-openapi"):
        assert "MIT" in (CONTRACTS / "LICENSES" / f"{name}.LICENSE").read_text(encoding="utf-8")


def test_vendored_descriptions_hold_exactly_the_listed_operations() -> None:
    for contract, listed in ((github_contract(), GITHUB_OPERATIONS), (openai_contract(), OPENAI_OPERATIONS)):
        have = {(method, template) for _, method, template in contract.operations()}
        assert have == set(listed)


# --- webhook examples -------------------------------------------------------------------------


@pytest.mark.parametrize("event", ["issues", "issue_comment", "ping"])
def test_webhook_examples_are_non_empty(event: str) -> None:
    assert webhook_examples(event)


def test_webhook_examples_cover_the_actions_we_handle() -> None:
    issue_actions = {p.get("action") for p in webhook_examples("issues")}
    comment_actions = {p.get("action") for p in webhook_examples("issue_comment")}
    assert "labeled" in issue_actions
    assert "created" in comment_actions
    labeled = next(p for p in webhook_examples("issues") if p.get("action") == "labeled")
    assert labeled["label"]["name"] and labeled["issue"]["number"] and labeled["repository"]["full_name"]
    assert all("zen" in p and "hook_id" in p for p in webhook_examples("ping"))
    assert set(webhook_events()) == set(WEBHOOK_EVENTS)


def test_webhook_examples_are_fresh_copies() -> None:
    first = webhook_examples("issues")
    first[0]["action"] = "mutated"
    assert webhook_examples("issues")[0]["action"] != "mutated"


def test_webhook_examples_unknown_event() -> None:
    with pytest.raises(ValueError, match="no vendored webhook examples"):
        webhook_examples("deployment")


# --- routing ----------------------------------------------------------------------------------

GITHUB_ROUTES: list[tuple[str, str, str, dict[str, str]]] = [
    ("POST", "/app/installations/42/access_tokens", "apps/create-installation-access-token",
     {"installation_id": "42"}),
    ("GET", "/app", "apps/get-authenticated", {}),
    ("GET", "/app/installations", "apps/list-installations", {}),
    ("POST", "/app-manifests/0f1e2d3c4b/conversions", "apps/create-from-manifest", {"code": "0f1e2d3c4b"}),
    ("GET", "/repos/octo/hello/installation", "apps/get-repo-installation", {"owner": "octo", "repo": "hello"}),
    ("GET", "/repos/octo/hello", "repos/get", {"owner": "octo", "repo": "hello"}),
    ("GET", "/repos/octo/hello/collaborators/mona/permission", "repos/get-collaborator-permission-level",
     {"username": "mona"}),
    ("GET", "/repos/octo/hello/issues/7", "issues/get", {"issue_number": "7"}),
    ("GET", "/repos/octo/hello/issues/7/comments", "issues/list-comments", {"issue_number": "7"}),
    ("POST", "/repos/octo/hello/issues/7/comments", "issues/create-comment", {"issue_number": "7"}),
    ("GET", "/repos/octo/hello/issues/comments/99", "issues/get-comment", {"comment_id": "99"}),
    ("PATCH", "/repos/octo/hello/issues/comments/99", "issues/update-comment", {"comment_id": "99"}),
    ("POST", "/repos/octo/hello/issues/7/reactions", "reactions/create-for-issue", {"issue_number": "7"}),
    ("POST", "/repos/octo/hello/issues/comments/99/reactions", "reactions/create-for-issue-comment",
     {"comment_id": "99"}),
    ("GET", "/repos/octo/hello/issues/7/labels", "issues/list-labels-on-issue", {"issue_number": "7"}),
    ("POST", "/repos/octo/hello/issues/7/labels", "issues/add-labels", {"issue_number": "7"}),
    ("GET", "/repos/octo/hello/issues/7/events", "issues/list-events", {"issue_number": "7"}),
    ("GET", "/repos/octo/hello/git/ref/heads/feature/x", "git/get-ref", {"ref": "heads/feature/x"}),
    ("GET", "/repos/octo/hello/branches/main", "repos/get-branch", {"branch": "main"}),
    ("GET", "/repos/octo/hello/contents/docs/guide/a%20b.md", "repos/get-content",
     {"path": "docs/guide/a b.md"}),
    ("GET", "/repos/octo/hello/pulls", "pulls/list", {}),
    ("POST", "/repos/octo/hello/pulls", "pulls/create", {}),
    ("GET", "/repos/octo/hello/pulls/3", "pulls/get", {"pull_number": "3"}),
    ("PATCH", "/repos/octo/hello/pulls/3", "pulls/update", {"pull_number": "3"}),
    ("GET", "/repos/octo/hello/pulls/3/comments", "pulls/list-review-comments", {"pull_number": "3"}),
    ("GET", "/repos/octo/hello/pulls/3/reviews", "pulls/list-reviews", {"pull_number": "3"}),
    ("GET", "/repos/octo/hello/pulls/3/reviews/80", "pulls/get-review", {"pull_number": "3", "review_id": "80"}),
    ("GET", "/repos/octo/hello/pulls/3/reviews/80/comments", "pulls/list-comments-for-review",
     {"pull_number": "3", "review_id": "80"}),
    ("POST", "/repos/octo/hello/pulls/3/comments/9/replies", "pulls/create-reply-for-review-comment",
     {"pull_number": "3", "comment_id": "9"}),
    ("DELETE", "/repos/octo/hello/git/refs/heads/issuesmith/7-x", "git/delete-ref", {"ref": "heads/issuesmith/7-x"}),
]  # fmt: skip


def test_route_table_covers_every_listed_operation() -> None:
    assert len(GITHUB_ROUTES) == len(GITHUB_OPERATIONS)
    assert {op_id for _, _, op_id, _ in GITHUB_ROUTES} == {op for op, _, _ in github_contract().operations()}


@pytest.mark.parametrize(("method", "path", "op_id", "params"), GITHUB_ROUTES)
def test_find_operation_github(method: str, path: str, op_id: str, params: dict[str, str]) -> None:
    found = github_contract().find_operation(method, path)
    assert found is not None, f"{method} {path} not matched"
    assert found[0] == op_id
    assert params.items() <= found[1].items()
    if "/repos/" in path:
        assert found[1]["owner"] == "octo" and found[1]["repo"] == "hello"


def test_find_operation_details() -> None:
    gh = github_contract()
    assert gh.find_operation("get", "/repos/o/r/issues/7/comments?per_page=100") == (
        "issues/list-comments",
        {"owner": "o", "repo": "r", "issue_number": "7"},
    )
    assert gh.find_operation("GET", "/repos/o/r/git/ref/heads%2Ffeature%2Fx") == (
        "git/get-ref",
        {"owner": "o", "repo": "r", "ref": "heads/feature/x"},
    )
    assert gh.find_operation("GET", "/repos/o/r/branches/feature/y") == (
        "repos/get-branch",
        {"owner": "o", "repo": "r", "branch": "feature/y"},
    )
    oa = openai_contract()
    assert oa.find_operation("POST", "/chat/completions") == ("createChatCompletion", {})
    assert oa.find_operation("POST", "/v1/chat/completions") == ("createChatCompletion", {})
    assert oa.find_operation("GET", "/models") == ("listModels", {})
    assert oa.find_operation("GET", "/v1/models/gpt-4o-mini") == ("retrieveModel", {"model": "gpt-4o-mini"})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/repos/o/r/unknown"),
        ("GET", "/repos/o/r/issues/7/comments/extra"),
        ("DELETE", "/repos/o/r"),
        ("GET", "/app/installations/42/access_tokens"),
        ("PUT", "/repos/o/r/issues/7/labels"),
        ("GET", "/repos/o"),
        ("GET", "/"),
        ("GET", "/models"),
    ],
)
def test_find_operation_rejects_unknown(method: str, path: str) -> None:
    assert github_contract().find_operation(method, path) is None
    problems = github_contract().check_request(method, path, {}, None)
    assert len(problems) == 1 and "no such operation" in problems[0]


def test_openai_rejects_unknown() -> None:
    assert openai_contract().find_operation("POST", "/completions") is None
    assert openai_contract().find_operation("DELETE", "/chat/completions") is None
    assert openai_contract().find_operation("GET", "/v2/models") is None


# --- GitHub responses -------------------------------------------------------------------------


def _user(login: str = "octocat") -> dict[str, Any]:
    base = f"https://api.github.com/users/{login}"
    return {
        "login": login,
        "id": 1,
        "node_id": "MDQ6VXNlcjE=",
        "avatar_url": "https://avatars.githubusercontent.com/u/1",
        "gravatar_id": "",
        "url": base,
        "html_url": f"https://github.com/{login}",
        "followers_url": f"{base}/followers",
        "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}",
        "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions",
        "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos",
        "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events",
        "type": "User",
        "site_admin": False,
    }


def _comment() -> dict[str, Any]:
    return {
        "id": 11,
        "node_id": "IC_kwDOA",
        "url": "https://api.github.com/repos/o/r/issues/comments/11",
        "html_url": "https://github.com/o/r/issues/7#issuecomment-11",
        "issue_url": "https://api.github.com/repos/o/r/issues/7",
        "body": "Plan ready",
        "user": _user("issuesmith[bot]"),
        "created_at": "2024-05-01T10:00:00Z",
        "updated_at": "2024-05-01T10:00:00Z",
        "author_association": "NONE",
        "performed_via_github_app": None,
    }


COMMENT_PATH = "/repos/o/r/issues/7/comments"


def test_check_response_accepts_well_formed_comment() -> None:
    gh = github_contract()
    assert gh.check_response("POST", COMMENT_PATH, 201, _comment()) == []
    assert gh.check_response("GET", "/repos/o/r/issues/comments/11", 200, _comment()) == []
    assert gh.check_response("GET", COMMENT_PATH, 200, [_comment(), _comment()]) == []


def test_check_response_reports_missing_required_field() -> None:
    body = _comment()
    del body["issue_url"]
    problems = github_contract().check_response("POST", COMMENT_PATH, 201, body)
    assert len(problems) == 1
    assert "issues/create-comment" in problems[0]
    assert "response 201 $.issue_url" in problems[0] and "required" in problems[0]


def test_check_response_reports_wrong_type_with_json_path() -> None:
    body = _comment()
    body["id"] = "eleven"
    body["user"]["site_admin"] = "no"
    problems = github_contract().check_response("GET", COMMENT_PATH, 200, [_comment(), body])
    assert len(problems) == 2, problems
    assert any("$[1].id" in p and "'integer'" in p for p in problems)
    assert any("$[1].user.site_admin" in p and "'boolean'" in p for p in problems)


def test_check_response_accepts_null_for_nullable_fields() -> None:
    gh = github_contract()
    body = _comment()
    body["user"] = None  # nullable-simple-user: a component that is itself nullable
    assert gh.check_response("POST", COMMENT_PATH, 201, body) == []
    body = _comment()
    body["user"]["gravatar_id"] = None  # nullable string property
    assert gh.check_response("POST", COMMENT_PATH, 201, body) == []
    body = _comment()
    body["body"] = None  # not nullable
    assert gh.check_response("POST", COMMENT_PATH, 201, body) != []


def test_check_response_status_and_body_presence() -> None:
    gh = github_contract()
    not_found = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
    assert gh.check_response("GET", "/repos/o/r/issues/7", 404, not_found) == []
    assert gh.check_response("GET", "/repos/o/r/issues/7", 304, None) == []
    undeclared = gh.check_response("GET", "/repos/o/r/issues/7", 418, not_found)
    assert len(undeclared) == 1 and "status 418" in undeclared[0] and "not declared" in undeclared[0]
    missing = gh.check_response("GET", "/repos/o/r/issues/7", 404, None)
    assert len(missing) == 1 and "no body" in missing[0]
    unexpected = gh.check_response("GET", "/repos/o/r/issues/7", 304, {"x": 1})
    assert len(unexpected) == 1 and "declares none" in unexpected[0]
    assert gh.check_response("GET", "/repos/o/r/nope", 200, {})[0].endswith("no such operation in github")


def test_check_response_git_ref_and_contents() -> None:
    gh = github_contract()
    ref: dict[str, Any] = {
        "ref": "refs/heads/feature/x",
        "node_id": "REF_1",
        "url": "https://api.github.com/repos/o/r/git/refs/heads/feature/x",
        "object": {"type": "commit", "sha": "a" * 40, "url": "https://api.github.com/repos/o/r/git/commits/a"},
    }
    assert gh.check_response("GET", "/repos/o/r/git/ref/heads/feature/x", 200, ref) == []
    del ref["object"]["sha"]
    assert any("$.object.sha" in p for p in gh.check_response("GET", "/repos/o/r/git/ref/heads/x", 200, ref))

    api = "https://api.github.com/repos/o/r"
    file = {
        "type": "file",
        "encoding": "base64",
        "size": 5,
        "name": "a.md",
        "path": "docs/a.md",
        "content": "aGVsbG8=",
        "sha": "b" * 40,
        "url": f"{api}/contents/docs/a.md?ref=main",
        "git_url": f"{api}/git/blobs/{'b' * 40}",
        "html_url": "https://github.com/o/r/blob/main/docs/a.md",
        "download_url": "https://raw.githubusercontent.com/o/r/main/docs/a.md",
        "_links": {"self": f"{api}/contents/docs/a.md", "git": None, "html": None},
    }
    path = "/repos/o/r/contents/docs/a.md"
    assert gh.check_response("GET", path, 200, file) == []
    assert gh.check_response("GET", path, 200, [file]) == []  # a directory listing
    assert gh.check_response("GET", path, 200, {**file, "size": "5"}) != []


# --- GitHub requests --------------------------------------------------------------------------


def test_check_request_reports_comment_without_body() -> None:
    gh = github_contract()
    assert gh.check_request("POST", COMMENT_PATH, {}, {"body": "hello"}) == []
    problems = gh.check_request("POST", COMMENT_PATH, {}, {})
    assert len(problems) == 1 and "request $.body" in problems[0] and "required" in problems[0]
    problems = gh.check_request("POST", COMMENT_PATH, {}, None)
    assert len(problems) == 1 and "required request body is missing" in problems[0]
    problems = gh.check_request("POST", COMMENT_PATH, {}, {"body": 5})
    assert len(problems) == 1 and "$.body" in problems[0]


def test_check_request_parameters() -> None:
    gh = github_contract()
    assert gh.check_request("GET", COMMENT_PATH, {"per_page": "100", "page": "2"}, None) == []
    assert gh.check_request("GET", "/repos/o/r/pulls", {"state": "open", "head": "o:b", "base": "main"}) == []
    bad_enum = gh.check_request("GET", "/repos/o/r/pulls", {"state": "merged"})
    assert len(bad_enum) == 1 and "query state" in bad_enum[0]
    bad_int = gh.check_request("GET", COMMENT_PATH, {"page": "two"})
    assert len(bad_int) == 1 and "query page" in bad_int[0]
    bad_path = gh.check_request("GET", "/repos/o/r/issues/seven", {})
    assert len(bad_path) == 1 and "path issue_number" in bad_path[0]
    unexpected_body = gh.check_request("GET", "/repos/o/r", {}, {"x": 1})
    assert len(unexpected_body) == 1 and "takes no request body" in unexpected_body[0]


def test_check_request_pull_and_reaction_bodies() -> None:
    gh = github_contract()
    pr = {"title": "Fix #7", "head": "issuesmith/7", "base": "main", "body": "Closes #7", "draft": False}
    assert gh.check_request("POST", "/repos/o/r/pulls", {}, pr) == []
    assert gh.check_request("POST", "/repos/o/r/pulls", {}, {"title": "t", "base": "main"}) != []
    assert gh.check_request("POST", "/repos/o/r/issues/comments/5/reactions", {}, {"content": "eyes"}) == []
    assert gh.check_request("POST", "/repos/o/r/issues/comments/5/reactions", {}, {"content": "wow"}) != []
    assert gh.check_request("POST", "/app/installations/1/access_tokens", {}, None) == []


# --- OpenAI -----------------------------------------------------------------------------------


def _chat_completion() -> dict[str, Any]:
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "created": 1_741_570_283,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Here is the plan.", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
        "system_fingerprint": "fp_1",
    }


def test_openai_well_formed_chat_completion_validates() -> None:
    oa = openai_contract()
    assert oa.check_response("POST", "/chat/completions", 200, _chat_completion()) == []
    tool_call = _chat_completion()
    tool_call["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    tool_call["choices"][0]["finish_reason"] = "tool_calls"
    assert oa.check_response("POST", "/v1/chat/completions", 200, tool_call) == []


def test_openai_malformed_chat_completion_is_reported() -> None:
    oa = openai_contract()
    body = _chat_completion()
    del body["choices"]
    problems = oa.check_response("POST", "/chat/completions", 200, body)
    assert len(problems) == 1 and "createChatCompletion" in problems[0] and "$.choices" in problems[0]
    body = _chat_completion()
    body["choices"][0]["finish_reason"] = "done"
    body["object"] = "chat.completions"
    problems = oa.check_response("POST", "/chat/completions", 200, body)
    assert {p.split(": ")[1] for p in problems} == {
        "response 200 $.choices[0].finish_reason",
        "response 200 $.object",
    }


def test_openai_request_and_models() -> None:
    oa = openai_contract()
    request = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "You plan."}, {"role": "user", "content": "Issue #7"}],
        "temperature": 0.2,
    }
    assert oa.check_request("POST", "/chat/completions", {}, request) == []
    problems = oa.check_request("POST", "/chat/completions", {}, {"model": "gpt-4o-mini"})
    assert len(problems) == 1 and "request $.messages" in problems[0]
    model = {"id": "gpt-4o-mini", "object": "model", "created": 1, "owned_by": "openai"}
    assert oa.check_response("GET", "/models", 200, {"object": "list", "data": [model]}) == []
    assert oa.check_response("GET", "/models/gpt-4o-mini", 200, model) == []
    assert oa.check_response("GET", "/models/gpt-4o-mini", 200, {"id": "x"}) != []
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "He"}, "finish_reason": None}],
    }
    assert oa.check_response("POST", "/chat/completions", 200, chunk, content_type="text/event-stream") == []


# --- known exceptions -------------------------------------------------------------------------


def test_known_exceptions_are_justified() -> None:
    for entry in KNOWN_EXCEPTIONS:
        assert len(entry.reason) > 40, entry
    with pytest.raises(ValueError, match="reason"):
        KnownException("issues/get", "response 200 $.x", " ")


def test_known_exceptions_apply() -> None:
    gh = github_contract()
    # PyGithub's Issue.add_to_labels sends a bare array, which GitHub accepts.
    assert gh.check_request("POST", "/repos/o/r/issues/7/labels", {}, ["bug"]) == []
    assert gh.check_request("POST", "/repos/o/r/issues/7/labels", {}, {"labels": ["bug"]}) == []
    assert gh.check_response("GET", "/repos/o/r", 401, {"message": "Bad credentials"}) == []
    error = {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}
    assert openai_contract().check_response("POST", "/chat/completions", 500, error) == []
    # ...but only where listed.
    strict = Contract(json.loads((CONTRACTS / "openai-openapi.json").read_text()), name="openai", known_exceptions=[])
    assert strict.check_response("POST", "/chat/completions", 500, error) != []
    assert openai_contract().check_response("POST", "/chat/completions", 201, error) != []


def test_known_exception_matching() -> None:
    entry = KnownException("apps/list-installations", "response 200 $[*].account", "reason " * 10)
    assert entry.matches("github", "apps/list-installations", "GET /app/installations", "response 200 $[3].account")
    assert not entry.matches("github", "apps/list-installations", "GET /app/installations", "response 200 $[3].id")
    assert not entry.matches("github", "apps/get-authenticated", "GET /app", "response 200 $[3].account")
    by_template = KnownException("GET /app", "status 5??", "reason " * 10, contract="github")
    assert by_template.matches("github", "apps/get-authenticated", "GET /app", "status 503")
    assert not by_template.matches("openai", "apps/get-authenticated", "GET /app", "status 503")
    assert not by_template.matches("github", "apps/get-authenticated", "GET /app", "status 5030")


# --- the published examples -------------------------------------------------------------------

# Published response examples that are older than their schema (the schema matches what GitHub
# returns today; the hand-written example was not updated). Stand-ins must not copy them as is.
STALE_EXAMPLE_PROBLEMS = {
    ("pulls/create", 201): {"response 201 $.requested_teams[0].type"},
    ("pulls/get", 200): {"response 200 $.requested_teams[0].type"},
    ("pulls/list", 200): {"response 200 $[0].requested_teams[0].type"},
    ("pulls/update", 200): {"response 200 $.requested_teams[0].type"},
    ("repos/get", 200): {"response 200 $.language", "response 200 $.source.language"},
    ("repos/get-collaborator-permission-level", 200): {"response 200 $.user.role_name"},
}


def _concrete(template: str) -> str:
    fill = {"{owner}": "o", "{repo}": "r", "{ref}": "heads/main", "{path}": "README.md", "{branch}": "main"}
    for key, value in fill.items():
        template = template.replace(key, value)
    return "/".join("1" if part.startswith("{") else part for part in template.split("/"))


def test_published_github_examples_conform_to_their_schemas() -> None:
    gh = github_contract()
    checked = 0
    for op_id, method, template in gh.operations():
        for status in (200, 201):
            expected = STALE_EXAMPLE_PROBLEMS.get((op_id, status), set())
            for example in gh.response_examples(op_id, status):
                problems = gh.check_response(method, _concrete(template), status, example)
                assert {p.split(": ")[1] for p in problems} == expected, problems
                checked += 1
    assert checked >= 25


def test_response_examples_are_copies() -> None:
    gh = github_contract()
    example = gh.response_examples("issues/get-comment", 200)[0]
    example["body"] = "changed"
    assert gh.response_examples("issues/get-comment", 200)[0]["body"] != "changed"
    with pytest.raises(KeyError):
        gh.response_examples("nope", 200)


# --- normalisation on small synthetic descriptions --------------------------------------------


def _doc(version: str, schema: dict[str, Any], components: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "openapi": version,
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/things/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "get": {
                    "operationId": "getThing",
                    "parameters": [{"name": "q", "in": "query", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": schema}}}},
                },
            }
        },
        "components": {"schemas": components or {}},
    }


def test_openapi_30_nullable_enum_and_composition() -> None:
    contract = Contract(
        _doc(
            "3.0.3",
            {
                "type": "object",
                "required": ["state", "owner", "score"],
                "properties": {
                    "state": {"type": "string", "enum": ["open", "closed"], "nullable": True},
                    "owner": {"nullable": True, "allOf": [{"$ref": "#/components/schemas/Owner"}]},
                    "score": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
                    "kind": {"oneOf": [{"$ref": "#/components/schemas/Owner"}], "discriminator": {"propertyName": "x"}},
                    "when": {"type": "string", "format": "date-time", "readOnly": True, "example": "x"},
                },
            },
            {"Owner": {"type": "object", "required": ["login"], "properties": {"login": {"type": "string"}}}},
        )
    )
    ok = {"state": None, "owner": None, "score": 1, "when": "not a date"}
    assert contract.check_response("GET", "/things/1", 200, ok) == []
    assert contract.check_response("GET", "/things/1", 200, {**ok, "owner": {"login": "x"}, "state": "open"}) == []
    bad = {"state": "merged", "owner": {}, "score": 0, "kind": {}}
    locations = {p.split(": ")[1] for p in contract.check_response("GET", "/things/1", 200, bad)}
    assert locations == {
        "response 200 $.state",
        "response 200 $.owner",
        "response 200 $.score",
        "response 200 $.kind",
    }
    assert contract.check_request("GET", "/things/1", {"q": "x"}) == []
    problems = contract.check_request("GET", "/things/one", {})
    assert {p.split(": ")[1] for p in problems} == {"path id", "query q"}


def test_openapi_31_type_lists() -> None:
    contract = Contract(
        _doc(
            "3.1.0",
            {
                "type": "object",
                "properties": {
                    "name": {"type": ["string", "null"]},
                    "tags": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
                    "x-extra": {"type": "integer"},
                },
            },
        )
    )
    assert contract.check_response("GET", "/things/1", 200, {"name": None, "tags": None}) == []
    assert contract.check_response("GET", "/things/1", 200, {"name": "a", "tags": ["b"]}) == []
    assert len(contract.check_response("GET", "/things/1", 200, {"name": 1, "tags": [2]})) == 2


def test_rejects_unsupported_version() -> None:
    with pytest.raises(ValueError, match="unsupported OpenAPI version"):
        Contract({"swagger": "2.0", "paths": {}})


def test_validators_are_cached() -> None:
    gh = github_contract()
    for _ in range(3):
        gh.check_response("POST", COMMENT_PATH, 201, copy.deepcopy(_comment()))
    keys = [k for k in gh._validators if k[:2] == ("response", "issues/create-comment")]
    assert len(keys) == 1


def test_query_values_from_parse_qs() -> None:
    gh = github_contract()
    assert gh.check_request("GET", COMMENT_PATH, {"per_page": ["100"], "page": ["2"]}) == []
    assert gh.check_request("GET", COMMENT_PATH, {"per_page": ["x"]}) != []
