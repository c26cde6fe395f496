"""The web process: the webhook endpoint, the runs page and /metrics.

* `app`: raw ASGI /webhook in front of FastAPI; `webhooks`: signature check and event → intent
  (pure); `dashboard` and `runpage`: the token-gated runs page; `metrics`: Prometheus.

May import: `bot.github` (command grammar), `bot.runs`, `bot.config`, `bot.core`. Must not
(checked): import the agents, the models, work trees, the sandbox, the context index or the
flow: a webhook never touches a repository.
"""
