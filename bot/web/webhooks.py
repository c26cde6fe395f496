"""Webhook deliveries: signature check and the cheap decision "does this concern us?".

Pure functions, no I/O: the web path calls them before it touches Redis, and only
events that become an `Intent` are queued.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from bot.config.policy import Policy
from bot.github.commands import EDITED_COMMAND, Command, parse_command
from bot.runs.intents import Intent

SIGNATURE_PREFIX = "sha256="
BRANCH_PREFIX = Policy.branch_prefix
"""The bot's branches: pull requests from other branches are not ours to act on."""
"""Intents about the bot's pull request (handled by `jobs.pulls`)."""
DELIVERY_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
"""An `X-GitHub-Delivery` value (GitHub sends a GUID); it names the intake job and a hidden marker."""


def sign(secret: bytes, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for this body."""
    return SIGNATURE_PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str | bytes | None) -> bool:
    """Check `X-Hub-Signature-256` over the raw body, in constant time.

    Compared as bytes: `hmac.compare_digest` raises on a `str` with non-ASCII characters, and
    the header is whatever an unauthenticated sender put there. Any such header is just wrong.
    """
    given = header.encode("utf-8", "replace") if isinstance(header, str) else header
    if not given or not given.startswith(SIGNATURE_PREFIX.encode()):
        return False
    return hmac.compare_digest(sign(secret, body).encode(), given)


def valid_delivery(delivery: str) -> bool:
    """Whether an `X-GitHub-Delivery` value has the shape of one GitHub sends."""
    return DELIVERY_ID.fullmatch(delivery) is not None


def is_bot(user: dict[str, Any] | None) -> bool:
    """Bots (GitHub Apps, including ourselves) never drive issuesmith."""
    if not user:
        return True
    return user.get("type") == "Bot" or str(user.get("login", "")).endswith("[bot]")


HANDLED_ACTIONS = {"issues": ("labeled",), "issue_comment": ("created", "edited"),
                   "pull_request_review": ("submitted",), "pull_request": ("closed",)}
"""The actions `decide` looks further at, by event; every other action of these events is ignored."""
UNREAD = {"pull_request_review_comment": "review comments are read with the review that requests changes"}
LEADING_ACTION = re.compile(rb'\{\s*"action"\s*:\s*"([a-z_]{1,40})"')
"""A payload's first member, when it is `action` (GitHub writes it first in every event that has one)."""


def ignored_unread(event: str, raw: bytes) -> str | None:
    """Why `decide` would ignore a delivery, told from its event and its leading `action` alone, without parsing
    the body; None when only the whole payload can tell (then parse it and `decide`). Most deliveries an
    installation gets (pushes, checks, issue edits, unlabels) end here: the parse was most of their cost."""
    if event in UNREAD:
        return UNREAD[event]
    if event not in HANDLED_ACTIONS:
        return None if event == "ping" else f"event {event} is not handled"
    found = LEADING_ACTION.match(raw, 0, 80)
    if found is None or found.group(1).decode() in HANDLED_ACTIONS[event]:
        return None
    return f"{event}.{found.group(1).decode()} is not handled"


def decide(event: str, delivery: str, payload: dict[str, Any]) -> Intent | str:
    """Turn a delivery into an `Intent`, or return the reason it is ignored.

    Every label a person adds is passed on: which labels matter is the repository's to say
    (`.github/issuesmith.yml`), and only the intake job reads that file.
    """
    if event == "issues":
        return _from_issues(delivery, payload)
    if event == "issue_comment":
        if (payload.get("issue") or {}).get("pull_request"):
            return _from_pull_comment(delivery, payload)
        return _from_comment(delivery, payload)
    if event == "pull_request_review":
        return _from_review(delivery, payload)
    if event == "pull_request":
        return _from_pull(delivery, payload)
    if event in UNREAD:
        return UNREAD[event]
    return f"event {event} is not handled"


def _intent(kind: str, delivery: str, payload: dict[str, Any], sender: str, **extra: Any) -> Intent | str:
    """An intent for the payload's installation, repository and issue, or why there is none."""
    installation = payload.get("installation") or {}
    repo = payload.get("repository") or {}
    issue = payload.get("issue") or {}
    if not installation.get("id") or not repo.get("full_name") or not issue.get("number"):
        return "not from an app installation on an issue"
    return Intent(kind, delivery, int(installation["id"]), str(repo["full_name"]), int(issue["number"]), sender,
                  issue_title=str(issue.get("title", "")), **extra)


def _from_issues(delivery: str, payload: dict[str, Any]) -> Intent | str:
    if payload.get("action") not in HANDLED_ACTIONS["issues"]:
        return f"issues.{payload.get('action')} is not handled"
    label = str((payload.get("label") or {}).get("name", ""))
    if not label:
        return "no label in the payload"
    if is_bot(payload.get("sender")):
        return "sender is a bot"
    return _intent("label", delivery, payload, payload["sender"]["login"], label=label)


def _comment_command(payload: dict[str, Any]) -> tuple[Command, dict[str, Any], str] | str:
    """The command a person's comment starts with, the comment and who wrote the command; or why there is none.

    A comment *edited* into a command counts as that command written at the time of the edit, by the
    person who edited it (GitHub lets writers edit others' comments, so the editor is the sender, and
    the editor's permission is what is checked). An edit of a comment that already was a command is
    not a second command: intake answers it, once per comment, with what to do instead.
    """
    action = payload.get("action")
    if action not in HANDLED_ACTIONS["issue_comment"]:
        return f"issue_comment.{action} is not handled"
    comment = payload.get("comment") or {}
    if is_bot(payload.get("sender")) or is_bot(comment.get("user")):
        return "sender is a bot"
    command = parse_command(comment.get("body"))
    if command is None:
        return "comment is not a command"
    if action == "created":
        return command, comment, str(comment["user"]["login"])
    return _edited_command(payload, command, comment)


def _edited_command(payload: dict[str, Any], command: Command,
                    comment: dict[str, Any]) -> tuple[Command, dict[str, Any], str] | str:
    """An edit that changed the body into a command, or into another command (to be answered, not run)."""
    before = ((payload.get("changes") or {}).get("body") or {})
    if "from" not in before:
        return "the edit did not change the comment's text"
    editor = str((payload.get("sender") or {}).get("login", ""))
    if not editor:
        return "no sender in the payload"
    written = {**comment, "created_at": comment.get("updated_at") or comment.get("created_at", "")}
    if parse_command(before["from"]) is not None:
        return Command(EDITED_COMMAND, command.name), written, editor
    return command, written, editor


def _command_intent(kind: str, delivery: str, payload: dict[str, Any], command: Command,
                    comment: dict[str, Any], sender: str) -> Intent | str:
    return _intent(kind, delivery, payload, sender, command=command.name,
                   args=command.args, comment_id=int(comment.get("id", 0)),
                   comment_created_at=str(comment.get("created_at", "")),
                   edited=payload.get("action") == "edited")


def _from_comment(delivery: str, payload: dict[str, Any]) -> Intent | str:
    found = _comment_command(payload)
    if isinstance(found, str):
        return found
    return _command_intent("command", delivery, payload, *found)


def _pull_intent(kind: str, delivery: str, payload: dict[str, Any], sender: str, **extra: Any) -> Intent | str:
    """An intent about the payload's pull request (its number stands in the issue's place)."""
    installation = payload.get("installation") or {}
    repo = payload.get("repository") or {}
    pull = payload.get("pull_request") or {}
    if not installation.get("id") or not repo.get("full_name") or not pull.get("number"):
        return "not from an app installation on a pull request"
    return Intent(kind, delivery, int(installation["id"]), str(repo["full_name"]), int(pull["number"]), sender,
                  issue_title=str(pull.get("title", "")), head_branch=str((pull.get("head") or {}).get("ref", "")),
                  **extra)


def _ours(payload: dict[str, Any]) -> bool:
    """Whether the pull request's head is one of the bot's branches."""
    head = ((payload.get("pull_request") or {}).get("head") or {}).get("ref", "")
    return str(head).startswith(BRANCH_PREFIX)


def _from_review(delivery: str, payload: dict[str, Any]) -> Intent | str:
    """A submitted review that requests changes on the bot's pull request (webhooks lowercase the state)."""
    if payload.get("action") not in HANDLED_ACTIONS["pull_request_review"]:
        return f"pull_request_review.{payload.get('action')} is not handled"
    review = payload.get("review") or {}
    state = str(review.get("state", "")).lower()
    if state != "changes_requested":
        return f"a review in state {state!r} asks for nothing"
    if not _ours(payload):
        return "not a pull request of issuesmith"
    if is_bot(payload.get("sender")) or is_bot(review.get("user")):
        return "sender is a bot"
    return _pull_intent("review", delivery, payload, review["user"]["login"], review_id=int(review.get("id", 0)))


def _from_pull(delivery: str, payload: dict[str, Any]) -> Intent | str:
    """The bot's pull request was closed, merged or not (any sender: GitHub checked the permission)."""
    if payload.get("action") not in HANDLED_ACTIONS["pull_request"]:
        return f"pull_request.{payload.get('action')} is not handled"
    if not _ours(payload):
        return "not a pull request of issuesmith"
    sender = str((payload.get("sender") or {}).get("login", ""))
    merged = bool((payload.get("pull_request") or {}).get("merged"))
    return _pull_intent("pull_closed", delivery, payload, sender, merged=merged)


def _from_pull_comment(delivery: str, payload: dict[str, Any]) -> Intent | str:
    """`/revise <notes>` on a pull request; other commands act on issues only."""
    found = _comment_command(payload)
    if isinstance(found, str):
        return found
    command = found[0]
    name = command.args if command.name == EDITED_COMMAND else command.name
    if name != "revise":
        return f"/{name} acts on the issue, not on a pull request"
    return _command_intent("pull_revise", delivery, payload, *found)
