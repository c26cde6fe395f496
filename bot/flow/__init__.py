"""The worker's flow: the steps of a run and what wires them together.

* `pipeline`: steps with dependencies, timeouts, retries and verified outputs, resumable;
* `steps`: the one failure path, status refreshes, the gate per run;
* `implement` and `revise`: the implement run and a revision round as pipeline steps;
* `gate`: the policy check of every irreversible action; `services`: everything a job needs,
  built once from the settings.

May import: every package below it (agents, models, github, localize, workspace, sandboxes, runs,
config, core). Must not: import the web app, the command line or `jobs`.
"""
