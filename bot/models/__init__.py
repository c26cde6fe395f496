"""Asking a model: the OpenAI-compatible client (structured output, tools, budget, usage) and the replay provider.

The client reports what it did through a `Ledger` the caller passes (the run store, in the
worker): it knows nothing of where runs are kept.

May import: `bot.localize.text` (token estimates), `bot.config` (prices, budget), `bot.core`.
Must not: import GitHub, the agents, the flow, the web app or the run store.
"""
