"""The `issuesmith` command and what only it uses.

* `main`: `serve`, `worker` and the sub-commands; `localrun` (`issuesmith run` on a checkout),
  `tryout` and `demo` (the real processes on the stand-ins), `doctor`, `appsetup` (`setup`),
  `health`, `checkconfig`, `localredis`, `redisconn`.

May import: anything. Nothing imports it (it is the top layer).
"""
