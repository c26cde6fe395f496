"""Getting a work tree and everything the worker does with one, hardened against the repository in it.

* `slots`: a bare mirror per repository and reused clones, reused only when proven clean;
* `git`: **the one module that runs git** (hardened configuration, no discovery, a dropped uid
  for reading an untrusted tree); nothing else starts git;
* `tree`: reset, scrub and restore after a sandboxed command, patches, commits;
* `edits`: the agents' verified edit tools; `detect`: the test command a tree suggests.

May import: `bot.sandboxes` (for its staging mounts), `bot.config`, `bot.runs`, `bot.core`.
Must not: import the model client, GitHub, the agents or anything above.
"""
