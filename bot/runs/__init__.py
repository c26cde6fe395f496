"""A run and what it is about, kept in Redis.

* `model`: the run, its states and transitions; `issue`, `plan`, `review`, `intents`: the
  neutral types several layers share (the issue as the agents see it, the Planner's plan, the
  Reviewer's verdict, what a webhook delivery asks of us);
* `store`: runs, plans and the execution log in Redis (atomic transitions in Lua);
* `journal`: the pipeline's verified step outputs; `timeline`: step attempts for the runs page;
* `queueing`: RQ enqueueing with deterministic job ids; `reaper`: jobs a dead worker left;
* `inbox`: relevant webhook deliveries, appended once per delivery id by the web process;
  `dispatch`: the worker's dispatcher that turns them into intake jobs;
* `figures`: the workers' metrics added up in Redis.

May import: `bot.core`, Redis and RQ. Must not: import config, GitHub, models, work trees or above.
"""
