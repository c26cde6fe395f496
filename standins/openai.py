"""An OpenAI-compatible stand-in server that replays scripted chat-completion replies.

Tests (and the demo) point the real ``openai`` SDK at it::

    fake = FakeOpenAI()
    fake.script(Reply.json({"plan": ["..."]}), Reply.error(429, headers={"retry-after-ms": "10"}))
    with ServerThread(fake.app) as server:
        client = openai.OpenAI(api_key=fake.api_key, base_url=f"{server.url}/v1")
        ...
    assert fake.pending() == 0

What it serves (all under ``/v1``, all requiring ``Authorization: Bearer <api_key>``):

* ``POST /v1/chat/completions`` -- validates the request the way the real service rejects bad ones
  (unknown model, empty or malformed ``messages``, ``tool`` messages that answer no preceding
  ``tool_calls``, unanswered ``tool_calls``, malformed ``response_format``/``tools``, strict schemas
  that are not strict-compatible, ``json_object`` without the word "json" in the messages,
  ``stream: true``), then answers with the next scripted :class:`Reply` (FIFO, honouring ``match``).
  With no reply left it answers HTTP 500 saying so (with ``x-should-retry: false`` so the SDK
  surfaces it at once instead of retrying).
* ``GET /v1/models`` and ``GET /v1/models/{model}``.

Every exchange is recorded in :attr:`FakeOpenAI.exchanges` (paths without the ``/v1`` prefix) so a
contract test can check each response against OpenAI's published OpenAPI description.

The object is thread-safe: the server runs on an event loop in a background thread while tests
script replies and read records from the main thread. Runtime dependencies only (starlette, stdlib).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from standins.formats import LLAMA_CPP_2024_REFUSAL, LLAMA_CPP_PYTHON_REFUSAL, LM_STUDIO_REFUSAL, FormatRefusal
from standins.profiles import PROFILES, ServerProfile

__all__ = [
    "LLAMA_CPP_2024_REFUSAL",
    "LLAMA_CPP_PYTHON_REFUSAL",
    "LM_STUDIO_REFUSAL",
    "PROFILES",
    "Exchange",
    "FakeOpenAI",
    "FormatRefusal",
    "Reply",
    "ServerProfile",
    "ToolCall",
]

ReplyKind = Literal["content", "tool_calls", "error", "hang"]

_ROLES = ("system", "assistant", "user", "function", "tool", "developer")
_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_MODEL_CREATED = 1_700_000_000  # a fixed unix time, so model listings are deterministic
HOLD_SECONDS = 120.0  # the longest a held reply (`Reply.until`) waits for its test
_SYSTEM_FINGERPRINT = "fp_standin0001"

_DEFAULT_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    422: "invalid_request_error",
    429: "requests",
}
_DEFAULT_ERROR_CODES: dict[int, str] = {
    401: "invalid_api_key",
    404: "not_found",
    429: "rate_limit_exceeded",
}
_DEFAULT_ERROR_MESSAGES: dict[int, str] = {
    400: "Invalid request (scripted by the stand-in).",
    401: "Incorrect API key provided (scripted by the stand-in).",
    404: "Not found (scripted by the stand-in).",
    429: "Rate limit reached for requests (scripted by the stand-in). Please try again shortly.",
    500: "The server had an error while processing your request. Sorry about that! (scripted stand-in)",
    502: "Bad gateway (scripted by the stand-in).",
    503: "The engine is currently overloaded, please try again later. (scripted by the stand-in)",
}


def _new_id(prefix: str, length: int = 24) -> str:
    return prefix + uuid.uuid4().hex[:length]


def _estimate_tokens(text: str) -> int:
    """A deterministic, tokenizer-free token estimate: about four characters per token."""
    return math.ceil(len(text) / 4)


@dataclass(frozen=True)
class ToolCall:
    """One scripted function tool call; ``arguments`` is the JSON string the model would send."""

    id: str
    name: str
    arguments: str


@dataclass
class Reply:
    """One scripted reply. Build it with :meth:`json`, :meth:`text`, :meth:`tool_calls`,
    :meth:`error` or :meth:`hang` rather than directly."""

    kind: ReplyKind
    content: str | None = None
    calls: list[ToolCall] = field(default_factory=list)
    usage: tuple[int, int] | None = None
    finish_reason: str = "stop"
    status: int = 200
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str = "server_error"
    error_code: str | None = None
    error_param: str | None = None
    seconds: float = 0.0
    shows_usage: bool = True
    until: threading.Event | None = field(default=None, compare=False, repr=False)
    """A test's hold on the answer: sent once the event is set (at most `HOLD_SECONDS`), so a test can see
    what the bot does while a model call is in flight, without timing it."""

    @classmethod
    def json(cls, obj: object, usage: tuple[int, int] | None = None, finish_reason: str = "stop") -> Reply:
        """An assistant message whose content is ``json.dumps(obj)`` (a structured-output answer)."""
        return cls(kind="content", content=json.dumps(obj), usage=usage, finish_reason=finish_reason)

    @classmethod
    def text(cls, content: str, usage: tuple[int, int] | None = None, finish_reason: str = "stop") -> Reply:
        """An assistant message with plain text content. ``finish_reason="length"`` simulates truncation."""
        return cls(kind="content", content=content, usage=usage, finish_reason=finish_reason)

    @classmethod
    def tool_calls(
        cls,
        calls: list[tuple[str, dict[str, Any] | str]],
        usage: tuple[int, int] | None = None,
        finish_reason: str = "tool_calls",
    ) -> Reply:
        """An assistant message calling functions: ``[(name, arguments), ...]``; ids are ``call_...``.
        Arguments given as a string are sent as they are: with ``finish_reason="length"`` that is a call
        cut off at the output cap (OpenAI's API description: ``length`` "if the maximum number of tokens
        specified in the request was reached"; the arguments then end mid-JSON)."""
        if not calls:
            raise ValueError("Reply.tool_calls needs at least one call")
        made = [
            ToolCall(id=_new_id("call_"), name=name, arguments=args if isinstance(args, str) else json.dumps(args))
            for name, args in calls
        ]
        return cls(kind="tool_calls", calls=made, usage=usage, finish_reason=finish_reason)

    @classmethod
    def error(
        cls,
        status: int,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
    ) -> Reply:
        """An OpenAI-style error: ``status`` with ``headers`` (e.g. ``{"retry-after-ms": "10"}``) and
        body ``{"error": {"message", "type", "param", "code"}}``. ``type``/``code``/``message`` default
        to what OpenAI sends for that status (``server_error`` for 5xx)."""
        if status < 400:
            raise ValueError(f"Reply.error needs an error status, not {status}")
        return cls(
            kind="error",
            status=status,
            message=message
            or _DEFAULT_ERROR_MESSAGES.get(status, f"Error {status} (scripted by the stand-in)."),
            headers=dict(headers or {}),
            error_type=type or _DEFAULT_ERROR_TYPES.get(status, "server_error"),
            error_code=code if code is not None else _DEFAULT_ERROR_CODES.get(status),
            error_param=param,
        )

    def slowly(self, seconds: float) -> Reply:
        """This reply, given only after ``seconds`` (a model that takes its time)."""
        return replace(self, seconds=seconds)

    def no_usage(self) -> Reply:
        """This reply without a ``usage`` object (servers that send none: LostRuins/koboldcpp#603)."""
        return replace(self, shows_usage=False)

    @classmethod
    def hang(cls, seconds: float) -> Reply:
        """Answer nothing for ``seconds`` (without blocking the server), then 504 -- or stop early
        when the client gives up and disconnects. Lets tests exercise client timeouts. Pair it with a
        short client timeout: while a connected client waits, the server's shutdown waits too."""
        return cls(kind="hang", seconds=seconds, status=504, error_type="server_error", error_code="timeout")


@dataclass(frozen=True)
class Exchange:
    """One recorded HTTP exchange. ``path`` is without the ``/v1`` prefix (e.g. ``/chat/completions``);
    ``request_json``/``response_json`` are ``None`` when there was no (parseable) JSON body."""

    method: str
    path: str
    query: dict[str, str]
    request_json: Any
    status: int
    response_json: Any
    response_headers: dict[str, str] = field(default_factory=dict)


class _Rejection(Exception):
    """A request the real service would refuse; becomes an OpenAI-style error response."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
        headers: Mapping[str, str] | None = None,
        plain: bool = False,
    ) -> None:
        super().__init__(message)
        self.plain = plain
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type
        self.headers = dict(headers or {})


def _error_body(message: str, type: str, param: str | None, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _prompt_size(body: dict[str, Any]) -> int:
    """The prompt tokens a server would count: the request's messages and tool schemas, four characters a token."""
    return _estimate_tokens(json.dumps(body.get("messages", [])) + json.dumps(body.get("tools") or []))


def _loaded(arguments: str) -> Any:
    """Tool arguments as JSON would hold them in a text reply (the raw string when they are not JSON)."""
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


def _content_text(content: object) -> str:
    """The text of a message ``content``: a string, or the ``text`` of its content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                for key in ("text", "refusal"):
                    if isinstance(part.get(key), str):
                        parts.append(part[key])
        return "\n".join(parts)
    return ""


def _messages_text(messages: list[Any]) -> str:
    """All text a request's messages carry (contents and tool-call arguments), joined by newlines."""
    chunks: list[str] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        chunks.append(_content_text(message.get("content")))
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                chunks.append(str(function.get("name", "")))
                chunks.append(str(function.get("arguments", "")))
    return "\n".join(chunk for chunk in chunks if chunk)


def _strict_schema_problem(schema: object, where: str = "()") -> str | None:
    """Why ``schema`` is not usable with ``strict: true`` (objects must close ``additionalProperties``
    and list every property as required), or ``None``."""
    if isinstance(schema, list):
        for index, item in enumerate(schema):
            problem = _strict_schema_problem(item, f"{where}, {index}")
            if problem:
                return problem
        return None
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "object" or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            return f"In context={where}, 'additionalProperties' is required to be supplied and to be false."
        properties = schema.get("properties") or {}
        required = schema.get("required") or []
        missing = [name for name in properties if name not in required]
        if missing:
            return (
                f"In context={where}, 'required' is required to be supplied and to be an array including "
                f"every key in properties. Missing '{missing[0]}'."
            )
        for name, sub in properties.items():
            problem = _strict_schema_problem(sub, f"{where}, 'properties', '{name}'")
            if problem:
                return problem
    for key in ("items", "anyOf", "$defs", "definitions"):
        sub = schema.get(key)
        if key in ("$defs", "definitions") and isinstance(sub, dict):
            for name, definition in sub.items():
                problem = _strict_schema_problem(definition, f"{where}, '{key}', '{name}'")
                if problem:
                    return problem
        elif sub is not None:
            problem = _strict_schema_problem(sub, f"{where}, '{key}'")
            if problem:
                return problem
    return None


def _assistant_tool_call_ids(message: dict[str, Any], i: int) -> list[str]:
    """Validate an assistant message of a request; return the ids of the tool calls it issues."""
    where = f"messages[{i}]"
    content = message.get("content")
    calls = message.get("tool_calls")
    if calls is not None and (not isinstance(calls, list) or not calls):
        raise _Rejection(
            400,
            f"Invalid '{where}.tool_calls': expected a non-empty array.",
            f"{where}.tool_calls",
            "invalid_value",
        )
    if content is None and not calls and message.get("function_call") is None:
        raise _Rejection(
            400,
            f"Invalid value for '{where}.content': expected a string, got null.",
            f"messages.[{i}].content",
            "invalid_value",
        )
    if content is not None and not isinstance(content, str | list):
        raise _Rejection(
            400,
            f"Invalid type for '{where}.content': expected a string or an array, "
            f"but got {_type_name(content)} instead.",
            f"{where}.content",
            "invalid_type",
        )
    ids: list[str] = []
    for j, call in enumerate(calls or []):
        at = f"{where}.tool_calls[{j}]"
        if not isinstance(call, dict) or not isinstance(call.get("id"), str):
            raise _Rejection(
                400, f"Missing required parameter: '{at}.id'.", f"{at}.id", "missing_required_parameter"
            )
        kind = call.get("type")
        if kind == "function":
            function = call.get("function")
            if (
                not isinstance(function, dict)
                or not isinstance(function.get("name"), str)
                or not isinstance(function.get("arguments"), str)
            ):
                raise _Rejection(
                    400,
                    f"Invalid '{at}.function': expected an object with string 'name' and 'arguments'.",
                    f"{at}.function",
                    "invalid_value",
                )
        elif kind != "custom":
            raise _Rejection(
                400,
                f"Invalid value: '{kind}'. Supported values are: 'function' and 'custom'.",
                f"{at}.type",
                "invalid_value",
            )
        ids.append(call["id"])
    return ids


class FakeOpenAI:
    """An OpenAI-compatible chat-completions server that replays scripted :class:`Reply` objects.

    Serve :attr:`app` with :class:`standins.server.ServerThread` and give the SDK
    ``base_url=f"{url}/v1"``. Script replies with :meth:`script`; inspect :attr:`requests`,
    :attr:`exchanges`, :meth:`pending` and :attr:`usage_total` afterwards.
    """

    def __init__(
        self,
        api_key: str = "sk-test-standin",
        models: tuple[str, ...] = ("gpt-4o-mini",),
        supports_json_schema: bool = True,
        refused_formats: Mapping[str, FormatRefusal] | None = None,
        profile: ServerProfile | str = "openai",
    ) -> None:
        """``profile`` is the server played (:mod:`standins.profiles`, by name or object); ``refused_formats``
        adds refusals to its own."""
        self.api_key = api_key
        self.models = tuple(models)
        self.supports_json_schema = supports_json_schema
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        self.refused_formats = {**self.profile.refused_formats, **(refused_formats or {})}
        self._lock = threading.Lock()
        self._queue: list[tuple[Reply, tuple[str, ...]]] = []
        self._requests: list[dict[str, Any]] = []
        self._exchanges: list[Exchange] = []
        self._prompt_tokens = 0
        self._completion_tokens = 0
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        self.app = Starlette(routes=[Route("/{path:path}", self._dispatch, methods=methods)])

    # -- scripting and inspection (any thread) -------------------------------------------------

    def script(self, *replies: Reply, match: str | tuple[str, ...] | None = None) -> None:
        """Queue replies, used first-in first-out. With ``match``, these replies are only used for a
        request whose messages' text contains that substring (or, for a tuple, every one of them);
        other requests skip over them."""
        wanted = () if match is None else (match,) if isinstance(match, str) else tuple(match)
        with self._lock:
            self._queue.extend((reply, wanted) for reply in replies)

    def pending(self) -> int:
        """How many scripted replies have not been used yet."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every chat-completion request body received (including rejected ones), in order."""
        with self._lock:
            return list(self._requests)

    @property
    def exchanges(self) -> list[Exchange]:
        """Every HTTP exchange, in order."""
        with self._lock:
            return list(self._exchanges)

    @property
    def usage_total(self) -> tuple[int, int]:
        """Sum of ``(prompt_tokens, completion_tokens)`` returned in successful completions."""
        with self._lock:
            return (self._prompt_tokens, self._completion_tokens)

    def reset(self) -> None:
        """Drop scripted replies and all records."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._exchanges.clear()
            self._prompt_tokens = self._completion_tokens = 0

    # -- HTTP ----------------------------------------------------------------------------------

    async def _dispatch(self, request: Request) -> Response:
        full_path = "/" + request.path_params["path"]
        path = full_path[3:] if full_path == "/v1" or full_path.startswith("/v1/") else full_path
        query = dict(request.query_params)
        method = request.method
        body: Any = None
        status: int = 500
        payload: Any = None
        headers: dict[str, str] = {}
        try:
            raw = await request.body()
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    raise _Rejection(
                        400,
                        "We could not parse the JSON body of your request. (HINT: This likely means you "
                        "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
                        "but what was sent was not valid JSON.)",
                    ) from exc
            if method == "POST" and path == "/chat/completions" and isinstance(body, dict):
                with self._lock:
                    self._requests.append(body)
            self._check_auth(request)
            if not full_path.startswith("/v1/"):
                raise self._invalid_url(method, full_path)
            if path == "/chat/completions" and method == "POST":
                status, payload, headers = await self._chat_completion(request, body)
            elif path == "/models" and method == "GET":
                status, payload = 200, {"object": "list", "data": [self._model(m) for m in self.models]}
            elif path.startswith("/models/") and path.count("/") == 2 and method == "GET":
                status, payload = 200, self._model(self._known_model(path.removeprefix("/models/")))
            else:
                raise self._invalid_url(method, full_path)
        except _Rejection as rejection:
            status = rejection.status
            payload = (
                {"error": rejection.message}
                if rejection.plain
                else _error_body(rejection.message, rejection.type, rejection.param, rejection.code)
            )
            headers = rejection.headers
        headers = {"x-request-id": _new_id("req_", 32), "openai-processing-ms": "1", **headers}
        with self._lock:
            self._exchanges.append(Exchange(method, path, query, body, status, payload, dict(headers)))
        return JSONResponse(payload, status_code=status, headers=headers)

    @staticmethod
    def _invalid_url(method: str, path: str) -> _Rejection:
        return _Rejection(404, f"Invalid URL ({method} {path})")

    def _check_auth(self, request: Request) -> None:
        authorization = request.headers.get("authorization", "")
        if not authorization:
            raise _Rejection(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or key.strip() != self.api_key:
            shown = key.strip()
            masked = (
                (shown[:3] + "*" * max(len(shown) - 7, 0) + shown[-4:])
                if len(shown) > 8
                else "*" * len(shown)
            )
            raise _Rejection(401, f"Incorrect API key provided: {masked}.", code="invalid_api_key")

    def _known_model(self, model: str) -> str:
        if model not in self.models:
            raise _Rejection(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        return model

    @staticmethod
    def _model(model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": _MODEL_CREATED, "owned_by": "system"}

    # -- chat completions ----------------------------------------------------------------------

    async def _chat_completion(self, request: Request, body: Any) -> tuple[int, Any, dict[str, str]]:
        self._validate(body)
        messages: list[Any] = body["messages"]
        text = _messages_text(messages)
        self._check_context(body)
        reply = self._take(text)
        if reply is None:
            return (
                500,
                _error_body(
                    "openai stand-in: no scripted reply for this request "
                    f"({self.pending()} left, none usable; last message: {text[-200:]!r}).",
                    "server_error",
                    None,
                    "standin_no_reply",
                ),
                {"x-should-retry": "false"},
            )
        if reply.kind == "error":
            body_ = _error_body(reply.message, reply.error_type, reply.error_param, reply.error_code)
            return reply.status, body_, dict(reply.headers)
        if reply.kind == "hang":
            outcome = await self._hang(request, reply.seconds)
            return 504, _error_body(f"openai stand-in: {outcome}", "server_error", None, "timeout"), {}
        if reply.seconds > 0:  # a slow model: the answer comes after `seconds`
            await asyncio.sleep(reply.seconds)
        if reply.until is not None:
            await asyncio.to_thread(reply.until.wait, HOLD_SECONDS)
        return 200, self._completion(body["model"], text, self._as_served(body, reply), _prompt_size(body)), {}

    # -- the profile's deviations ----------------------------------------------------------------

    def _output_cap(self, body: dict[str, Any]) -> int | None:
        """The output cap the server reads from a request: ``max_tokens``, else ``max_completion_tokens``
        unless the profile ignores that name."""
        for name in ("max_tokens", "max_completion_tokens"):
            value = body.get(name)
            if isinstance(value, int) and (name == "max_tokens" or self.profile.reads_max_completion_tokens):
                return value
        return None

    def _check_context(self, body: dict[str, Any]) -> None:
        """Refuse, as vLLM does (vllm-project/vllm#20409), a prompt plus output cap over ``max_model_len``."""
        limit = self.profile.max_model_len
        if limit is None:
            return
        prompt, cap = _prompt_size(body), self._output_cap(body) or 0
        if prompt + cap > limit:
            raise _Rejection(
                400, f"This model's maximum context length is {limit} tokens. However, you requested "
                f"{prompt + cap} tokens ({prompt} in the messages, {cap} in the completion). Please reduce the "
                "length of the messages or completion.", type="BadRequestError")

    def _as_served(self, body: dict[str, Any], reply: Reply) -> Reply:
        """``reply`` as this profile's server would give it: tool calls lost or turned into text, and the
        output cut at the cap it reads (``finish_reason: "length"``)."""
        if reply.kind == "tool_calls" and body.get("tools"):
            if self.profile.tools_lost_with_format and body.get("response_format"):  # the format's JSON only
                reply = replace(reply, kind="content", content=reply.calls[0].arguments, calls=[], finish_reason="stop")
            elif self.profile.tool_calls_as_text:
                text = "\n".join(json.dumps({"name": c.name, "arguments": _loaded(c.arguments)}) for c in reply.calls)
                reply = replace(reply, kind="content", content=text, calls=[], finish_reason="stop")
        if not self.profile.usage:
            reply = replace(reply, shows_usage=False)
        cap = self._output_cap(body)
        if cap is None:
            return reply
        room = cap * 4  # the stand-in's four characters a token
        if reply.kind == "content" and len(reply.content or "") > room:
            return replace(reply, content=(reply.content or "")[:room], finish_reason="length")
        if reply.kind == "tool_calls" and sum(len(c.name + c.arguments) for c in reply.calls) > room:
            first = reply.calls[0]
            cut = ToolCall(first.id, first.name, first.arguments[: max(room - len(first.name), 0)])
            return replace(reply, calls=[cut], finish_reason="length")
        return reply

    def _take(self, text: str) -> Reply | None:
        with self._lock:
            for index, (reply, wanted) in enumerate(self._queue):
                if all(part in text for part in wanted):
                    del self._queue[index]
                    return reply
        return None

    @staticmethod
    async def _hang(request: Request, seconds: float) -> str:
        async def client_gone() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass

        waiter = asyncio.ensure_future(client_gone())
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout=seconds)
        except TimeoutError:
            return f"scripted hang of {seconds}s elapsed"
        finally:
            waiter.cancel()
        return "client disconnected during a scripted hang"

    def _completion(self, model: str, prompt_text: str, reply: Reply, prompt_size: int = 0) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
        if reply.kind == "tool_calls":
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in reply.calls
            ]
            completion_text = "".join(c.name + c.arguments for c in reply.calls)
        else:
            message["content"] = reply.content
            completion_text = reply.content or ""
        if reply.usage is not None:
            prompt_tokens, completion_tokens = reply.usage
        else:
            prompt_tokens, completion_tokens = (
                _estimate_tokens(prompt_text),
                _estimate_tokens(completion_text),
            )
        if self.profile.num_ctx is not None and prompt_size > self.profile.num_ctx:
            prompt_tokens = min(prompt_tokens, self.profile.num_ctx)  # Ollama kept only num_ctx tokens
        with self._lock:  # only what the response reports
            self._prompt_tokens += prompt_tokens if reply.shows_usage else 0
            self._completion_tokens += completion_tokens if reply.shows_usage else 0
        completion: dict[str, Any] = {
            "id": _new_id("chatcmpl-", 29),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": _SYSTEM_FINGERPRINT,
        }
        if not reply.shows_usage:
            del completion["usage"]
        return completion

    # -- request validation ----------------------------------------------------------------------

    def _validate(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise _Rejection(
                400, f"Invalid type for request body: expected an object, but got {_type_name(body)}."
            )
        for name in ("model", "messages"):
            if name not in body:
                raise _Rejection(
                    400, f"Missing required parameter: '{name}'.", name, "missing_required_parameter"
                )
        if not isinstance(body["model"], str):
            raise _Rejection(
                400,
                f"Invalid type for 'model': expected a string, but got {_type_name(body['model'])} instead.",
                "model",
                "invalid_type",
            )
        if body.get("stream"):
            raise _Rejection(
                400,
                "openai stand-in: 'stream': true is not supported (it only answers whole completions).",
                "stream",
                "unsupported_value",
            )
        n = body.get("n")
        if n is not None and n != 1:
            raise _Rejection(400, "openai stand-in: only 'n': 1 is supported.", "n", "unsupported_value")
        self._validate_messages(body["messages"])
        self._validate_tools(body.get("tools"), body.get("tool_choice"))
        self._validate_response_format(body.get("response_format"), body["messages"])
        self._known_model(body["model"])

    @staticmethod
    def _validate_messages(messages: Any) -> None:
        if not isinstance(messages, list):
            raise _Rejection(
                400,
                f"Invalid type for 'messages': expected an array, but got {_type_name(messages)} instead.",
                "messages",
                "invalid_type",
            )
        if not messages:
            raise _Rejection(
                400,
                "Invalid 'messages': empty array. Expected an array with minimum length 1, "
                "but got an empty array instead.",
                "messages",
                "empty_array",
            )
        unanswered: dict[str, int] = {}  # tool_call_id -> index of the assistant message that issued it
        for i, message in enumerate(messages):
            where = f"messages[{i}]"
            if not isinstance(message, dict):
                raise _Rejection(
                    400,
                    f"Invalid type for '{where}': expected an object, but got {_type_name(message)} instead.",
                    where,
                    "invalid_type",
                )
            role = message.get("role")
            if role is None:
                raise _Rejection(
                    400,
                    f"Missing required parameter: '{where}.role'.",
                    f"{where}.role",
                    "missing_required_parameter",
                )
            if role not in _ROLES:
                raise _Rejection(
                    400,
                    f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                    "'function', 'tool', and 'developer'.",
                    f"{where}.role",
                    "invalid_value",
                )
            if unanswered and role != "tool":
                first = min(unanswered.values())
                raise _Rejection(
                    400,
                    "An assistant message with 'tool_calls' must be followed by tool messages responding to "
                    "each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                    + ", ".join(unanswered),
                    f"messages.[{first}].role",
                )
            content = message.get("content")
            if role in ("system", "developer", "user", "tool", "function"):
                if "content" not in message:
                    raise _Rejection(
                        400,
                        f"Missing required parameter: '{where}.content'.",
                        f"{where}.content",
                        "missing_required_parameter",
                    )
                if not isinstance(content, str | list) or (isinstance(content, list) and not content):
                    raise _Rejection(
                        400,
                        f"Invalid value for '{where}.content': expected a string or a non-empty array of "
                        f"content parts, but got {_type_name(content)}.",
                        f"{where}.content",
                        "invalid_value",
                    )
            if role == "tool":
                call_id = message.get("tool_call_id")
                if not isinstance(call_id, str):
                    raise _Rejection(
                        400,
                        f"Missing required parameter: '{where}.tool_call_id'.",
                        f"{where}.tool_call_id",
                        "missing_required_parameter",
                    )
                if call_id not in unanswered:
                    raise _Rejection(
                        400,
                        "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                        "message with 'tool_calls'.",
                        f"messages.[{i}].role",
                    )
                del unanswered[call_id]
            elif role == "function" and not isinstance(message.get("name"), str):
                raise _Rejection(
                    400,
                    f"Missing required parameter: '{where}.name'.",
                    f"{where}.name",
                    "missing_required_parameter",
                )
            elif role == "assistant":
                for call_id in _assistant_tool_call_ids(message, i):
                    unanswered[call_id] = i
        if unanswered:
            first = min(unanswered.values())
            raise _Rejection(
                400,
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                "'tool_call_id'. The following tool_call_ids did not have response messages: "
                + ", ".join(unanswered),
                f"messages.[{first}].role",
            )

    @staticmethod
    def _validate_tools(tools: Any, tool_choice: Any) -> None:
        names: list[str] = []
        if tools is not None:
            if not isinstance(tools, list):
                raise _Rejection(
                    400,
                    f"Invalid type for 'tools': expected an array, but got {_type_name(tools)} instead.",
                    "tools",
                    "invalid_type",
                )
            for i, tool in enumerate(tools):
                where = f"tools[{i}]"
                kind = tool.get("type") if isinstance(tool, dict) else None
                if kind not in ("function", "custom"):
                    raise _Rejection(
                        400,
                        f"Invalid value: '{kind}'. Supported values are: 'function' and 'custom'.",
                        f"{where}.type",
                        "invalid_value",
                    )
                assert isinstance(tool, dict)
                spec = tool.get(kind)
                if not isinstance(spec, dict):
                    raise _Rejection(
                        400,
                        f"Missing required parameter: '{where}.{kind}'.",
                        f"{where}.{kind}",
                        "missing_required_parameter",
                    )
                name = spec.get("name")
                if not isinstance(name, str) or not _NAME_RE.match(name):
                    raise _Rejection(
                        400,
                        f"Invalid '{where}.{kind}.name': string does not match pattern. Expected a string "
                        "that matches the pattern '^[a-zA-Z0-9_-]+$' (at most 64 characters).",
                        f"{where}.{kind}.name",
                        "invalid_value",
                    )
                names.append(name)
                if kind == "function" and spec.get("strict") and spec.get("parameters") is not None:
                    problem = _strict_schema_problem(spec["parameters"])
                    if problem:
                        raise _Rejection(
                            400,
                            f"Invalid schema for function '{name}': {problem}",
                            f"{where}.function.parameters",
                            "invalid_function_parameters",
                        )
        if tool_choice is None:
            return
        if not tools:
            raise _Rejection(
                400,
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
                "tool_choice",
            )
        if isinstance(tool_choice, str):
            if tool_choice not in ("none", "auto", "required"):
                raise _Rejection(
                    400,
                    f"Invalid value: '{tool_choice}'. Supported values are: 'none', 'auto', and 'required'.",
                    "tool_choice",
                    "invalid_value",
                )
        elif isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
            function = tool_choice.get("function")
            chosen = function.get("name") if isinstance(function, dict) else None
            if chosen not in names:
                raise _Rejection(
                    400,
                    f"Invalid value for 'tool_choice': function '{chosen}' is not one of the 'tools'.",
                    "tool_choice",
                    "invalid_value",
                )

    def _validate_response_format(self, response_format: Any, messages: list[Any]) -> None:
        if response_format is None:
            return
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            raise _Rejection(
                400,
                f"Invalid value: '{kind}'. Supported values are: 'text', 'json_object', and 'json_schema'.",
                "response_format.type",
                "invalid_value",
            )
        assert isinstance(response_format, dict)
        refusal = self.refused_formats.get(str(kind))
        if refusal is not None:
            raise _Rejection(refusal.status, refusal.message, "response_format.type",
                             type="server_error" if refusal.status >= 500 else "invalid_request_error",
                             plain=refusal.plain)
        if kind == "json_object":
            if "json" not in _messages_text(messages).lower():
                raise _Rejection(
                    400,
                    "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
                    "'json_object'.",
                    "messages",
                )
        elif kind == "json_schema":
            if not self.supports_json_schema:
                raise _Rejection(
                    400,
                    "response_format type 'json_schema' is not supported by this server (unsupported_value); "
                    "supported values are: 'text' and 'json_object'.",
                    "response_format.type",
                    "unsupported_value",
                )
            spec = response_format.get("json_schema")
            if not isinstance(spec, dict):
                raise _Rejection(
                    400,
                    "Missing required parameter: 'response_format.json_schema'.",
                    "response_format.json_schema",
                    "missing_required_parameter",
                )
            name = spec.get("name")
            if not isinstance(name, str):
                raise _Rejection(
                    400,
                    "Missing required parameter: 'response_format.json_schema.name'.",
                    "response_format.json_schema.name",
                    "missing_required_parameter",
                )
            if not _NAME_RE.match(name):
                raise _Rejection(
                    400,
                    "Invalid 'response_format.json_schema.name': string does not match pattern. Expected a "
                    "string that matches the pattern '^[a-zA-Z0-9_-]+$' (at most 64 characters).",
                    "response_format.json_schema.name",
                    "invalid_value",
                )
            schema = spec.get("schema")
            if not isinstance(schema, dict):
                raise _Rejection(
                    400,
                    "Missing required parameter: 'response_format.json_schema.schema'.",
                    "response_format.json_schema.schema",
                    "missing_required_parameter",
                )
            if spec.get("strict"):
                problem = _strict_schema_problem(schema)
                if problem:
                    raise _Rejection(
                        400,
                        f"Invalid schema for response_format '{name}': {problem}",
                        "response_format",
                        "invalid_json_schema",
                    )
