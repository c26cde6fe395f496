"""The few named errors of issuesmith, and the one place that decides retryable versus final.

A *retryable* error is transient (a 5xx, a rate limit, a dropped connection): the job is
run again with backoff. A *final* error will not go away by itself: the run is marked
FAILED and the issue is told what failed and what to do.
"""

from __future__ import annotations

import subprocess

import github
import openai
import redis
from rq.timeouts import JobTimeoutException


class IssuesmithError(Exception):
    """Base of our errors; `user_message` is safe to show on the issue."""

    retryable = False

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint

    @property
    def user_message(self) -> str:
        return str(self)


class TransientError(IssuesmithError):
    """Something outside us failed for now (GitHub 5xx, model overloaded, network)."""

    retryable = True


class GitHubRateLimited(TransientError):
    """GitHub's rate limit asks for a wait longer than one call may take (`ISSUESMITH_GITHUB_MAX_RATE_WAIT`).

    Retryable: the job runs again, not before `retry_after` seconds (`bot.runs.queueing.honour_retry_after`).
    """

    def __init__(self, status: int, retry_after: float, waited: float, bound: float) -> None:
        super().__init__(f"GitHub answered {status} (rate limit) and asks for a wait of {retry_after:.0f} s; "
                         f"this call already waited {waited:.0f} s of its {bound:.0f} s "
                         "(ISSUESMITH_GITHUB_MAX_RATE_WAIT)",
                         hint="the job is retried after the wait; lower the request rate if this repeats")
        self.status = status
        self.retry_after = retry_after


class InvalidTransition(IssuesmithError):
    """A run state change that the state machine does not allow from the current state."""


class PermissionDenied(IssuesmithError):
    """The person who asked may not make issuesmith act."""


class BudgetExceeded(IssuesmithError):
    """The next model call would take the run over its token or dollar budget."""


class ModelOutputInvalid(IssuesmithError):
    """The model kept answering with output that does not validate."""


class AgentGaveUp(IssuesmithError):
    """An agent called `give_up`: it says it cannot do the task, and why (its reason is untrusted text).

    Final: the same conversation would end the same way; a person reads the reason and decides.
    """

    def __init__(self, agent: str, reason: str) -> None:
        super().__init__(f"the {agent} gave up: “{reason}”",
                         hint="read the reason; clarify the issue or `/revise` the plan, or reply `/retry`")
        self.agent = agent
        self.reason = reason


class AgentStuck(IssuesmithError):
    """An agent kept repeating the same tool call after being told that it did."""


class ContextOverflow(IssuesmithError):
    """A conversation does not fit the model's input window even after trimming what may be trimmed."""


class PromptTruncated(IssuesmithError):
    """The model server read far fewer prompt tokens than were sent: it cut the prompt without saying so."""


class ModelContextExceeded(ContextOverflow):
    """The model server refused a request that does not fit its context window (`bot.models.overflow`)."""


class GitError(IssuesmithError):
    """A git command failed; `retryable` when the failure looks like the network."""

    def __init__(self, message: str, *, retryable: bool = False, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable


class ConfigError(IssuesmithError):
    """Settings or repository configuration are missing or wrong."""


_TRANSIENT_GIT = ("Could not resolve host", "Connection refused", "timed out", "The remote end hung up",
                  "early EOF", "HTTP 5", "returned error: 5", "Connection reset", "transfer closed",
                  "Empty reply from server")


def is_retryable(exc: BaseException) -> bool:
    """Decide, for any exception, whether running the same step again may succeed."""
    if isinstance(exc, IssuesmithError):
        return exc.retryable
    if isinstance(exc, github.GithubException):
        return exc.status >= 500 or exc.status == 429 or _is_github_rate_limit(exc)
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    if isinstance(exc, openai.APIConnectionError | redis.ConnectionError | redis.TimeoutError):
        return True
    return bool(isinstance(exc, ConnectionError | TimeoutError | subprocess.TimeoutExpired))


def git_failure_is_transient(stderr: str) -> bool:
    """Whether a git command's error output looks like a network problem."""
    return any(marker in stderr for marker in _TRANSIENT_GIT)


def _is_github_rate_limit(exc: github.GithubException) -> bool:
    return exc.status == 403 and "rate limit" in str(exc.data).lower()


def describe(exc: BaseException) -> str:
    """A one-line description of an error, fit for a comment (no tracebacks)."""
    if isinstance(exc, IssuesmithError):
        return exc.user_message
    if isinstance(exc, github.GithubException):
        message = exc.data.get("message") if isinstance(exc.data, dict) else exc.data
        return f"GitHub answered {exc.status}: {message}"
    if isinstance(exc, openai.APIStatusError):
        return f"the model endpoint answered {exc.status_code}: {exc.message}"
    if isinstance(exc, openai.APIConnectionError):
        return f"the model endpoint could not be reached ({type(exc).__name__})"
    if isinstance(exc, JobTimeoutException):
        return "the step took longer than its time limit and was stopped"
    return f"{type(exc).__name__}: {exc}"
