"""Doctor checks of this machine and its Redis: Redis and its persistence, the sandbox, git and redis-server."""

from __future__ import annotations

import shutil
import subprocess

import redis

from bot.cli.doctor.remote import unreachable
from bot.cli.doctor.result import Check, fail, ok, warn
from bot.cli.redisconn import shown_url
from bot.config.settings import Settings
from bot.sandboxes.base import Probe
from bot.sandboxes.choice import HINT, ISOLATING, NAMES, probe_all

REDIS_FIX = ("start Redis (`redis-server`, or `systemctl start redis-server`) or correct ISSUESMITH_REDIS_URL "
             "(redis://[:PASSWORD@]HOST:6379/DB)")
PERSISTENCE_FIX = ("set `appendonly yes` in redis.conf (or run `redis-cli CONFIG SET appendonly yes` and "
                   "`redis-cli CONFIG REWRITE`), so that a restart of Redis keeps queued jobs and runs")


def check_redis(settings: Settings, timeout: float) -> tuple[Check, redis.Redis | None]:
    """Redis answers PING at ISSUESMITH_REDIS_URL; returns the client for the next checks when it does."""
    where = shown_url(settings.redis_url)
    try:
        client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=timeout, socket_timeout=timeout,
                                      decode_responses=True)
    except ValueError as exc:
        return fail("Redis", f"ISSUESMITH_REDIS_URL is not a Redis URL: {exc}", REDIS_FIX), None
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        client.close()
        return fail("Redis", f"Redis at {where} refused the credentials ({exc})",
                    "put the right password in ISSUESMITH_REDIS_URL: redis://:PASSWORD@HOST:6379/DB"), None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        client.close()
        return fail("Redis", f"Redis at {where} does not answer: {unreachable(exc, timeout)}", REDIS_FIX,
                    "persistence not checked"), None
    except redis.ResponseError as exc:
        client.close()
        return fail("Redis", f"Redis at {where} answered with an error: {exc}", REDIS_FIX), None
    return ok("Redis", f"{where} answers (Redis {_server_version(client)})"), client


def _server_version(client: redis.Redis) -> str:
    try:
        return str(client.info("server").get("redis_version", "of unknown version"))
    except redis.ResponseError:  # INFO disabled
        return "of unknown version"


def check_persistence(client: redis.Redis) -> Check:
    """Redis keeps data across a restart (AOF or RDB snapshots); a warning when not, or when CONFIG is refused."""
    try:
        appendonly = str(client.config_get("appendonly").get("appendonly", ""))
        save = str(client.config_get("save").get("save", "")).strip()
    except redis.ResponseError as exc:
        return warn("Redis persistence", f"could not be checked: CONFIG GET was refused ({exc})",
                    "make sure the Redis service keeps data across restarts (AOF or RDB snapshots); managed "
                    "services usually say so in their settings")
    if appendonly == "yes":
        fsync = str(client.config_get("appendfsync").get("appendfsync", "?"))
        return ok("Redis persistence", f"append-only file on (appendfsync {fsync})")
    if save:
        return ok("Redis persistence", f"RDB snapshots (save {save})",
                  "a crash loses what was written since the last snapshot; `appendonly yes` loses at most a second")
    return warn("Redis persistence", "off (appendonly no, no RDB snapshots): a restart of Redis loses queued jobs "
                                     "and the state of every run", PERSISTENCE_FIX)


def check_sandbox(settings: Settings) -> Check:
    """Which backend runs the repository's commands (as the worker would choose it), and why the others do not."""
    preference = (settings.sandbox or "auto").strip().lower()
    if preference not in (*NAMES, "auto"):
        return fail("sandbox", f"ISSUESMITH_SANDBOX={settings.sandbox!r} is not a backend",
                    f"set ISSUESMITH_SANDBOX to auto or one of {', '.join(NAMES)}")
    probes = {p.backend: p for p in probe_all(uid=settings.sandbox_uid, gid=settings.sandbox_gid,
                                              docker_image=settings.docker_image)}
    wanted = ISOLATING if preference == "auto" else (preference,)
    chosen = next((probes[n] for n in wanted if n != "unsandboxed" and probes[n].available), None)
    others = tuple(_why_not(p, chosen) for p in probes.values() if p.backend != "unsandboxed" and p is not chosen)
    if chosen is not None:
        return ok("sandbox", f"{chosen.backend}: {chosen.reason}", *others)
    unsandboxed_asked = preference == "unsandboxed" or (preference == "auto" and settings.allow_unsandboxed)
    if unsandboxed_asked and settings.allow_unsandboxed:
        return warn("sandbox", "unsandboxed: commands from the repositories run with NO isolation "
                               "(ISSUESMITH_ALLOW_UNSANDBOXED=1)", HINT, *others)
    if preference == "unsandboxed":
        return fail("sandbox", "ISSUESMITH_SANDBOX=unsandboxed needs ISSUESMITH_ALLOW_UNSANDBOXED=1", HINT, *others)
    asked = "no isolating backend works here" if preference == "auto" else f"{preference} does not work here"
    return fail("sandbox", f"{asked}: the worker would refuse to run the repositories' commands", HINT, *others)


def _why_not(probe: Probe, chosen: Probe | None) -> str:
    if probe.available:
        return f"{probe.backend}: works too, not chosen ({probe.reason})"
    return f"{probe.backend}: not available: {probe.reason}"


def check_git(timeout: float) -> Check:
    """git is installed (the workspace clones and pushes with it); shows its version."""
    version, problem = _version("git", timeout)
    if problem:
        return fail("git", problem, "install git (`apt-get install git`) and make sure it is on the worker's PATH")
    return ok("git", version)


def check_redis_server(timeout: float, redis_answers: bool) -> Check:
    """The redis-server binary and its version; without it, only a warning when a Redis answers anyway."""
    version, problem = _version("redis-server", timeout)
    if not problem:
        return ok("redis-server", version)
    fix = "install Redis (`apt-get install redis-server`) if it is to run on this machine"
    if redis_answers:
        return warn("redis-server", f"{problem}; Redis answers from elsewhere, so this only matters to run it here",
                    fix)
    return fail("redis-server", problem, fix)


def _version(binary: str, timeout: float) -> tuple[str, str]:
    """(`binary --version`'s first line, "") or ("", what went wrong)."""
    path = shutil.which(binary)
    if path is None:
        return "", f"{binary} is not installed (not found on PATH)"
    try:
        answer = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "", f"`{binary} --version` failed: {exc}"
    if answer.returncode != 0:
        why = (answer.stderr.strip().splitlines() or ["no output"])[-1]
        return "", f"`{binary} --version` exited with {answer.returncode}: {why[:200]}"
    return (answer.stdout.strip().splitlines() or [f"{binary} (no version)"])[0], ""
