"""Model prices (USD per million tokens) and the per-run budget check.

A model without a price would cost $0 and the dollar budget would never bind, so an unpriced
model is refused: a repository naming one in `models.*` gets a config problem at intake
(`bot.config.limits`), and a call to one (the deployment's own `ISSUESMITH_MODEL`, say a local model)
fails with `UnpricedModel`, telling the operator to price it in `ISSUESMITH_PRICES`.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field

from bot.core.errors import BudgetExceeded, ConfigError

DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o4-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
}
"""Input and output prices per million tokens; `ISSUESMITH_PRICES` adds to or overrides these."""


class UnpricedModel(ConfigError):
    """A model call to a model the price table does not know (the operator must price it)."""


def pricing_hint(model: str) -> str:
    """How the operator prices `model` (the exact `ISSUESMITH_PRICES` value to set)."""
    example = json.dumps({model: [0, 0]})
    return (f"the operator prices it in ISSUESMITH_PRICES (USD per million input and output tokens), "
            f"e.g. ISSUESMITH_PRICES='{example}' for a free local model")


class PriceTable:
    """Looks up a model's price; an unknown model has none, and costing a call to it raises `UnpricedModel`."""

    def __init__(self, overrides: dict[str, tuple[float, float]] | None = None) -> None:
        self._prices = {**DEFAULT_PRICES, **(overrides or {})}

    def known(self, model: str) -> bool:
        """Whether the table has a price for `model`."""
        return self._lookup(model) is not None

    def price(self, model: str) -> tuple[float, float] | None:
        """(input, output) USD per million tokens for `model`, or None when it has no price."""
        return self._lookup(model)

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """Dollars for one call; raises `UnpricedModel` when the table has no price for `model`."""
        price = self._lookup(model)
        if price is None:
            raise UnpricedModel(f"the model {model!r} has no price, so the run's dollar budget could not be kept",
                                hint=pricing_hint(model) + ", then comment `/retry`")
        return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000

    def _lookup(self, model: str) -> tuple[float, float] | None:
        if model in self._prices:
            return self._prices[model]
        # dated snapshots ("gpt-4o-2024-08-06", "gpt-4-0613") cost what their family costs; nothing else
        # borrows a family's price ("o3-pro" is not "o3")
        snapshot = _SNAPSHOT.match(model)
        return self._prices.get(snapshot.group(1)) if snapshot else None


_SNAPSHOT = re.compile(r"^(.+)-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")


@dataclass(frozen=True)
class Budget:
    """A run's hard limits on model spend."""

    max_usd: float
    max_tokens: int

    def lowered(self, usd: float | None, tokens: int | None) -> Budget:
        """This budget, lowered (never raised) by a repository's `budget.usd` and `budget.tokens`."""
        return Budget(self.max_usd if usd is None else min(usd, self.max_usd),
                      self.max_tokens if tokens is None else min(tokens, self.max_tokens))

    def check(self, spent_usd: float, spent_tokens: int, next_usd: float, next_tokens: int) -> None:
        """Raise `BudgetExceeded` if the next call could take the run over either limit."""
        if spent_tokens + next_tokens > self.max_tokens:
            raise BudgetExceeded(
                f"the next model call (up to {next_tokens:,} tokens) would exceed the run's token budget: "
                f"{spent_tokens:,} of {self.max_tokens:,} used",
                hint="raise `budget.tokens` in .github/issuesmith.yml (up to the deployment's "
                     "ISSUESMITH_RUN_BUDGET_TOKENS, which only the operator can raise), "
                     "or narrow the issue, then reply `/retry`")
        if spent_usd + next_usd > self.max_usd:
            raise BudgetExceeded(
                f"the next model call (up to ${next_usd:.4f}) would exceed the run's budget: "
                f"${spent_usd:.4f} of ${self.max_usd:.2f} spent",
                hint="raise `budget.usd` in .github/issuesmith.yml (up to the deployment's "
                     "ISSUESMITH_RUN_BUDGET_USD, which only the operator can raise), "
                     "or narrow the issue, then reply `/retry`")


@dataclass
class Share:
    """The part of a run's budget one of several concurrent Coder attempts may spend, counted apart from the
    others (the run's own budget is checked as well). Thread-safe: an attempt's calls may overlap its checks."""

    max_usd: float
    max_tokens: int
    spent_usd: float = 0.0
    spent_tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def check(self, next_usd: float, next_tokens: int) -> None:
        """Raise `BudgetExceeded` if the next call could take this attempt over its share."""
        with self._lock:
            tokens, usd = self.spent_tokens, self.spent_usd
        if tokens + next_tokens > self.max_tokens or usd + next_usd > self.max_usd:
            raise BudgetExceeded(
                f"the next model call (up to {next_tokens:,} tokens, ${next_usd:.4f}) would exceed this attempt's "
                f"share of the run's budget: {tokens:,} of {self.max_tokens:,} tokens, ${usd:.4f} of "
                f"${self.max_usd:.4f} used",
                hint="ask for fewer `candidates` or raise `budget` in .github/issuesmith.yml (up to the deployment's "
                     "ISSUESMITH_RUN_BUDGET_USD and ISSUESMITH_RUN_BUDGET_TOKENS), then reply `/retry`")

    def add(self, usd: float, tokens: int) -> None:
        """Count one call of this attempt."""
        with self._lock:
            self.spent_usd += usd
            self.spent_tokens += tokens
