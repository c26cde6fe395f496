"""Settings refuse to start without a usable webhook secret; the redactor scrubs secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config.settings import Settings
from bot.core.redact import REDACTED, Redactor


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_webhook_secret_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ISSUESMITH_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ValidationError, match="ISSUESMITH_WEBHOOK_SECRET"):
        make()


@pytest.mark.parametrize("secret", ["", "   ", "changeme", "short"])
def test_weak_webhook_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValidationError):
        make(webhook_secret=secret)


def test_settings_read_the_documented_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = tmp_path / "app.pem"
    key.write_text("-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n")
    env = {"ISSUESMITH_WEBHOOK_SECRET": "0123456789abcdef", "ISSUESMITH_APP_ID": "77",
           "ISSUESMITH_PRIVATE_KEY_PATH": str(key), "ISSUESMITH_REDIS_URL": "redis://example:6379/2",
           "ISSUESMITH_GITHUB_API_URL": "https://ghe.example.com/api/v3/", "ISSUESMITH_TRIGGER_LABEL": "bot",
           "OPENAI_API_KEY": "sk-abcdefghijklmnopqrstuv", "OPENAI_BASE_URL": "http://localhost:8080/v1",
           "ISSUESMITH_MODEL": "local-model", "ISSUESMITH_PRICES": '{"local-model": [1, 2]}'}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (s.app_id, s.trigger_label, s.model) == (77, "bot", "local-model")
    assert s.github_api_url == "https://ghe.example.com/api/v3"
    assert s.app_private_key().startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert s.prices == {"local-model": (1.0, 2.0)}
    assert set(s.secrets()) == {"0123456789abcdef", "sk-abcdefghijklmnopqrstuv", key.read_text()}


def test_both_key_sources_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not both"):
        make(webhook_secret="0123456789abcdef", private_key="x", private_key_path=tmp_path / "k.pem")


def test_missing_key_says_what_to_set() -> None:
    with pytest.raises(ValueError, match="ISSUESMITH_PRIVATE_KEY_PATH"):
        make(webhook_secret="0123456789abcdef").app_private_key()


@pytest.mark.parametrize("secret", [
    "ghs_" + "a" * 36, "ghp_" + "B1" * 18, "gho_" + "c" * 36, "github_pat_" + "11ABC_" * 8,
    "sk-proj-" + "x" * 40, "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
])
def test_token_shaped_strings_are_redacted(secret: str) -> None:
    out = Redactor()(f"before {secret} after")
    assert secret not in out and REDACTED in out and out.startswith("before ") and out.endswith(" after")


def test_configured_and_added_secrets_are_redacted() -> None:
    redact = Redactor(["my-webhook-secret"])
    redact.add("freshtoken123")
    out = redact("x my-webhook-secret y freshtoken123 z Authorization: Basic eC1hY2Nlc3M6dG9rZW4=")
    assert out == f"x {REDACTED} y {REDACTED} z Authorization: Basic {REDACTED}"


def test_ordinary_text_is_left_alone() -> None:
    text = "sk- is a prefix; ghs is a word; task-1234 stays"
    assert Redactor()(text) == text


def test_retryable_versus_final_is_decided_in_one_place() -> None:
    import github
    import openai
    import redis
    from httpx import Request, Response
    from rq.timeouts import JobTimeoutException

    from bot.core.errors import BudgetExceeded, GitError, TransientError, describe, is_retryable

    request = Request("POST", "http://model/v1/chat/completions")
    assert is_retryable(github.GithubException(502, {"message": "Bad gateway"}))
    assert is_retryable(github.GithubException(403, {"message": "API rate limit exceeded for installation"}))
    assert not is_retryable(github.GithubException(404, {"message": "Not Found"}))
    assert is_retryable(openai.RateLimitError("slow down", response=Response(429, request=request), body=None))
    assert not is_retryable(openai.BadRequestError("bad", response=Response(400, request=request), body=None))
    assert is_retryable(openai.APIConnectionError(request=request))
    assert is_retryable(redis.ConnectionError()) and is_retryable(TransientError("x"))
    assert is_retryable(GitError("net", retryable=True)) and not is_retryable(GitError("auth"))
    assert not is_retryable(BudgetExceeded("over")) and not is_retryable(ValueError("bug"))
    assert describe(github.GithubException(502, {"message": "Bad gateway"})) == "GitHub answered 502: Bad gateway"
    assert "time limit" in describe(JobTimeoutException("x"))


def test_fragments_of_a_multiline_secret_are_redacted() -> None:
    key = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(f"{i:02d}" + "Ab3+/x" * 10 for i in range(8)) + \
          "\n-----END RSA PRIVATE KEY-----\n"
    lines = key.splitlines()
    fragment = "E         " + "\nE         ".join(lines[3:6])  # pytest-style, no BEGIN/END
    out = Redactor([key])(fragment)
    assert all(line not in out for line in lines[3:6]) and out.count(REDACTED) == 3


def test_the_key_file_content_is_a_secret(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    key.write_text("-----BEGIN RSA PRIVATE KEY-----\nMIIEabcdefghijklmnop\n-----END RSA PRIVATE KEY-----\n")
    s = make(webhook_secret="0123456789abcdef", private_key_path=key)
    assert key.read_text() in s.secrets()


@pytest.mark.parametrize("provider", [{"OPENAI_BASE_URL": "http://127.0.0.1:8080/v1"},
                                      {"ISSUESMITH_MODEL_PROVIDER": "replay"}])
def test_tryouts_hand_every_model_setting_to_the_worker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                        provider: dict[str, str]) -> None:
    """`issuesmith demo`/`run` start the worker with a clean environment: what they read, it must get."""
    from bot.config.settings import TryoutSettings

    chosen = {"ISSUESMITH_STRUCTURED_OUTPUT": "json", "ISSUESMITH_MODEL_TIMEOUT": "33.0",
              "ISSUESMITH_MODEL_MAX_RETRIES": "1", "ISSUESMITH_MODEL_MAX_OUTPUT_TOKENS": "700",
              "ISSUESMITH_MODEL_TEMPERATURE": "0.3", **provider}
    for name, value in chosen.items():
        monkeypatch.setenv(name, value)
    env = TryoutSettings(_env_file=None).model_env(tmp_path / "t.jsonl")  # type: ignore[call-arg]
    for name in chosen:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    worker = make(webhook_secret="0123456789abcdef")
    assert (worker.structured_output, worker.model_timeout, worker.model_max_retries,
            worker.model_max_output_tokens, worker.model_temperature) == ("json", 33.0, 1, 700, 0.3)


def test_an_empty_temperature_is_not_sent_and_stays_unset_in_the_worker(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    from bot.config.settings import TryoutSettings

    assert make(webhook_secret="0123456789abcdef").model_temperature == 0.0
    monkeypatch.setenv("ISSUESMITH_MODEL_TEMPERATURE", "")
    assert make(webhook_secret="0123456789abcdef").model_temperature is None
    env = TryoutSettings(_env_file=None).model_env(tmp_path / "t.jsonl")  # type: ignore[call-arg]
    assert env["ISSUESMITH_MODEL_TEMPERATURE"] == ""
    with pytest.raises(ValidationError):
        make(webhook_secret="0123456789abcdef", model_temperature=3)


def test_a_live_tryout_records_where_it_was_asked_to(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`issuesmith run` with ISSUESMITH_RECORD_TRANSCRIPT: the worker (another cwd) records to that file."""
    from bot.config.settings import TryoutSettings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")
    monkeypatch.setenv("ISSUESMITH_RECORD_TRANSCRIPT", "rec/t.jsonl")
    env = TryoutSettings(_env_file=None).model_env(None)  # type: ignore[call-arg]
    assert env["ISSUESMITH_RECORD_TRANSCRIPT"] == str(tmp_path / "rec" / "t.jsonl")
    monkeypatch.setenv("ISSUESMITH_MODEL_PROVIDER", "replay")  # a replay records nothing
    assert "ISSUESMITH_RECORD_TRANSCRIPT" not in TryoutSettings(_env_file=None).model_env(None)  # type: ignore[call-arg]
