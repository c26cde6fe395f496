"""Talking to GitHub and what we post there.

* `client`: the only module that calls GitHub's API (PyGithub), with permissions and pacing;
* `comments`, `status`, `prnotes`, `report`: the plan comment, the run's status checklist, the
  pull request's revision notes, the review and test results, all built around untrusted text
  with `bot.core.markdown`; `commands`: the `/approve`, `/revise`... grammar.

May import: `bot.runs`, `bot.config`, `bot.core`. Must not: import the models, the agents,
work trees, the sandbox, the flow or the web app.
"""
