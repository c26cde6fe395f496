"""The four agents (Planner, Coder, Reviewer, Tester), each beside its prompts, and their tools.

The workflow is code (`bot.flow`): an agent only turns text into a typed answer through the
model client and the tools it is given.

May import: `bot.models`, `bot.github`, `bot.localize`,
`bot.workspace`, `bot.runs` (the neutral issue, plan and review types), `bot.config`, `bot.core`.
Must not: import the flow, the web app, the command line or `jobs`.
"""
