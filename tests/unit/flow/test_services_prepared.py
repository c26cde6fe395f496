"""A worker builds the sandbox choice and the model client once, before RQ forks a process per job.

Each job's process used to probe the sandbox again (trial runs of bubblewrap) and build the model's
HTTP client again; `bench/pipeline.py` showed both in every plan and implement job.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.config.settings import Settings
from bot.core.errors import ConfigError
from bot.flow import services as services_module
from bot.flow.services import Services, build_services
from bot.sandboxes import choice


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, app_keys: tuple[str, str]) -> Callable[..., Settings]:
    """Settings for a worker of these tests, with `overrides`."""
    return lambda **overrides: _settings(tmp_path, redis_url, app_keys[0], **overrides)


def _settings(tmp_path: Path, redis_url: str, key: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(app_id=101, private_key=key, webhook_secret="s" * 32, redis_url=redis_url,
                                  openai_api_key="sk-test-0123456789", openai_base_url="http://127.0.0.1:9/v1",
                                  work_dir=tmp_path / "work", sandbox="unsandboxed", allow_unsandboxed=True)
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Count the calls of `bot.flow.services.<name>` (the real function still runs), by process id."""
    calls: list[int] = []
    real: Callable[..., Any] = getattr(services_module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(os.getpid())
        return real(*args, **kwargs)

    monkeypatch.setattr(services_module, name, counted)
    return calls


def _in_forked_child(work: Callable[[], int]) -> int:
    """Run `work` in a forked process, as RQ runs a job; its result (0-255) is the child's exit status."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        code = 255
        try:
            code = work()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_jobs_forked_after_preparing_choose_no_sandbox_and_build_no_model_client(
        monkeypatch: pytest.MonkeyPatch, settings: Callable[..., Settings]) -> None:
    chosen, endpoints = _counting(monkeypatch, "choose_backend"), _counting(monkeypatch, "chat_endpoint")
    services = build_services(settings())
    monkeypatch.setattr(services.github, "_bot_login", "issuesmith[bot]")  # known: nothing to ask GitHub here
    assert services.prepare_for_jobs() == ["sandbox", "model client", "bot login"]
    assert (len(chosen), len(endpoints)) == (1, 1)

    def job() -> int:  # what a plan or implement job asks for, in its own process
        services.sandbox()
        services.model()
        return len(chosen) * 10 + len(endpoints)

    assert _in_forked_child(job) == 11  # still the worker's one choice and one client
    assert _in_forked_child(job) == 11


def test_each_job_process_still_sweeps_what_killed_runs_left(monkeypatch: pytest.MonkeyPatch,
                                                              settings: Callable[..., Settings]) -> None:
    services = build_services(settings())
    services.prepare_for_jobs()
    adopted: list[int] = []
    monkeypatch.setattr(services_module, "adopt", lambda backend: adopted.append(os.getpid()) or backend)

    def job() -> int:
        services.sandbox()
        services.sandbox()
        return len(adopted)

    assert _in_forked_child(job) == 1  # once in each job's process, at its first use
    services.sandbox()
    assert adopted == []  # not in the worker that chose it


def test_adopting_a_bubblewrap_backend_sweeps_like_its_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    swept: list[int] = []
    monkeypatch.setattr(choice, "sweep", lambda: swept.append(1) or 0)
    backend = choice.backends()["bubblewrap"]
    assert choice.adopt(backend) is backend and swept == [1]
    choice.adopt(choice.backends()["unsandboxed"])
    assert swept == [1]


def test_what_cannot_be_prepared_stays_lazy_and_fails_in_the_job_as_before(
        monkeypatch: pytest.MonkeyPatch, settings: Callable[..., Settings]) -> None:
    services: Services = build_services(settings(sandbox="docker", openai_api_key=None,
                                      openai_base_url=None, allow_unsandboxed=False))
    monkeypatch.setattr(choice.DockerBackend, "probe",
                        lambda self: choice.Probe("docker", False, "no docker engine in this test"))
    monkeypatch.setattr(services.github, "_bot_login", "issuesmith[bot]")
    assert services.prepare_for_jobs() == ["bot login"]
    with pytest.raises(choice.SandboxUnavailable, match="no docker engine"):
        services.sandbox()
    with pytest.raises(ConfigError, match="no model configured"):
        services.model()
