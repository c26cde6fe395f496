"""The parts of `bench/swebench_replay.py`: SWE-bench instances replayed through `issuesmith run` with a scripted model.

One job per module: `patches` (unified diffs → files and exact text edits), `commands` (setup and test
commands from an instance), `transcript` (the scripted model's replies), `repos` (checkouts from the
materialized source releases, and whether an instance can run there), `outcome` (what the run's log and
outputs say), `table` (the printed results).
"""
