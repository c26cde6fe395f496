"""Model prices (USD per million tokens) and the per-run budget check."""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import BudgetExceeded

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


class PriceTable:
    """Looks up a model's price; unknown models cost 0 (the token budget still applies)."""

    def __init__(self, overrides: dict[str, tuple[float, float]] | None = None) -> None:
        self._prices = {**DEFAULT_PRICES, **(overrides or {})}

    def known(self, model: str) -> bool:
        """Whether the table has a price for `model`."""
        return self._lookup(model) is not None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """Dollars for one call."""
        price = self._lookup(model) or (0.0, 0.0)
        return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000

    def _lookup(self, model: str) -> tuple[float, float] | None:
        if model in self._prices:
            return self._prices[model]
        # dated snapshots ("gpt-4o-2024-08-06") cost what their family costs
        family = max((name for name in self._prices if model.startswith(name + "-")), key=len, default=None)
        return self._prices[family] if family else None


@dataclass(frozen=True)
class Budget:
    """A run's hard limits on model spend."""

    max_usd: float
    max_tokens: int

    def check(self, spent_usd: float, spent_tokens: int, next_usd: float, next_tokens: int) -> None:
        """Raise `BudgetExceeded` if the next call could take the run over either limit."""
        if spent_tokens + next_tokens > self.max_tokens:
            raise BudgetExceeded(
                f"the next model call (up to {next_tokens:,} tokens) would exceed the run's token budget: "
                f"{spent_tokens:,} of {self.max_tokens:,} used",
                hint="raise `budget.tokens` in .github/issuesmith.yml (or ISSUESMITH_RUN_BUDGET_TOKENS), "
                     "or narrow the issue, then reply `/retry`")
        if spent_usd + next_usd > self.max_usd:
            raise BudgetExceeded(
                f"the next model call (up to ${next_usd:.4f}) would exceed the run's budget: "
                f"${spent_usd:.4f} of ${self.max_usd:.2f} spent",
                hint="raise `budget.usd` in .github/issuesmith.yml (or ISSUESMITH_RUN_BUDGET_USD), "
                     "or narrow the issue, then reply `/retry`")
