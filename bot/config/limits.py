"""The deployment's limits on what a repository's `.github/issuesmith.yml` may set.

Limits are the deployment's: a repository may tighten them, never loosen them.

* `budget.usd` and `budget.tokens` may only lower `ISSUESMITH_RUN_BUDGET_USD` / `_TOKENS`; a value
  above the deployment's is a config problem (the maintainer learns it would not be honoured),
  and the effective budget is the lower of the two whatever a stored configuration says.
* `models.*` may only name a priced model (the built-in table or the operator's
  `ISSUESMITH_PRICES`): an unpriced model would cost $0 and the dollar budget would never bind.
* `setup_command` (run with an outbound network) may replace the deployment's only when
  `ISSUESMITH_ALLOW_REPO_SETUP_COMMAND` is on; an empty value, which switches the setup phase
  off for that repository, is always accepted.
* `test_timeout` may set a repository's test timeout up to `ISSUESMITH_MAX_TEST_TIMEOUT` (a
  suite longer than the deployment's default `ISSUESMITH_TEST_TIMEOUT` can then run); a larger
  value is a config problem, and the effective timeout never exceeds the maximum.
* `candidates` (Coder attempts, `bot.flow.candidates`) may ask for up to `ISSUESMITH_MAX_CANDIDATES`;
  more is a config problem, and the effective count never exceeds the maximum.

A configuration with problems does not start a run: intake shows them in the same key → problem
table as a file that does not validate (`RepoConfigInvalid`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.config.pricing import Budget, PriceTable, pricing_hint
from bot.config.repo import ROLES, RepoConfig, RepoConfigInvalid
from bot.core.errors import ConfigError


class LimitSource(Protocol):
    """The settings the limits come from (`Settings`, or `LimitSettings` for check-config)."""

    model: str
    prices: dict[str, tuple[float, float]]
    run_budget_usd: float
    run_budget_tokens: int
    setup_command: str
    allow_repo_setup_command: bool
    test_timeout: float
    max_test_timeout: float
    max_candidates: int


@dataclass(frozen=True)
class DeploymentLimits:
    """What the deployment allows a repository: its budget ceiling, its prices, its setup command policy."""

    budget: Budget
    prices: PriceTable
    model: str
    setup_command: str
    allow_repo_setup_command: bool
    test_timeout: float = 600.0
    max_test_timeout: float = 3600.0
    max_candidates: int = 4

    @classmethod
    def from_settings(cls, settings: LimitSource) -> DeploymentLimits:
        """The limits the deployment's settings set."""
        return cls(Budget(settings.run_budget_usd, settings.run_budget_tokens), PriceTable(settings.prices),
                   settings.model, settings.setup_command, settings.allow_repo_setup_command,
                   settings.test_timeout, settings.max_test_timeout, settings.max_candidates)

    def problems(self, config: RepoConfig) -> list[tuple[str, str]]:
        """(key, problem) for each value of `config` that goes beyond what the deployment allows."""
        return (self._budget_problems(config) + self._model_problems(config) + self._setup_problems(config)
                + self._timeout_problems(config) + self._candidate_problems(config))

    def check(self, config: RepoConfig, path: str) -> RepoConfig:
        """`config` if it stays within the limits; else `RepoConfigInvalid` listing every problem."""
        problems = self.problems(config)
        if problems:
            raise RepoConfigInvalid(path, problems, config.trigger_label or "")
        return config

    def run_budget(self, config: RepoConfig) -> Budget:
        """The budget of a run: the deployment's, lowered by the repository's (never raised)."""
        return self.budget.lowered(config.budget.usd, config.budget.tokens)

    def run_setup_command(self, config: RepoConfig) -> str:
        """The setup command a run uses ("" for none); `ConfigError` for a repository's that is not allowed."""
        repo = config.setup_command
        if repo is None:
            return self.setup_command.strip()
        if not repo.strip():
            return ""  # the repository switches the setup phase off: tightening is always allowed
        if not self.allow_repo_setup_command:
            raise ConfigError(SETUP_NOT_ALLOWED, hint=SETUP_HINT)
        return repo.strip()

    def run_test_timeout(self, config: RepoConfig) -> float:
        """Seconds a test run may take: the repository's `test_timeout` or the deployment's, never above the maximum."""
        wanted = self.test_timeout if config.test_timeout is None else config.test_timeout
        return min(wanted, self.max_test_timeout)

    def run_candidates(self, config: RepoConfig) -> int:
        """How many Coder attempts a run makes: the repository's `candidates` (default 1), never above the maximum."""
        return min(config.candidates or 1, self.max_candidates)

    def _budget_problems(self, config: RepoConfig) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        usd, tokens = config.budget.usd, config.budget.tokens
        if usd is not None and usd > self.budget.max_usd:
            found.append(("budget.usd", f"${usd:g} is above this deployment's limit of ${self.budget.max_usd:g} per "
                                        "run (ISSUESMITH_RUN_BUDGET_USD); a repository may only lower it: set at most "
                                        f"{self.budget.max_usd:g} or remove the key"))
        if tokens is not None and tokens > self.budget.max_tokens:
            found.append(("budget.tokens", f"{tokens:,} is above this deployment's limit of "
                                           f"{self.budget.max_tokens:,} tokens per run "
                                           "(ISSUESMITH_RUN_BUDGET_TOKENS); a repository may only lower it: set at "
                                           f"most {self.budget.max_tokens} or remove the key"))
        return found

    def _model_problems(self, config: RepoConfig) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for role in ROLES:
            model = getattr(config.models, role)
            if model and not self.prices.known(model):
                found.append((f"models.{role}", f"{model!r} has no price here, so the run's dollar budget could not "
                                                f"bind: name a priced model{self._example()}, or "
                                                + pricing_hint(model)))
        return found

    def _example(self) -> str:
        return f" (e.g. {self.model!r}, the deployment's)" if self.prices.known(self.model) else ""

    def _setup_problems(self, config: RepoConfig) -> list[tuple[str, str]]:
        repo = config.setup_command
        if repo is None or not repo.strip() or self.allow_repo_setup_command:
            return []
        return [("setup_command", f"{SETUP_NOT_ALLOWED}; {SETUP_HINT}")]


    def _timeout_problems(self, config: RepoConfig) -> list[tuple[str, str]]:
        wanted, limit = config.test_timeout, self.max_test_timeout
        if wanted is None or wanted <= limit:
            return []
        return [_beyond("test_timeout", f"{wanted:g}s", f"{limit:g}s per test run", "ISSUESMITH_MAX_TEST_TIMEOUT",
                        f"{limit:g}")]

    def _candidate_problems(self, config: RepoConfig) -> list[tuple[str, str]]:
        wanted, limit = config.candidates, self.max_candidates
        if wanted is None or wanted <= limit:
            return []
        return [_beyond("candidates", str(wanted), f"{limit} Coder attempts per run", "ISSUESMITH_MAX_CANDIDATES",
                        str(limit))]


def _beyond(key: str, wanted: str, limit: str, variable: str, at_most: str) -> tuple[str, str]:
    """The problem of a value above a maximum only the operator can raise."""
    return (key, f"{wanted} is above this deployment's limit of {limit} ({variable}): set at most {at_most}, "
                 "remove the key, or ask the operator to raise it")

SETUP_NOT_ALLOWED = ("this deployment does not let a repository choose its setup command "
                     "(ISSUESMITH_ALLOW_REPO_SETUP_COMMAND is off)")
SETUP_HINT = ('remove `setup_command` to use the deployment\'s, set it to "" to run none, '
              "or ask the operator to allow it")
