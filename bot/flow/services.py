"""The shared services a worker builds once from `Settings` and hands to every job.

`issuesmith worker` builds them at start-up and installs them; a plain `rq worker`
(without our command) gets them built from the environment on the first job.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import github
import openai
import redis
from rq import Queue

from bot.config.limits import DeploymentLimits
from bot.config.pricing import Budget, PriceTable
from bot.config.repo import RepoConfig
from bot.config.settings import Settings
from bot.core.errors import ConfigError, IssuesmithError
from bot.core.redact import Redactor
from bot.flow.status_board import StatusBoard
from bot.github.client import GitHubApp
from bot.github.pacing import WritePacer
from bot.models.client import ModelClient
from bot.models.replay import Recorder, ReplayModel
from bot.models.sampling import Sampling
from bot.runs.queueing import STEP_TIMEOUTS, JobQueues, QueueNames, RetryPolicy
from bot.runs.store import RunStore
from bot.sandboxes import choose_backend
from bot.sandboxes.base import Backend
from bot.sandboxes.choice import adopt
from bot.sandboxes.trust import SetupTrust
from bot.workspace.git import Reader
from bot.workspace.slots import Workspace

log = logging.getLogger("issuesmith.services")


@dataclass
class Services:
    """Connections and clients shared by the jobs of one worker process."""

    settings: Settings
    redis_text: redis.Redis  # decode_responses=True, for the run store
    redis_bytes: redis.Redis  # bytes, as RQ needs
    store: RunStore
    queues: JobQueues  # every queue, in the order workers take them (intake, plan, work)
    github: GitHubApp
    workspace: Workspace
    redactor: Redactor
    policy: RetryPolicy
    _model: ModelClient | None = field(default=None, repr=False)
    _sandbox: Backend | None = field(default=None, repr=False)
    _sandbox_process: int = field(default=0, repr=False)
    _status_board: StatusBoard | None = field(default=None, repr=False)
    _status_board_process: int = field(default=0, repr=False)

    @property
    def queue(self) -> Queue:
        """The work queue: where the long jobs (implement, revise, pending notices) are queued."""
        return self.queues.work

    @property
    def intake_queue(self) -> Queue:
        """The intake queue: where a delivery's intake job is queued (by the dispatcher)."""
        return self.queues.intake

    def sandbox(self) -> Backend:
        """The backend that runs repository code, chosen on first use; fails closed.

        Raises `SandboxUnavailable` (final: the run stops and the issue is told) when no isolating
        backend works here and unsandboxed runs were not explicitly allowed. A backend chosen by the
        worker before it forked this job's process (`prepare_for_jobs`) is taken as it is, without its
        trial runs; the first use in each process still does the rest of a check (`choice.adopt`).
        """
        if self._sandbox is None:
            s = self.settings
            self._sandbox = choose_backend(s.sandbox, s.allow_unsandboxed, uid=s.sandbox_uid, gid=s.sandbox_gid,
                                           docker_image=s.docker_image, trust=setup_trust(s))
            self._sandbox_process = os.getpid()
            if not self._sandbox.isolating:
                log.warning("UNSANDBOXED: repository code runs without isolation (ISSUESMITH_ALLOW_UNSANDBOXED=1)")
        elif self._sandbox_process != os.getpid():
            self._sandbox_process = os.getpid()
            adopt(self._sandbox)
        return self._sandbox

    def status_board(self, write: Callable[[str], None]) -> StatusBoard:
        """This process's board of status-comment edits, made by `write` (a forked job's process makes its own:
        the thread of the process it was forked from does not run in it)."""
        if self._status_board is None or self._status_board_process != os.getpid():
            self._status_board, self._status_board_process = StatusBoard(write), os.getpid()
        return self._status_board

    def prepare_for_jobs(self) -> list[str]:
        """Choose the sandbox, build the model client and learn our GitHub login now, in the worker, before RQ
        forks a process per job.

        Every job's process inherits them, instead of probing the sandbox again (its trial runs of bubblewrap
        took 0.5-0.9 s a job here), building the model's HTTP client again (0.3 s) and asking GitHub who we are
        (`GET /app`). What cannot be done now stays lazy: the job that needs it raises the same named error as
        before. Returns what was prepared.
        """
        built = []
        for name, build in (("sandbox", self.sandbox), ("model client", self.model),
                            ("bot login", self.github.learn_bot_login)):
            try:
                build()
            except (IssuesmithError, OSError, github.GithubException) as exc:
                log.warning("not prepared before the first job; each job will try", extra={"what": name,
                                                                                            "error": str(exc)})
                continue
            built.append(name)
        return built

    def model(self) -> ModelClient:
        """The model client (built on first use: a run that never plans needs no key)."""
        if self._model is None:
            s = self.settings
            self._model = ModelClient(chat_endpoint(s), s.model, self.store, PriceTable(s.prices),
                                      Budget(s.run_budget_usd, s.run_budget_tokens), s.structured_output,
                                      Sampling.for_endpoint(s.openai_base_url, s.model_max_output_tokens,
                                                            s.model_temperature), s.model_max_input_tokens)
        return self._model

    def model_for(self, config: RepoConfig) -> ModelClient:
        """The model client for a run of a repository: its models per role and its budget."""
        budget = DeploymentLimits.from_settings(self.settings).run_budget(config)  # a repository only lowers it
        return self.model().for_run(config.model_for, budget)


def setup_trust(s: Settings) -> SetupTrust:
    """The operator's CA bundle and package index for the setup phase."""
    index, extra = s.sandbox_pip_index_url, s.sandbox_pip_extra_index_url
    return SetupTrust(s.sandbox_ca_bundle, index.get_secret_value() if index else "",
                      extra.get_secret_value() if extra else "")


def chat_endpoint(s: Settings) -> Callable[..., Any]:
    """What answers the model's chat requests: the OpenAI-compatible endpoint, or a replayed transcript.

    With `ISSUESMITH_RECORD_TRANSCRIPT`, every reply of the endpoint is also written there.
    """
    if s.model_provider == "replay":
        if s.replay_transcript is None:
            raise ConfigError("ISSUESMITH_MODEL_PROVIDER=replay needs ISSUESMITH_REPLAY_TRANSCRIPT (a transcript file)")
        return ReplayModel.from_file(s.replay_transcript).create
    key = s.openai_api_key.get_secret_value() if s.openai_api_key else None
    if key is None and s.openai_base_url is None:
        raise ConfigError("no model configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for "
                          "another OpenAI-compatible endpoint)")
    client = openai.OpenAI(api_key=key or "unused", base_url=s.openai_base_url,
                           timeout=s.model_timeout, max_retries=s.model_max_retries)
    if s.record_transcript is not None:
        return Recorder(client.chat.completions.create, s.record_transcript).create
    return client.chat.completions.create


CODE_SECONDS = 3600
"""The code step's timeout, and the least the test step gets."""
MODEL_ROUND_SECONDS = 600
"""What the test step allows for each round of model work (writing tests, each fix) on top of its commands."""


def seconds_for_test_step(settings: Settings, test_timeout: float) -> int:
    """Seconds the test step may take: the setup command, every test run of `test_timeout` (the base run's, the
    fix rounds' and the review revisions'), the Coder's own test runs and the model rounds."""
    rounds = settings.max_test_fixes + settings.max_revisions + 1
    base_run = test_timeout if settings.test_baseline else 0
    needed = (settings.setup_timeout + base_run + settings.coder_test_seconds
              + rounds * (test_timeout + MODEL_ROUND_SECONDS) + (settings.max_revisions + 1) * MODEL_ROUND_SECONDS)
    return int(max(CODE_SECONDS, needed))


def seconds_for_code_step(settings: Settings, test_timeout: float, candidates: int = 1) -> int:
    """Seconds the code step may take: its model work (per Coder attempt, `bot.flow.candidates`), and for the
    Coder's test runs and the reproduction phase's (`bot.flow.reproduce`, one run per try) the setup command, the
    base run and their test seconds; with several candidates, one whole test run each to judge them."""
    reproducing = settings.reproduce_attempts * test_timeout if settings.reproduce else 0
    coding = settings.coder_test_seconds if settings.coder_test_runs > 0 else 0
    judging = candidates * test_timeout if candidates > 1 else 0
    model_work = candidates * CODE_SECONDS
    if not reproducing and not coding and not judging:
        return model_work
    base_run = test_timeout if settings.test_baseline else 0
    return int(model_work + settings.setup_timeout + base_run + coding + reproducing + judging)


def job_timeouts(settings: Settings) -> dict[str, int]:
    """Seconds RQ gives each step's job: enough for the longest code and test steps a repository may ask for."""
    longest = settings.max_test_timeout
    extra = (max(0, seconds_for_test_step(settings, longest) - CODE_SECONDS)
             + seconds_for_code_step(settings, longest, settings.max_candidates) - CODE_SECONDS)
    return {step: seconds + extra if step in ("implement", "revise") else seconds
            for step, seconds in STEP_TIMEOUTS.items()}


def queue_names(settings: Settings) -> QueueNames:
    """The deployment's queue names."""
    return QueueNames(settings.intake_queue, settings.work_queue, settings.plan_queue)


def build_services(settings: Settings) -> Services:
    """Create every service from the settings (no network calls yet)."""
    redactor = Redactor(settings.secrets())
    decoded = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    raw = redis.Redis.from_url(settings.redis_url)
    app = GitHubApp(settings.app_id or 0, settings.app_private_key(), settings.github_api_url, redactor,
                    bot_login=settings.bot_login,
                    spacing=(settings.github_request_spacing, settings.github_write_spacing),
                    max_rate_wait=settings.github_max_rate_wait,
                    pacer=WritePacer(decoded, settings.github_write_spacing))
    return Services(
        settings=settings, redis_text=decoded, redis_bytes=raw, store=RunStore(decoded),
        queues=JobQueues.open(queue_names(settings), raw), github=app,
        workspace=Workspace(settings.work_dir.resolve(), redactor,
                            reader=Reader(settings.sandbox_uid, settings.sandbox_gid)), redactor=redactor,
        policy=RetryPolicy(settings.job_retries, tuple(settings.job_retry_intervals), job_timeouts(settings)))


_installed: Services | None = None
_lock = threading.Lock()


def install(services: Services | None) -> None:
    """Make `services` the ones jobs in this process use (None to forget them)."""
    global _installed
    _installed = services


def current() -> Services:
    """The installed services, or ones built from the environment on first use."""
    global _installed
    with _lock:
        if _installed is None:
            log.info("no services installed; building them from the environment")
            _installed = build_services(Settings())  # type: ignore[call-arg]
        return _installed
