"""The stand-in GitHub's error answers, shaped like GitHub's `{"message", "documentation_url", "status"}`."""

from __future__ import annotations

from typing import Any

from standins.github_render import Json

DOCS = "https://docs.github.com/rest"
MAX_BODY = 65536
"""GitHub refuses an issue, comment, pull request, review or review comment body longer than this with
422 `{"message": "Validation Failed", "errors": [{"resource": "IssueComment", "code": "custom", "field":
"body", "message": "body is too long (maximum is 65536 characters)"}]}`: the REST reference does not state
the limit; the error is quoted in https://github.com/peter-evans/create-issue-from-file/issues/1049 and
https://github.com/github/issue-metrics/issues/258. The stand-in counts code points, as the message says
and as measured for pull request bodies (https://github.com/dead-claudia/github-limits/pull/13, which also
found issue comments allowed up to 262,144 UTF-8 bytes): the stricter reading, so a body our client sends
is tested against the limit it would meet first."""


class ApiError(Exception):
    """An error answer, shaped like GitHub's `{"message", "documentation_url", "status"}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[Any] | None = None,
        doc: str = DOCS,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.doc = doc
        self.headers = headers or {}

    def body(self) -> Json:
        data: Json = {"message": self.message}
        if self.errors is not None:
            data["errors"] = self.errors
        data["documentation_url"] = self.doc
        data["status"] = str(self.status)
        return data


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def validation(resource: str, *, field: str | None = None, code: str = "invalid", message: str | None = None,
               doc: str = DOCS) -> ApiError:
    error: Json = {"resource": resource, "code": code}
    if field is not None:
        error["field"] = field
    if message is not None:
        error["message"] = message
    return ApiError(422, "Validation Failed", errors=[error], doc=doc)


def check_body_length(resource: str, text: str | None) -> None:
    """GitHub's 422 for a body over `MAX_BODY` characters (`resource`: IssueComment, PullRequest...)."""
    if text is not None and len(text) > MAX_BODY:
        raise validation(
            resource, field="body", code="custom", message=f"body is too long (maximum is {MAX_BODY} characters)"
        )
