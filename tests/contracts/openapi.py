"""Validate HTTP exchanges against vendored OpenAPI descriptions.

The integration and end-to-end tests run the real PyGithub and openai SDKs against local
stand-in servers. To keep those stand-ins honest, every request the bot sends and every
response a stand-in returns can be checked against the published API descriptions vendored
next to this module (see ``SOURCES.md``; regenerate with ``regenerate.py``)::

    from tests.contracts.openapi import github_contract

    contract = github_contract()
    assert contract.check_request("POST", "/repos/o/r/issues/1/comments", {}, {"body": "hi"}) == []
    assert contract.check_response("POST", "/repos/o/r/issues/1/comments", 201, payload) == []

Paths are given relative to the API root (``/repos/...`` for GitHub, ``/chat/completions``
for OpenAI); a path that still carries the description's server prefix (OpenAI's ``/v1``) is
accepted too. Every check returns a list of readable problem strings, empty when the exchange
conforms. A problem reads ``"<operationId> (<METHOD> <template>): <location>: <message>"``
where the location is one of ``request $.json.path``, ``query <name>``, ``path <name>``,
``status <status>`` (a status the operation does not declare), ``response <status>`` (body
missing or unexpected) or ``response <status> $.json.path``.

Schemas are checked with ``jsonschema`` (JSON Schema 2020-12) after a small normalisation:
OpenAPI 3.0's ``nullable: true`` (also found in OpenAI's 3.1 description) becomes a ``null``
type, boolean ``exclusiveMinimum``/``exclusiveMaximum`` become numeric, OpenAPI-only keywords
(``example``, ``discriminator``, ``readOnly``, ``x-*``...) are ignored and ``format`` is not
enforced. ``$ref`` into ``#/components/...`` is resolved through a ``referencing.Registry``.
Validators are compiled once per operation, status and media type.

Where a published description is itself wrong compared with the real service, the problem
is listed in ``KNOWN_EXCEPTIONS`` (with its reason) and skipped.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import threading
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

__all__ = [
    "KNOWN_EXCEPTIONS",
    "Contract",
    "KnownException",
    "github_contract",
    "openai_contract",
    "webhook_events",
    "webhook_examples",
]

HERE = Path(__file__).resolve().parent
GITHUB_SPEC = HERE / "github-openapi.json"
OPENAI_SPEC = HERE / "openai-openapi.json"
WEBHOOKS_DIR = HERE / "webhooks"

#: Most problems reported by one check; the rest are summarised in one line.
MAX_PROBLEMS = 50


def _glob(pattern: str, text: str) -> bool:
    """Match ``text`` against ``pattern`` where only ``*`` (any run) and ``?`` (one character)
    are special; brackets and dots in JSON paths are literal."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, flags=re.DOTALL) is not None


@dataclass(frozen=True)
class KnownException:
    """A place where a published description disagrees with the real service.

    ``operation`` is an operationId (``"issues/create-comment"``, ``"createChatCompletion"``)
    or ``"METHOD /path/{template}"``. ``location`` is matched against a problem's location
    (``"response 200 $.choices[0].logprobs"``, ``"request $.messages"``, ``"query per_page"``,
    ``"status 500"``). Both are patterns where ``*`` matches any run of characters and ``?``
    one character; everything else is literal. ``contract`` limits the entry to one contract
    (``"github"``, ``"openai"``); ``None`` means any. ``reason`` says why the description,
    not our code or stand-in, is wrong; it is required.
    """

    operation: str
    location: str
    reason: str
    contract: str | None = None

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError(f"KnownException {self.operation} {self.location}: a reason is required")

    def matches(self, contract: str, operation_id: str, method_template: str, location: str) -> bool:
        """Whether this exception covers a problem at ``location`` of the given operation."""
        if self.contract is not None and self.contract != contract:
            return False
        if not (_glob(self.operation, operation_id) or _glob(self.operation, method_template)):
            return False
        return _glob(self.location, location)


_OPENAI_ERROR_STATUSES = (
    "OpenAI's description declares only 200 (plus 429 for chat completions), but the real API "
    "answers errors with the documented ErrorResponse body and 400/401/403/404/409/422/5xx "
    "statuses (see OpenAI's error-codes guide); the openai SDK maps each of them to an "
    "exception class (BadRequestError, AuthenticationError, NotFoundError, InternalServerError...)."
)
_GITHUB_ANY_ENDPOINT = (
    "GitHub answers {status} on any endpoint ({why}), but the description declares it only for some operations."
)

#: Problems caused by errors in the published descriptions themselves. Every entry must say
#: why the real GitHub/OpenAI behaviour differs from the description.
KNOWN_EXCEPTIONS: list[KnownException] = [
    KnownException(
        "issues/add-labels",
        "request $",
        "The description's own text for `labels` says 'You can also pass an array of labels "
        "directly', and GitHub accepts a bare JSON array of names; PyGithub's "
        "Issue.add_to_labels sends exactly that, but the requestBody schema's oneOf lists only "
        "the {labels: [...]} object form.",
        contract="github",
    ),
    KnownException(
        "apps/list-installations",
        "response 200 $[*].account",
        "The operation's inlined Installation schema makes `account` allOf[simple-user, "
        "enterprise] (both at once, requiring enterprise-only name/slug/created_at), while the "
        "`installation` component and the operation's own published example use anyOf: a real "
        "installation account is one user/organization object.",
        contract="github",
    ),
    *(
        KnownException(
            "*",
            f"status {status}",
            _GITHUB_ANY_ENDPOINT.format(status=status, why=why),
            contract="github",
        )
        for status, why in (
            ("401", "'Bad credentials' for a missing, expired or revoked token"),
            ("403", "primary/secondary rate limit exceeded, per 'Rate limits for the REST API'"),
            ("429", "primary/secondary rate limit exceeded, per 'Rate limits for the REST API'"),
        )
    ),
    KnownException("*", "status 4??", _OPENAI_ERROR_STATUSES, contract="openai"),
    KnownException("*", "status 5??", _OPENAI_ERROR_STATUSES, contract="openai"),
]


# --- schema normalisation -----------------------------------------------------------------------

_SCHEMA_MAP_KEYWORDS = ("properties", "patternProperties", "dependentSchemas", "$defs", "definitions")
_SCHEMA_KEYWORDS = (
    "additionalProperties",
    "items",
    "additionalItems",
    "not",
    "contains",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
)
_SCHEMA_LIST_KEYWORDS = ("allOf", "anyOf", "oneOf", "prefixItems")
_COMPOSITION_KEYWORDS = ("allOf", "anyOf", "oneOf", "$ref")


def _normalize_schema(schema: Any, base_uri: str) -> Any:
    """Turn an OpenAPI schema object into plain JSON Schema 2020-12.

    Local ``$ref``s are made absolute (``base_uri#/components/...``) so that any subschema can
    be validated on its own against the registry holding the whole document.
    """
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
            out[key] = {name: _normalize_schema(sub, base_uri) for name, sub in value.items()}
        elif key in _SCHEMA_KEYWORDS:
            if isinstance(value, list):  # draft-4 style tuple "items"
                out[key] = [_normalize_schema(sub, base_uri) for sub in value]
            else:
                out[key] = _normalize_schema(value, base_uri)
        elif key in _SCHEMA_LIST_KEYWORDS and isinstance(value, list):
            out[key] = [_normalize_schema(sub, base_uri) for sub in value]
        elif key == "$ref" and isinstance(value, str) and value.startswith("#"):
            out[key] = base_uri + value
        else:
            out[key] = value

    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        flag = out.get(bound)
        if isinstance(flag, bool):  # OpenAPI 3.0 / draft-4 boolean form
            del out[bound]
            if flag and limit in out:
                out[bound] = out.pop(limit)

    if out.pop("nullable", False) is True:
        if "type" in out and not any(k in out for k in _COMPOSITION_KEYWORDS):
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            if "null" not in types:
                out["type"] = [*types, "null"]
            if isinstance(out.get("enum"), list) and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


_DATA_KEYS = ("example", "examples")  # example values are literal data, never schemas


def _normalize_document(node: Any, base_uri: str) -> Any:
    """Normalise every schema of an OpenAPI document (components and inline ``schema``s)."""
    if isinstance(node, list):
        return [_normalize_document(v, base_uri) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "schema":
            out[key] = _normalize_schema(value, base_uri)
        elif key == "schemas" and isinstance(value, dict):  # components.schemas
            out[key] = {name: _normalize_schema(sub, base_uri) for name, sub in value.items()}
        elif key in _DATA_KEYS or key.startswith("x-"):
            out[key] = value  # literal data, never a schema
        elif key == "$ref" and isinstance(value, str) and value.startswith("#"):
            out[key] = base_uri + value
        else:
            out[key] = _normalize_document(value, base_uri)
    return out


# --- problems -------------------------------------------------------------------------------------


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _error_message(error: ValidationError) -> str:
    """A compact message for a validation error (huge instance reprs are shortened)."""
    message = error.message
    full = repr(error.instance)
    if len(full) > 60 and message.startswith(full):
        message = _short_repr(error.instance) + message[len(full) :]
    if error.context:
        # The null branch added for ``nullable`` is never the interesting one.
        context = [e for e in error.context if not (e.validator == "type" and e.validator_value == "null")]
        closest = best_match(context or error.context)
        if closest is not None:
            message += f" (closest: {closest.json_path}: {_error_message(closest)})"
    return message if len(message) <= 600 else message[:597] + "..."


def _json_path(error: ValidationError) -> str:
    """The JSON path of an error, extended with the property name for ``required`` errors."""
    path = error.json_path
    if error.validator == "required" and isinstance(error.instance, dict):
        for name in error.validator_value or ():
            if name not in error.instance and error.message.startswith(repr(name)):
                if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(name)):
                    return f"{path}.{name}"
                return f"{path}[{json.dumps(name)}]"
    return path


@dataclass(frozen=True)
class _Route:
    method: str
    template: str
    operation_id: str
    pattern: re.Pattern[str]
    param_names: tuple[str, ...]
    specificity: tuple[int, int]
    operation: dict[str, Any]
    path_item: dict[str, Any]


class Contract:
    """An OpenAPI description that requests and responses can be checked against."""

    def __init__(
        self,
        document: Mapping[str, Any],
        *,
        name: str = "api",
        multi_segment_params: Iterable[str] = ("ref", "path"),
        known_exceptions: Sequence[KnownException] | None = None,
    ) -> None:
        """Index ``document`` (an OpenAPI 3.0 or 3.1 description loaded from JSON).

        ``name`` appears in problems about unknown operations. Path parameters named in
        ``multi_segment_params`` may span several path segments (GitHub's ``git/ref/{ref}``
        with ``heads/feature/x``, ``contents/{path}`` with ``docs/a.md``). ``known_exceptions``
        defaults to the module's ``KNOWN_EXCEPTIONS`` list.
        """
        self.name = name
        self.openapi_version = str(document.get("openapi", ""))
        if not self.openapi_version.startswith(("3.0", "3.1")):
            raise ValueError(f"{name}: unsupported OpenAPI version {self.openapi_version!r}")
        info = document.get("info", {})
        self.version = str(info.get("version", "")) if isinstance(info, Mapping) else ""
        self._base_uri = f"urn:issuesmith-contract:{urllib.parse.quote(name)}"
        self._doc: dict[str, Any] = _normalize_document(copy.deepcopy(dict(document)), self._base_uri)
        self._registry: Registry[Any] = Registry().with_resource(self._base_uri, DRAFT202012.create_resource(self._doc))
        self._multi = frozenset(multi_segment_params)
        self._known = known_exceptions
        self._server_prefixes = self._find_server_prefixes()
        self._routes = self._build_routes()
        self._by_id = {route.operation_id: route for route in self._routes}
        self._validators: dict[tuple[Any, ...], Draft202012Validator] = {}
        self._lock = threading.Lock()

    # --- routing --------------------------------------------------------------------------

    def _find_server_prefixes(self) -> list[str]:
        prefixes: list[str] = []
        for server in self._doc.get("servers", []) or []:
            url = server.get("url", "") if isinstance(server, dict) else ""
            prefix = urllib.parse.urlsplit(url).path.rstrip("/")
            if prefix and prefix not in prefixes:
                prefixes.append(prefix)
        return prefixes

    def _build_routes(self) -> list[_Route]:
        routes: list[_Route] = []
        for template, item in (self._doc.get("paths") or {}).items():
            if not isinstance(item, dict):
                continue
            regex, names, specificity = self._compile_template(template)
            for method, operation in item.items():
                if method not in ("get", "put", "post", "delete", "options", "head", "patch", "trace"):
                    continue
                op_id = operation.get("operationId") or f"{method.upper()} {template}"
                routes.append(
                    _Route(
                        method=method.upper(),
                        template=template,
                        operation_id=op_id,
                        pattern=regex,
                        param_names=names,
                        specificity=specificity,
                        operation=operation,
                        path_item=item,
                    )
                )
        # Most specific first: more literal segments, then fewer multi-segment parameters.
        routes.sort(key=lambda r: (-r.specificity[0], r.specificity[1], r.template, r.method))
        return routes

    def _compile_template(self, template: str) -> tuple[re.Pattern[str], tuple[str, ...], tuple[int, int]]:
        """Compile a path template to a regex over the raw (still percent-encoded) path."""
        parts: list[str] = []
        names: list[str] = []
        literal_segments = 0
        multi = 0
        for segment in template.strip("/").split("/"):
            whole = re.fullmatch(r"\{([^{}]+)\}", segment)
            if whole and whole.group(1) in self._multi:
                names.append(whole.group(1))
                multi += 1
                parts.append(f"(?P<p{len(names) - 1}>.+?)")
                continue
            pieces = re.split(r"(\{[^{}]+\})", segment)
            regex = ""
            has_param = False
            for piece in pieces:
                if piece.startswith("{") and piece.endswith("}"):
                    names.append(piece[1:-1])
                    regex += f"(?P<p{len(names) - 1}>[^/]+?)"
                    has_param = True
                elif piece:
                    regex += re.escape(piece)
            if not has_param:
                literal_segments += 1
            parts.append(regex)
        pattern = re.compile("/" + "/".join(parts) if parts != [""] else "/")
        return pattern, tuple(names), (literal_segments, multi)

    def _route(self, method: str, path: str) -> tuple[_Route, dict[str, str]] | None:
        raw = path.split("?", 1)[0].split("#", 1)[0] or "/"
        if not raw.startswith("/"):
            raw = "/" + raw
        candidates = [raw]
        for prefix in self._server_prefixes:
            if raw == prefix or raw.startswith(prefix + "/"):
                candidates.append(raw[len(prefix) :] or "/")
        method = method.upper()
        for candidate in candidates:
            for route in self._routes:
                if route.method != method:
                    continue
                match = route.pattern.fullmatch(candidate)
                if match is None:
                    continue
                params = {name: urllib.parse.unquote(match.group(f"p{i}")) for i, name in enumerate(route.param_names)}
                return route, params
        return None

    def find_operation(self, method: str, path: str) -> tuple[str, dict[str, str]] | None:
        """Find the operation serving ``method path``.

        ``path`` is relative to the API root (``/repos/o/r/issues/1/comments``); a query string
        is ignored. Returns ``(operationId, path parameters)`` with the parameters
        percent-decoded, or ``None`` when no operation of the description matches.
        """
        found = self._route(method, path)
        if found is None:
            return None
        route, params = found
        return route.operation_id, params

    def operations(self) -> list[tuple[str, str, str]]:
        """Every operation of the description as ``(operationId, METHOD, path template)``."""
        return sorted((r.operation_id, r.method, r.template) for r in self._routes)

    # --- references and validators -------------------------------------------------------

    def _deref(self, node: Any) -> Any:
        """Follow ``$ref`` chains of non-schema objects (parameters, responses, bodies...)."""
        seen = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref: str = node["$ref"]
            local = ref.removeprefix(self._base_uri)  # example maps keep their "#/..." refs
            if not local.startswith("#/"):
                raise ValueError(f"{self.name}: unsupported $ref {ref!r}")
            target: Any = self._doc
            for token in local[2:].split("/"):
                token = urllib.parse.unquote(token).replace("~1", "/").replace("~0", "~")
                target = target[int(token)] if isinstance(target, list) else target[token]
            node = target
            seen += 1
            if seen > 50:
                raise ValueError(f"{self.name}: $ref loop at {ref!r}")
        return node

    def _validator(self, key: tuple[Any, ...], schema: Any) -> Draft202012Validator:
        validator = self._validators.get(key)
        if validator is None:
            with self._lock:
                validator = self._validators.get(key)
                if validator is None:
                    validator = Draft202012Validator(schema, registry=self._registry)
                    self._validators[key] = validator
        return validator

    def _parameters(self, route: _Route) -> dict[tuple[str, str], dict[str, Any]]:
        """Path-item and operation parameters, keyed by (location, name); operation wins."""
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for source in (route.path_item.get("parameters"), route.operation.get("parameters")):
            for param in source or []:
                resolved = self._deref(param)
                if isinstance(resolved, dict) and "name" in resolved and "in" in resolved:
                    merged[(str(resolved["in"]), str(resolved["name"]))] = resolved
        return merged

    @staticmethod
    def _pick_media(content: Mapping[str, Any], content_type: str | None) -> tuple[str, Any] | None:
        """Choose the media type to validate against; ``None`` if there is no JSON one."""
        if content_type is not None:
            wanted = content_type.split(";", 1)[0].strip().lower()
            for media, obj in content.items():
                if media.lower() == wanted:
                    return media, obj
            for media, obj in content.items():
                major, _, minor = media.lower().partition("/")
                if (minor == "*" and wanted.startswith(major + "/")) or media == "*/*":
                    return media, obj
            return None
        if "application/json" in content:
            return "application/json", content["application/json"]
        for media in sorted(content):
            base = media.split(";", 1)[0].lower()
            if base.endswith("/json") or base.endswith("+json"):
                return media, content[media]
        return None

    # --- checks ----------------------------------------------------------------------------

    def _finish(self, route: _Route | None, problems: list[tuple[str, str]]) -> list[str]:
        """Drop known exceptions, format, and cap the number of problems."""
        known = KNOWN_EXCEPTIONS if self._known is None else self._known
        out: list[str] = []
        for location, message in problems:
            if route is not None:
                label = f"{route.method} {route.template}"
                if any(k.matches(self.name, route.operation_id, label, location) for k in known):
                    continue
                out.append(f"{route.operation_id} ({label}): {location}: {message}")
            else:
                out.append(f"{location}: {message}")
        if len(out) > MAX_PROBLEMS:
            out = [*out[:MAX_PROBLEMS], f"... and {len(out) - MAX_PROBLEMS} more problems"]
        return out

    def _schema_problems(
        self, key: tuple[Any, ...], schema: Any, instance: Any, prefix: str
    ) -> Iterator[tuple[str, str]]:
        validator = self._validator(key, schema)
        errors = sorted(validator.iter_errors(instance), key=lambda e: (e.json_path, e.message))
        for error in errors:
            yield f"{prefix} {_json_path(error)}", _error_message(error)

    def _param_problems(self, route: _Route, param: dict[str, Any], value: Any) -> Iterator[tuple[str, str]]:
        schema = param.get("schema")
        if not isinstance(schema, dict):
            return
        location = f"{param['in']} {param['name']}"
        key = ("param", route.operation_id, param["in"], param["name"])
        coerced = _coerce(value, self._deref(schema))
        for error in self._validator(key, schema).iter_errors(coerced):
            yield location, _error_message(error)

    def check_request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str | Sequence[str]] | None = None,
        body: object | None = None,
    ) -> list[str]:
        """Check a request the client sent; return readable problems (empty when valid).

        Reports an unknown operation, path parameters not matching their schema, missing
        required query parameters and malformed declared ones (values are strings and are
        coerced to the declared type first), a missing required body, a body the operation
        does not take, and a JSON body not valid against the requestBody schema. Query
        parameters the description does not declare are ignored (the real APIs ignore them).
        """
        found = self._route(method, path)
        if found is None:
            return self._finish(None, [(f"{method.upper()} {path}", f"no such operation in {self.name}")])
        route, path_params = found
        problems: list[tuple[str, str]] = []
        query = dict(query or {})
        for (where, name), param in self._parameters(route).items():
            if where == "path" and name in path_params:
                problems.extend(self._param_problems(route, param, path_params[name]))
            elif where == "query":
                if name in query:
                    problems.extend(self._param_problems(route, param, query[name]))
                elif param.get("required"):
                    problems.append((f"query {name}", "required query parameter is missing"))

        request_body = self._deref(route.operation.get("requestBody"))
        if not isinstance(request_body, dict):
            if body is not None:
                problems.append(("request $", "the operation takes no request body but one was sent"))
            return self._finish(route, problems)
        if body is None:
            if request_body.get("required"):
                problems.append(("request $", "required request body is missing"))
            return self._finish(route, problems)
        picked = self._pick_media(request_body.get("content") or {}, None)
        if picked is not None and isinstance(picked[1], dict) and "schema" in picked[1]:
            media, media_obj = picked
            key = ("request", route.operation_id, media)
            problems.extend(self._schema_problems(key, media_obj["schema"], body, "request"))
        return self._finish(route, problems)

    def _response_object(self, route: _Route, status: int) -> tuple[str, dict[str, Any]] | None:
        responses = route.operation.get("responses") or {}
        for candidate in (str(status), f"{str(status)[0]}XX", f"{str(status)[0]}xx", "default"):
            if candidate in responses:
                resolved = self._deref(responses[candidate])
                return candidate, resolved if isinstance(resolved, dict) else {}
        return None

    def check_response(
        self,
        method: str,
        path: str,
        status: int,
        body: object | None = None,
        *,
        content_type: str | None = None,
    ) -> list[str]:
        """Check a response a server returned; return readable problems (empty when valid).

        Reports an unknown operation, a status the operation does not declare (neither
        exactly, as ``4XX``-style range, nor ``default``), a missing body where a JSON one is
        declared, a body where none is declared, and a body not valid against the schema.
        ``content_type`` picks the media type to validate against (for example
        ``text/event-stream`` to check one parsed chunk of a streamed chat completion); by
        default the JSON media type is used.
        """
        found = self._route(method, path)
        if found is None:
            return self._finish(None, [(f"{method.upper()} {path}", f"no such operation in {self.name}")])
        route, _ = found
        resolved = self._response_object(route, status)
        if resolved is None:
            declared = ", ".join(sorted(route.operation.get("responses") or {}))
            return self._finish(route, [(f"status {status}", f"status not declared (declared: {declared})")])
        status_key, response = resolved
        content = response.get("content") or {}
        location = f"response {status}"
        if not content:
            if body is not None:
                return self._finish(route, [(location, "a body was returned but the status declares none")])
            return self._finish(route, [])
        picked = self._pick_media(content, content_type)
        if picked is None:
            if content_type is not None:
                declared = ", ".join(sorted(content))
                problem = f"content type {content_type!r} not declared (declared: {declared})"
                return self._finish(route, [(location, problem)])
            return self._finish(route, [])  # no JSON media type: nothing to validate
        media, media_obj = picked
        if not isinstance(media_obj, dict) or "schema" not in media_obj:
            return self._finish(route, [])
        if body is None:
            return self._finish(route, [(location, f"no body but {media} content is declared")])
        key = ("response", route.operation_id, status_key, media)
        return self._finish(route, list(self._schema_problems(key, media_obj["schema"], body, location)))

    def response_examples(self, operation_id: str, status: int, media: str = "application/json") -> list[Any]:
        """The example bodies the description publishes for ``operation_id`` and ``status``.

        Useful as a starting point for stand-in responses, but check what you build from them:
        a few hand-written examples are older than their schema (see
        ``STALE_EXAMPLE_PROBLEMS`` in tests/contracts/test_contracts.py). Returns fresh copies, or
        ``[]`` when there are none.
        """
        route = self._by_id.get(operation_id)
        if route is None:
            raise KeyError(f"{self.name}: no operation {operation_id!r}")
        resolved = self._response_object(route, status)
        if resolved is None:
            return []
        media_obj = (resolved[1].get("content") or {}).get(media) or {}
        out: list[Any] = []
        if "example" in media_obj:
            out.append(copy.deepcopy(media_obj["example"]))
        for example in (media_obj.get("examples") or {}).values():
            example = self._deref(example)
            value = example.get("value") if isinstance(example, dict) else None
            # GitHub's description sometimes nests the reference inside "value".
            if isinstance(value, dict) and set(value) == {"$ref"}:
                value = self._deref(value)
                value = value.get("value") if isinstance(value, dict) else None
            if value is not None:
                out.append(copy.deepcopy(value))
        return out


def _types_of(schema: Any) -> list[str]:
    if not isinstance(schema, dict):
        return []
    declared = schema.get("type")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [t for t in declared if isinstance(t, str)]
    return []


def _coerce(value: Any, schema: Any) -> Any:
    """Convert a query/path string to the type its parameter schema declares, when possible."""
    types = _types_of(schema)
    if isinstance(value, list | tuple):  # e.g. from urllib.parse.parse_qs
        if "array" not in types and len(value) == 1:
            return _coerce(value[0], schema)
        items = schema.get("items") if isinstance(schema, dict) else None
        return [_coerce(v, items) for v in value]
    if not isinstance(value, str):
        return value
    if "array" in types:
        items = schema.get("items") if isinstance(schema, dict) else None
        return [_coerce(v, items) for v in value.split(",")] if value else []
    if "integer" in types and re.fullmatch(r"-?\d+", value):
        return int(value)
    if "number" in types:
        try:
            return float(value)
        except ValueError:
            return value
    if "boolean" in types and value in ("true", "false"):
        return value == "true"
    return value


# --- loaders --------------------------------------------------------------------------------------


def _load_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


@functools.cache
def github_contract() -> Contract:
    """The vendored GitHub REST description (trimmed to the operations the bot uses)."""
    return Contract(_load_json(GITHUB_SPEC), name="github", multi_segment_params=("ref", "path", "branch"))


@functools.cache
def openai_contract() -> Contract:
    """The vendored OpenAI description (chat completions and models)."""
    return Contract(_load_json(OPENAI_SPEC), name="openai", multi_segment_params=("model",))


def webhook_events() -> list[str]:
    """The webhook events that have vendored example payloads."""
    return sorted(p.stem for p in WEBHOOKS_DIR.glob("*.json"))


@functools.cache
def _webhook_text(event: str) -> str:
    return (WEBHOOKS_DIR / f"{event}.json").read_text(encoding="utf-8")


def webhook_examples(event: str) -> list[dict[str, Any]]:
    """Real example payloads of a webhook ``event`` (all actions), as fresh copies.

    Raises ``ValueError`` for an event without vendored examples.
    """
    if event not in webhook_events():
        raise ValueError(f"no vendored webhook examples for {event!r}; have {webhook_events()}")
    payloads = json.loads(_webhook_text(event))
    if not isinstance(payloads, list):
        raise ValueError(f"webhooks/{event}.json is not a JSON list")
    return [p for p in payloads if isinstance(p, dict)]
