"""The parts of `bench/webhook.py`, the webhook throughput benchmark (see `bench/README.md`).

`bench/webhook.py` is the entry point (`make bench`, `python bench/webhook.py ...`); it only parses
the command line and runs `batches.run`. The modules, each importing only those above it:

- `options`: the paths and constants the parts share, the command line (`Options`, `parse_args`);
- `load`: the load client: the signed ~10 KB deliveries, the plan of one load-generator run,
  the wrk Lua script and the built-in asyncio/uvloop client process;
- `servers`: the servers under test (`issuesmith serve` and `bare_app.py`): starting, waiting
  for, stopping them and reading their CPU; the Redis database; the state a run shares (`Bench`);
  the sanity check, the de-dup burst and the queue check;
- `report`: the figures (percentiles, per-target summary, ratio), the bottleneck notes, the
  server-log findings and the printed report;
- `batches`: one run from start to end: CPU split, servers up, warm-up and ABBA batches (each
  one load-generator process), checks, report.

Nothing in `bot/` imports this package, and it is not part of the test suite.
"""
