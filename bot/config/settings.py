"""The one `Settings` object, read from the environment and `.env` once at start-up.

Nothing in issuesmith reads the environment anywhere else: entry points build a
`Settings` and pass it (or objects made from it) down.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from dotenv import dotenv_values
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

PUBLIC_GITHUB_API = "https://api.github.com"
WEAK_SECRETS = {"changeme", "change-me", "secret", "development", "test", "password"}
REDIS_SCHEMES = ("redis", "rediss", "unix")


class ModelSettings(BaseSettings):
    """The model endpoint and how it is asked: shared by `Settings` and `TryoutSettings`.

    One definition, so that `issuesmith demo` and `issuesmith run` read every model setting
    the worker reads, and `TryoutSettings.model_env` hands each one on to the worker they start.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    openai_api_key: SecretStr | None = Field(None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")
    model: str = Field("gpt-4o-mini", validation_alias="ISSUESMITH_MODEL")
    model_timeout: float = Field(120.0, validation_alias="ISSUESMITH_MODEL_TIMEOUT")
    model_max_retries: int = Field(3, validation_alias="ISSUESMITH_MODEL_MAX_RETRIES")
    structured_output: str = Field("auto", validation_alias="ISSUESMITH_STRUCTURED_OUTPUT")
    model_max_output_tokens: int = Field(
        4096, gt=0, validation_alias="ISSUESMITH_MODEL_MAX_OUTPUT_TOKENS",
        description="the output cap of every model call (sent as max_completion_tokens, and as max_tokens "
                    "too unless OPENAI_BASE_URL is OpenAI's)")
    model_max_input_tokens: int = Field(
        32_000, ge=1_000, validation_alias="ISSUESMITH_MODEL_MAX_INPUT_TOKENS",
        description="the model's input window in prompt tokens (estimated at four characters a token): before "
                    "every call the conversation is trimmed to fit it, and a step whose conversation cannot fit fails")
    model_temperature: float | None = Field(
        0.0, ge=0.0, le=2.0, validation_alias="ISSUESMITH_MODEL_TEMPERATURE",
        description="sent with every model call (OpenAI's default is 1); empty: not sent, for models that "
                    "accept only their default (OpenAI's o-series and gpt-5 answer 400 to any other value)")
    model_provider: Literal["openai", "replay"] = Field(
        "openai", validation_alias="ISSUESMITH_MODEL_PROVIDER",
        description="openai (any OpenAI-compatible endpoint) or replay (answers from a recorded transcript)")
    replay_transcript: Path | None = Field(None, validation_alias="ISSUESMITH_REPLAY_TRANSCRIPT")
    record_transcript: Path | None = Field(None, validation_alias="ISSUESMITH_RECORD_TRANSCRIPT",
                                           description="append every live model reply here, for replay")
    prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        validation_alias="ISSUESMITH_PRICES",
        description='Extra or overriding prices, USD per million tokens: {"model": [input, output]}.',
    )

    @field_validator("openai_base_url")
    @classmethod
    def _strip_base_url_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("model_temperature", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() in ("", "none") else value

    @field_validator("structured_output")
    @classmethod
    def _known_mode(cls, value: str) -> str:
        if value not in {"auto", "json_schema", "json", "text"}:
            raise ValueError("ISSUESMITH_STRUCTURED_OUTPUT must be auto, json_schema, json or text")
        return value


MODEL_TUNING = ("model_timeout", "model_max_retries", "structured_output", "model_max_output_tokens",
                "model_max_input_tokens", "model_temperature")
"""How the model is asked: `TryoutSettings.model_env` hands these on to the worker whatever the provider."""


class Settings(ModelSettings):
    """Configuration of the web app and the workers (environment variables in brackets)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    app_id: int | None = Field(None, validation_alias="ISSUESMITH_APP_ID")
    private_key_path: Path | None = Field(None, validation_alias="ISSUESMITH_PRIVATE_KEY_PATH")
    private_key: SecretStr | None = Field(None, validation_alias="ISSUESMITH_PRIVATE_KEY")
    webhook_secret: SecretStr = Field(validation_alias="ISSUESMITH_WEBHOOK_SECRET")
    redis_url: str = Field("redis://127.0.0.1:6379/0", validation_alias="ISSUESMITH_REDIS_URL")
    github_api_url: str = Field(PUBLIC_GITHUB_API, validation_alias="ISSUESMITH_GITHUB_API_URL")
    trigger_label: str = Field("issuesmith", validation_alias="ISSUESMITH_TRIGGER_LABEL")
    bot_login: str | None = Field(None, validation_alias="ISSUESMITH_BOT_LOGIN")
    github_request_spacing: float = Field(
        0.25, validation_alias="ISSUESMITH_GITHUB_REQUEST_SPACING",
        description="Seconds between GitHub API requests (GitHub asks integrations not to burst).")
    github_write_spacing: float = Field(
        1.0, validation_alias="ISSUESMITH_GITHUB_WRITE_SPACING",
        description="Seconds between GitHub API writes of one installation, across every worker process "
                    "(GitHub asks for at least 1 to avoid secondary rate limits).")
    github_max_rate_wait: float = Field(
        120.0, ge=0, validation_alias="ISSUESMITH_GITHUB_MAX_RATE_WAIT",
        description="Most seconds one GitHub call waits out rate limits (retry-after, x-ratelimit-reset); "
                    "a longer wait fails the call as retryable and the job runs again after it.")

    run_budget_usd: float = Field(2.0, validation_alias="ISSUESMITH_RUN_BUDGET_USD")
    run_budget_tokens: int = Field(600_000, validation_alias="ISSUESMITH_RUN_BUDGET_TOKENS")

    work_dir: Path = Field(Path("var"), validation_alias="ISSUESMITH_WORK_DIR")
    context_tokens: int = Field(12_000, validation_alias="ISSUESMITH_CONTEXT_TOKENS")
    localize_cache_bytes: int = Field(
        256 << 20, ge=1 << 20, validation_alias="ISSUESMITH_LOCALIZE_CACHE_BYTES",
        description="bytes the context index cache of one repository may use on disk (parsed records and "
                    "tree indexes); the least recently used trees, then records, are removed beyond it")
    planner_tool_calls: int = Field(8, validation_alias="ISSUESMITH_PLANNER_TOOL_CALLS")
    max_revisions: int = Field(2, validation_alias="ISSUESMITH_MAX_REVISIONS")
    max_test_fixes: int = Field(2, validation_alias="ISSUESMITH_MAX_TEST_FIXES")
    test_baseline: bool = Field(
        True, validation_alias="ISSUESMITH_TEST_BASELINE",
        description="run the tests once on the base commit too (cached per commit and commands), so tests "
                    "that already fail there are reported as such and not blamed on the change; 0: off")
    coder_tool_calls: int = Field(40, validation_alias="ISSUESMITH_CODER_TOOL_CALLS")
    coder_test_runs: int = Field(5, ge=0, validation_alias="ISSUESMITH_CODER_TEST_RUNS",
                                 description="test runs the Coder may ask for (its `run_tests` tool) per job; 0: "
                                             "the tool is not offered")
    coder_test_seconds: float = Field(1200.0, ge=0, validation_alias="ISSUESMITH_CODER_TEST_SECONDS",
                                      description="seconds the Coder's own test runs may take together per job")
    tester_tool_calls: int = Field(12, validation_alias="ISSUESMITH_TESTER_TOOL_CALLS")
    reproduce: bool = Field(
        True, validation_alias="ISSUESMITH_REPRODUCE",
        description="before the Coder, the Tester writes a test that reproduces the issue; it must fail on the base "
                    "tree (pytest only); the Coder's finish is refused while it fails; 0: off")
    reproduce_attempts: int = Field(2, ge=1, validation_alias="ISSUESMITH_REPRODUCE_ATTEMPTS",
                                    description="tries the Tester gets to write a test that fails on the base tree")
    max_candidates: int = Field(4, ge=1, le=4, validation_alias="ISSUESMITH_MAX_CANDIDATES",
                                description="the most Coder attempts a repository's `candidates` may ask for")
    candidates_at_once: int = Field(4, ge=1, le=4, validation_alias="ISSUESMITH_CANDIDATES_AT_ONCE",
                                    description="how many of a run's Coder attempts work at the same time (their "
                                                "model calls overlap; their test runs take turns); 1 for a model "
                                                "server that answers one request at a time")
    candidate_temperature: float = Field(0.8, ge=0, le=2, validation_alias="ISSUESMITH_CANDIDATE_TEMPERATURE",
                                         description="the temperature of the Coder's attempts after the first "
                                                     "(`candidates` above 1)")
    test_timeout: float = Field(600.0, gt=0, validation_alias="ISSUESMITH_TEST_TIMEOUT",
                                description="seconds a test run may take, unless the repository's `test_timeout` "
                                            "says otherwise")
    max_test_timeout: float = Field(
        3600.0, gt=0, validation_alias="ISSUESMITH_MAX_TEST_TIMEOUT",
        description="the most a repository's `test_timeout` may ask for (seconds); a larger value is a config "
                    "problem and the run does not start")
    setup_command: str = Field("", validation_alias="ISSUESMITH_SETUP_COMMAND",
                               description="run before the tests, with an outbound network (dependency installs)")
    setup_timeout: float = Field(900.0, validation_alias="ISSUESMITH_SETUP_TIMEOUT")
    disk_bytes: int = Field(4 * 1024**3, gt=0, validation_alias="ISSUESMITH_DISK_BYTES",
                            description="disk quota of a run's work tree and HOME together; a command that takes "
                                        "them past it is stopped and the run fails")
    allow_repo_setup_command: bool = Field(
        False, validation_alias="ISSUESMITH_ALLOW_REPO_SETUP_COMMAND",
        description="let a repository's `setup_command` replace ISSUESMITH_SETUP_COMMAND (off: only `\"\"`, "
                    "which switches setup off for that repository, is accepted)")
    sandbox: str = Field("auto", validation_alias="ISSUESMITH_SANDBOX",
                         description="auto, bubblewrap, docker or unsandboxed")
    allow_unsandboxed: bool = Field(False, validation_alias="ISSUESMITH_ALLOW_UNSANDBOXED")
    sandbox_uid: int = Field(65534, validation_alias="ISSUESMITH_SANDBOX_UID")
    sandbox_gid: int = Field(65534, validation_alias="ISSUESMITH_SANDBOX_GID")
    docker_image: str = Field("python:3.11-slim", validation_alias="ISSUESMITH_DOCKER_IMAGE")
    sandbox_ca_bundle: Path | None = Field(
        None, validation_alias="ISSUESMITH_SANDBOX_CA_BUNDLE",
        description="a PEM file of CAs the setup phase trusts besides the system's (a TLS-intercepting proxy's)")
    sandbox_pip_index_url: SecretStr | None = Field(
        None, validation_alias="ISSUESMITH_SANDBOX_PIP_INDEX_URL",
        description="the package index of the setup phase (PIP_INDEX_URL, UV_DEFAULT_INDEX); may carry "
                    "credentials, which the setup command sees and issuesmith redacts")
    sandbox_pip_extra_index_url: SecretStr | None = Field(
        None, validation_alias="ISSUESMITH_SANDBOX_PIP_EXTRA_INDEX_URL",
        description="an extra package index of the setup phase (PIP_EXTRA_INDEX_URL, UV_INDEX)")
    step_retry_backoff: list[float] = Field([2.0, 8.0], validation_alias="ISSUESMITH_STEP_RETRY_BACKOFF")
    job_retries: int = Field(3, validation_alias="ISSUESMITH_JOB_RETRIES")
    job_retry_intervals: list[int] = Field([5, 30, 120], validation_alias="ISSUESMITH_JOB_RETRY_INTERVALS")
    shutdown_grace: float = Field(20.0, ge=0, validation_alias="ISSUESMITH_SHUTDOWN_GRACE",
                                  description="seconds a stopping worker lets its current job run before it stops "
                                              "it (the job then runs again from its step); keep the orchestrator's "
                                              "grace period longer")
    permission_cache_seconds: int = Field(60, validation_alias="ISSUESMITH_PERMISSION_CACHE_SECONDS")
    delivery_ttl_seconds: int = Field(7 * 24 * 3600, validation_alias="ISSUESMITH_DELIVERY_TTL_SECONDS")
    inbox_reclaim_seconds: float = Field(
        30.0, gt=0, validation_alias="ISSUESMITH_INBOX_RECLAIM_SECONDS",
        description="seconds a delivery read from the inbox may wait unqueued before another worker's "
                    "dispatcher takes it over (its reader died)")
    intake_queue: str = Field(
        "issuesmith-intake", min_length=1, validation_alias="ISSUESMITH_INTAKE_QUEUE",
        description="the RQ queue of intake jobs (a delivery's or command's first, millisecond job); every worker "
                    "takes it before the plan and work queues")
    plan_queue: str = Field(
        "issuesmith-plan", min_length=1, validation_alias="ISSUESMITH_PLAN_QUEUE",
        description="the RQ queue of plan jobs; every worker takes it after the intake queue, before the work queue")
    work_queue: str = Field(
        "issuesmith", min_length=1, validation_alias="ISSUESMITH_WORK_QUEUE",
        description="the RQ queue of the long jobs (implement, revise, pending notices); its default is the "
                    "name of the single queue before the intake and plan queues, which workers always serve too")
    log_level: str = Field("INFO", validation_alias="ISSUESMITH_LOG_LEVEL")
    dashboard_token: SecretStr | None = Field(
        None, validation_alias="ISSUESMITH_DASHBOARD_TOKEN",
        description="turns on the runs page (/runs) and is the token it asks for; unset: the page is off (404)")
    dashboard_insecure_cookie: bool = Field(
        False, validation_alias="ISSUESMITH_DASHBOARD_INSECURE_COOKIE",
        description="1: the runs page's session cookie is sent over plain http too (local use without TLS only)")

    @field_validator("webhook_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if not secret.strip():
            raise ValueError("ISSUESMITH_WEBHOOK_SECRET is empty; set it to the app's webhook secret")
        if secret.lower() in WEAK_SECRETS or len(secret) < 8:
            raise ValueError(
                "ISSUESMITH_WEBHOOK_SECRET is too weak; use a random value, e.g. `openssl rand -hex 32`"
            )
        return value

    @field_validator("dashboard_token")
    @classmethod
    def _strong_dashboard_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None  # empty means off
        if len(value.get_secret_value()) < 16:
            raise ValueError("ISSUESMITH_DASHBOARD_TOKEN is too short; use a random value, e.g. `openssl rand -hex 32`")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        return checked_redis_url(value)

    @field_validator("sandbox_ca_bundle")
    @classmethod
    def _ca_bundle(cls, value: Path | None) -> Path | None:
        return None if value is None or not str(value).strip() else checked_bundle(value)

    @field_validator("sandbox_pip_index_url", "sandbox_pip_extra_index_url")
    @classmethod
    def _index_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if urlsplit(value.get_secret_value()).scheme not in ("https", "http"):
            raise ValueError("a package index URL must be https://[USER:TOKEN@]HOST/PATH")
        return value

    @field_validator("github_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _timeout_within_maximum(self) -> Settings:
        check_test_timeouts(self.test_timeout, self.max_test_timeout)
        return self

    @model_validator(mode="after")
    def _distinct_queues(self) -> Settings:
        if len({self.intake_queue, self.plan_queue, self.work_queue}) < 3:
            raise ValueError("ISSUESMITH_INTAKE_QUEUE, ISSUESMITH_PLAN_QUEUE and ISSUESMITH_WORK_QUEUE must differ "
                             "(workers take them in this order)")
        return self

    @model_validator(mode="after")
    def _one_key_source(self) -> Settings:
        if self.private_key is not None and self.private_key_path is not None:
            raise ValueError("set ISSUESMITH_PRIVATE_KEY or ISSUESMITH_PRIVATE_KEY_PATH, not both")
        return self

    def app_private_key(self) -> str:
        """The GitHub App's private key (PEM), from the variable or the file it names."""
        if self.private_key is not None:
            return self.private_key.get_secret_value().replace("\\n", "\n")
        if self.private_key_path is not None:
            return self.private_key_path.read_text()
        raise ValueError("no GitHub App key: set ISSUESMITH_PRIVATE_KEY_PATH (or ISSUESMITH_PRIVATE_KEY)")

    def secrets(self) -> list[str]:
        """Every configured secret value (the app key too, from wherever it comes), for the redactor."""
        values = [self.webhook_secret, self.openai_api_key, self.private_key, self.dashboard_token]
        found = [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]
        found += redis_password(self.redis_url)
        for index in (self.sandbox_pip_index_url, self.sandbox_pip_extra_index_url):
            found += [index.get_secret_value(), *redis_password(index.get_secret_value())] if index else []
        if self.private_key_path is not None and self.private_key_path.is_file():
            found.append(self.private_key_path.read_text())
        return found


def check_test_timeouts(default: float, maximum: float) -> None:
    """A ValueError when the deployment's test timeout is above its own maximum for repositories."""
    if default > maximum:
        raise ValueError(f"ISSUESMITH_TEST_TIMEOUT ({default:g}s) is above ISSUESMITH_MAX_TEST_TIMEOUT "
                         f"({maximum:g}s): raise the maximum or lower the timeout")


def checked_bundle(path: Path) -> Path:
    """`path` if it is a readable file holding a PEM certificate; else a ValueError saying what to fix."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"ISSUESMITH_SANDBOX_CA_BUNDLE cannot be read: {exc}") from exc
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ValueError(f"ISSUESMITH_SANDBOX_CA_BUNDLE ({path}) holds no PEM certificate "
                         "(no -----BEGIN CERTIFICATE----- line)")
    return path.resolve()


def _env_value(value: object) -> str:
    """A setting as an environment variable says it (None, unset, is the empty string)."""
    return "" if value is None else str(value)


def checked_redis_url(url: str) -> str:
    """`url` if redis-py can connect with it (redis://, rediss:// for TLS, unix://); else a ValueError saying why."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in REDIS_SCHEMES:
        raise ValueError("ISSUESMITH_REDIS_URL must be redis://[:PASSWORD@]HOST:6379/DB, rediss://... for TLS, "
                         f"or unix:///path/to/redis.sock, not {scheme + '://...' if scheme else 'a bare address'}")
    return url


def redis_password(url: str) -> list[str]:
    """The password in a URL (Redis's, a package index's), as written and decoded (both are redacted), or nothing."""
    password = urlsplit(url).password
    return [] if not password else list(dict.fromkeys([password, unquote(password)]))


class LimitSettings(BaseSettings):
    """The deployment's limits on what a repository may configure, for `issuesmith check-config`.

    The same variables as in `Settings`, without the secrets a maintainer's machine does not have.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    model: str = Field("gpt-4o-mini", validation_alias="ISSUESMITH_MODEL")
    prices: dict[str, tuple[float, float]] = Field(default_factory=dict, validation_alias="ISSUESMITH_PRICES")
    run_budget_usd: float = Field(2.0, validation_alias="ISSUESMITH_RUN_BUDGET_USD")
    run_budget_tokens: int = Field(600_000, validation_alias="ISSUESMITH_RUN_BUDGET_TOKENS")
    setup_command: str = Field("", validation_alias="ISSUESMITH_SETUP_COMMAND")
    allow_repo_setup_command: bool = Field(False, validation_alias="ISSUESMITH_ALLOW_REPO_SETUP_COMMAND")
    test_timeout: float = Field(600.0, gt=0, validation_alias="ISSUESMITH_TEST_TIMEOUT")
    max_test_timeout: float = Field(3600.0, gt=0, validation_alias="ISSUESMITH_MAX_TEST_TIMEOUT")
    max_candidates: int = Field(4, ge=1, le=4, validation_alias="ISSUESMITH_MAX_CANDIDATES")

    @model_validator(mode="after")
    def _timeout_within_maximum(self) -> LimitSettings:
        check_test_timeouts(self.test_timeout, self.max_test_timeout)
        return self


def worker_variables() -> tuple[str, ...]:
    """Every variable `Settings` reads (its aliases: the ISSUESMITH_* settings and OPENAI_*)."""
    aliases = (info.validation_alias for info in Settings.model_fields.values())
    return tuple(alias for alias in aliases if isinstance(alias, str))


class _WorkerEnvironment(PydanticBaseSettingsSource):
    """`TryoutSettings.worker_env`: the variables of `worker_variables()` that `.env` and the environment set.

    Read like every other setting (case-insensitively, the environment over `.env`), and
    nothing else: the rest of the environment never reaches the processes local mode starts.
    """

    def __init__(self, settings_cls: type[BaseSettings], env_files: object) -> None:
        super().__init__(settings_cls)
        listed = env_files if isinstance(env_files, (list, tuple)) else [env_files]
        self.env_files = [Path(name) for name in listed if isinstance(name, (str, Path))]

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        wanted = {name.lower(): name for name in worker_variables()}
        found: dict[str, str] = {}
        sources = [dotenv_values(path) for path in self.env_files if path.is_file()] + [dict(os.environ)]
        for source in sources:
            found |= {wanted[key.lower()]: value for key, value in source.items()
                      if key.lower() in wanted and value is not None}
        return {"worker_env": found}


class TryoutSettings(ModelSettings):
    """What `issuesmith demo` and `issuesmith run` take from the environment and `.env`.

    They bring their own GitHub (the local stand-in), app key and webhook secret; the model,
    Redis and the sandbox are read here, as the web app and worker would read them.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    redis_url: str = Field("redis://127.0.0.1:6379/0", validation_alias="ISSUESMITH_REDIS_URL")
    sandbox: str = Field("auto", validation_alias="ISSUESMITH_SANDBOX")
    allow_unsandboxed: bool = Field(False, validation_alias="ISSUESMITH_ALLOW_UNSANDBOXED")
    work_dir: Path = Field(Path("var"), validation_alias="ISSUESMITH_WORK_DIR")
    worker_env: dict[str, str] = Field(
        default_factory=dict, repr=False,
        description="every setting of the web app and worker that is set here, handed on to the processes "
                    "local mode and the demo start (which the playground's own settings then override)")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The usual sources, after `_WorkerEnvironment`, the only one that says `worker_env`."""
        worker = _WorkerEnvironment(settings_cls, getattr(dotenv_settings, "env_file", None))
        return worker, init_settings, env_settings, dotenv_settings, file_secret_settings

    def live_model(self) -> bool:
        """Whether a model endpoint is configured (else a transcript is replayed)."""
        return self.model_provider == "openai" and (self.openai_api_key is not None
                                                    or self.openai_base_url is not None)

    def model_env(self, default_transcript: Path | None) -> dict[str, str]:
        """The model settings for the web app and worker: the endpoint, or a transcript to replay.

        The worker starts with a clean environment, so every setting of how the model is asked
        (`MODEL_TUNING`) is handed on too: a setting left out here is silently its default there.
        """
        tuning = {self._alias(name): _env_value(getattr(self, name)) for name in MODEL_TUNING}
        return {**tuning, **self._endpoint_env(default_transcript)}

    def _alias(self, name: str) -> str:
        alias = type(self).model_fields[name].validation_alias
        assert isinstance(alias, str)
        return alias

    def _endpoint_env(self, default_transcript: Path | None) -> dict[str, str]:
        if self.live_model():
            env = {"ISSUESMITH_MODEL": self.model}
            if self.prices:  # a local model is priced by the person trying it out (else its calls are refused)
                env["ISSUESMITH_PRICES"] = json.dumps(self.prices)
            if self.openai_api_key is not None:
                env["OPENAI_API_KEY"] = self.openai_api_key.get_secret_value()
            if self.openai_base_url is not None:
                env["OPENAI_BASE_URL"] = self.openai_base_url
            if self.record_transcript is not None:  # the worker runs elsewhere: an absolute path
                env["ISSUESMITH_RECORD_TRANSCRIPT"] = str(self.record_transcript.resolve())
            return env
        transcript = self.replay_transcript or default_transcript
        if transcript is None:
            return {}
        return {"ISSUESMITH_MODEL_PROVIDER": "replay", "ISSUESMITH_REPLAY_TRANSCRIPT": str(transcript.resolve()),
                "ISSUESMITH_MODEL": self.model}
