"""`issuesmith doctor` against the GitHub and model stand-ins over HTTP, Redis servers of its own, and this machine.

One run where everything is in order (exit 0, every line ✓), then each failure on its own:
broken settings, a key of another app, Redis down or without persistence, GitHub unreachable,
an app installed nowhere, the model endpoint down or without the model, no sandbox backend,
git or redis-server missing from PATH. The report is checked line by line, with the exit code.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from bot.cli.doctor import main
from bot.runs import tallies
from bot.runs.model import Run, State
from bot.runs.store import RunStore
from bot.sandboxes.choice import ISOLATING, probe_all
from standins.github import FakeGitHub, generate_app_key
from standins.openai import LLAMA_CPP_PYTHON_REFUSAL, FakeOpenAI, Reply
from standins.server import ServerThread
from tests.world import APP_ID, INSTALLATION, MODEL_KEY, WEBHOOK_SECRET, contract_problems

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")

ALL_CHECKS = ["settings", "webhook secret", "GitHub App key", "GitHub API", "installations", "Redis",
              "Redis persistence", "model", "model price", "sandbox", "git", "redis-server"]
DB = 10  # the database number this module's Redis URLs name (other suites use 15/14/12/11)


def free_port() -> int:
    """A loopback port nothing listens on (bound for a moment, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnRedis:
    """A redis-server of this test's own (so its persistence settings can be chosen), stopped at the end."""

    def __init__(self, root: Path, *options: str) -> None:
        self.port = free_port()
        root.mkdir(parents=True, exist_ok=True)
        self.url = f"redis://127.0.0.1:{self.port}/{DB}"
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(root), *options],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        """Stop this server (only the process this test started)."""
        self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


PERSISTENT = ("--appendonly", "yes", "--save", "")
VOLATILE = ("--appendonly", "no", "--save", "")


@dataclass
class Stage:
    """Stand-ins, a Redis, a key file and the environment doctor reads; `doctor()` runs it in-process."""

    root: Path
    monkeypatch: pytest.MonkeyPatch
    github: FakeGitHub
    model: FakeOpenAI
    redis: OwnRedis
    servers: list[ServerThread]
    secrets: list[str]
    extra_github: list[FakeGitHub] = field(default_factory=list)
    undeclared: set[str] = field(default_factory=set)  # contract problems a test expects, with its reason

    def set(self, **values: str | None) -> None:
        """Set (or, with None, unset) environment variables for the doctor."""
        for name, value in values.items():
            if value is None:
                self.monkeypatch.delenv(name, raising=False)
            else:
                self.monkeypatch.setenv(name, value)

    def doctor(self, *argv: str) -> tuple[int, str]:
        """Run `issuesmith doctor` and return its exit code and what it printed."""
        out = io.StringIO()
        code = main(["--timeout", "3", *argv], out=out)
        return code, out.getvalue()

    def path_with(self, *binaries: str) -> None:
        """Make PATH a directory holding only these binaries (those that exist here)."""
        bin_dir = self.root / f"bin-{len(list(self.root.glob('bin-*')))}"
        bin_dir.mkdir()
        for name in binaries:
            found = shutil.which(name)
            if found:
                (bin_dir / name).symlink_to(found)
        self.set(PATH=str(bin_dir))

    def contract_problems(self) -> list[str]:
        """Exchanges with the stand-ins that break the published API descriptions."""
        problems = contract_problems(self.github, self.model)
        for other in self.extra_github:
            problems += contract_problems(other, FakeOpenAI())
        return problems


def start_github(root: Path, public_key: str, installed: bool) -> tuple[FakeGitHub, ServerThread]:
    """The GitHub stand-in with the app registered and (if `installed`) installed on acme."""
    github = FakeGitHub(root)
    server = ServerThread(github.app).start()
    github.bind(server.url)
    github.add_app(APP_ID, public_key, slug="issuesmith")
    if installed:
        github.add_installation(INSTALLATION, "acme")
    return github, server


@pytest.fixture
def stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_keys: tuple[str, str]) -> Iterator[Stage]:
    """Everything configured correctly; each test breaks one thing."""
    github, gh_server = start_github(tmp_path / "github", app_keys[1], installed=True)
    model = FakeOpenAI(api_key=MODEL_KEY)
    oa_server = ServerThread(model.app).start()
    own_redis = OwnRedis(tmp_path / "redis", *PERSISTENT)
    key_file = tmp_path / "app.pem"
    key_file.write_text(app_keys[0])
    for name in list(os.environ):
        if name.startswith(("ISSUESMITH_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env of the developer's is read
    staged = Stage(tmp_path, monkeypatch, github, model, own_redis, [gh_server, oa_server],
                   [WEBHOOK_SECRET, MODEL_KEY, *(line for line in app_keys[0].splitlines() if "-----" not in line)])
    staged.set(ISSUESMITH_APP_ID=str(APP_ID), ISSUESMITH_PRIVATE_KEY_PATH=str(key_file),
               ISSUESMITH_WEBHOOK_SECRET=WEBHOOK_SECRET, ISSUESMITH_REDIS_URL=own_redis.url,
               ISSUESMITH_GITHUB_API_URL=github.api_url, OPENAI_API_KEY=MODEL_KEY,
               OPENAI_BASE_URL=f"{oa_server.url}/v1", ISSUESMITH_MODEL="gpt-4o-mini")
    try:
        yield staged
        problems = [p for p in staged.contract_problems() if p not in staged.undeclared]
        assert not problems, "exchanges break the published API descriptions:\n" + "\n".join(problems[:20])
    finally:
        own_redis.stop()
        for server in staged.servers:
            server.stop()
        for gh in (github, *staged.extra_github):
            gh.close()


def statuses(out: str) -> dict[str, str]:
    """Each check's name and its mark (✓, ! or ✗), from the report's unindented lines."""
    found: dict[str, str] = {}
    for line in out.splitlines():
        mark, _, rest = line.partition(" ")
        if mark in ("✓", "!", "✗") and ": " in rest:
            found[rest.split(": ", 1)[0]] = mark
    return found


def block(out: str, name: str) -> str:
    """The line of check `name` with the indented lines (notes, fix) below it."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line[2:].startswith(f"{name}: "):
            j = i + 1
            while j < len(lines) and lines[j].startswith("    "):
                j += 1
            return "\n".join(lines[i:j])
    raise AssertionError(f"no line for {name!r} in:\n{out}")


@pytest.fixture(scope="module")
def isolating_here() -> bool:
    """Whether this machine offers an isolating sandbox backend (root + bubblewrap, or a Docker engine)."""
    return any(p.available for p in probe_all() if p.backend in ISOLATING)


# ------------------------------------------------------------------------------------------ all good


def test_all_good_exits_zero_with_every_check_passed(stage: Stage, isolating_here: bool) -> None:
    if not isolating_here:
        pytest.skip("no isolating sandbox backend on this machine, so the sandbox line cannot be ✓")
    code, out = stage.doctor()

    assert code == 0, out
    assert statuses(out) == dict.fromkeys(ALL_CHECKS, "✓"), out
    assert out.splitlines()[-1] == f"all {len(ALL_CHECKS)} checks passed"
    assert f"accepted the JWT of app 'issuesmith' (id {APP_ID})" in block(out, "GitHub API")
    assert f"acme (installation {INSTALLATION}, all repositories)" in block(out, "installations")
    assert f"{stage.redis.url} answers (Redis " in block(out, "Redis")
    assert "append-only file on" in block(out, "Redis persistence")
    assert "model 'gpt-4o-mini' exists" in block(out, "model")
    assert block(out, "git").startswith("✓ git: git version ")
    assert "fix:" not in out
    for secret in stage.secrets:
        assert secret not in out


def test_python_dash_m_runs_the_same_report(stage: Stage) -> None:
    stage.set(ISSUESMITH_MODEL="gpt-nope")
    answer = subprocess.run([sys.executable, "-m", "bot.cli.doctor", "--timeout", "3"], capture_output=True,
                            text=True, timeout=120, check=False, cwd=stage.root,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})

    assert answer.returncode == 1, answer.stdout + answer.stderr
    assert statuses(answer.stdout)["model"] == "✗"
    assert statuses(answer.stdout)["Redis"] == "✓"


# ------------------------------------------------------------------------------------------ settings


def test_malformed_settings_are_lines_and_the_other_checks_still_run(stage: Stage) -> None:
    stage.set(ISSUESMITH_APP_ID="one-oh-one", ISSUESMITH_PRICES='{"gpt-x": [1.0,', ISSUESMITH_MODEL_TIMEOUT="soon")
    code, out = stage.doctor()

    assert code == 1
    marks = statuses(out)
    assert "settings" not in marks  # no ✓ for the settings while some are broken
    app_id = block(out, "setting ISSUESMITH_APP_ID")
    assert app_id.startswith("✗ setting ISSUESMITH_APP_ID: ISSUESMITH_APP_ID: Input should be a valid integer")
    assert "fix: correct ISSUESMITH_APP_ID in the environment" in app_id
    assert block(out, "setting ISSUESMITH_PRICES").startswith("✗ setting ISSUESMITH_PRICES: ISSUESMITH_PRICES is "
                                                              "not valid JSON")
    assert "Input should be a valid number" in block(out, "setting ISSUESMITH_MODEL_TIMEOUT")
    assert "one-oh-one" not in out and "soon" not in out  # values are never echoed
    key = block(out, "GitHub App key")
    assert key.startswith("✗ GitHub App key: cannot be used: ISSUESMITH_APP_ID")
    assert "GitHub API and installations not checked" in key
    assert "GitHub API" not in marks and "installations" not in marks
    assert marks["webhook secret"] == marks["Redis"] == marks["model"] == marks["git"] == "✓"


def test_settings_read_from_the_env_file_named(stage: Stage) -> None:
    env_file = stage.root / "doctor.env"
    env_file.write_text(f"ISSUESMITH_WEBHOOK_SECRET={WEBHOOK_SECRET}\nISSUESMITH_JOB_RETRIES=many\n")
    stage.set(ISSUESMITH_WEBHOOK_SECRET=None)
    code, out = stage.doctor("--env-file", str(env_file))

    assert code == 1
    assert statuses(out)["webhook secret"] == "✓"
    retries = block(out, "setting ISSUESMITH_JOB_RETRIES")
    assert f"fix: correct ISSUESMITH_JOB_RETRIES in the environment or {env_file}" in retries


def test_missing_webhook_secret(stage: Stage) -> None:
    stage.set(ISSUESMITH_WEBHOOK_SECRET=None)
    code, out = stage.doctor()

    assert code == 1
    secret = block(out, "webhook secret")
    assert secret.startswith("✗ webhook secret: ISSUESMITH_WEBHOOK_SECRET is not set")
    assert "fix: generate one (`openssl rand -hex 32`)" in secret
    assert statuses(out)["settings"] == "✓"  # told once, on its own line
    assert statuses(out)["GitHub API"] == "✓"


def test_weak_webhook_secret_is_refused_without_showing_it(stage: Stage) -> None:
    stage.set(ISSUESMITH_WEBHOOK_SECRET="Changeme")
    code, out = stage.doctor()

    assert code == 1
    assert block(out, "webhook secret").startswith("✗ webhook secret: ISSUESMITH_WEBHOOK_SECRET is too weak")
    assert "Changeme" not in out


def test_app_id_not_set(stage: Stage) -> None:
    stage.set(ISSUESMITH_APP_ID=None)
    code, out = stage.doctor()

    assert code == 1
    key = block(out, "GitHub App key")
    assert key.startswith("✗ GitHub App key: ISSUESMITH_APP_ID is not set")
    assert "fix: set ISSUESMITH_APP_ID to the App ID shown on the app's settings page" in key


# ------------------------------------------------------------------------------------------ GitHub


def test_key_of_another_app_is_refused_by_the_api(stage: Stage) -> None:
    other = stage.root / "other.pem"
    other_private = generate_app_key()[0]
    other.write_text(other_private)
    stage.set(ISSUESMITH_PRIVATE_KEY_PATH=str(other))
    code, out = stage.doctor()

    assert code == 1
    assert statuses(out)["GitHub App key"] == "✓"  # it parses; only GitHub can tell it is not the app's
    api = block(out, "GitHub API")
    assert api.startswith(f"✗ GitHub API: GitHub API at {stage.github.api_url} answered 401: the JWT was refused — "
                          f"the private key does not match app id {APP_ID} (GitHub says: A JSON web token could "
                          "not be decoded)")
    assert "fix: download a new private key from the app's settings page" in api
    assert "    installations not checked" in api and "installations" not in statuses(out)
    assert all(line not in out for line in other_private.splitlines()[1:-1])


def test_unknown_app_id(stage: Stage) -> None:
    # GitHub answers a JWT whose issuer is no app with 404 "Integration not found"; the published
    # description of GET /app declares only 200, so that one exchange is expected to be undeclared.
    stage.undeclared.add("apps/get-authenticated (GET /app): status 404: status not declared (declared: 200)")
    stage.set(ISSUESMITH_APP_ID="999")
    code, out = stage.doctor()

    assert code == 1
    assert "answered 404: there is no GitHub App with id 999" in block(out, "GitHub API")


def test_key_file_that_is_not_a_key(stage: Stage) -> None:
    bogus = stage.root / "bogus.pem"
    bogus.write_text("this is the app's client secret, not its private key\n")
    stage.set(ISSUESMITH_PRIVATE_KEY_PATH=str(bogus))
    code, out = stage.doctor()

    assert code == 1
    assert "is not a PEM private key" in block(out, "GitHub App key")
    assert "GitHub API" not in statuses(out)


def test_key_file_missing(stage: Stage) -> None:
    stage.set(ISSUESMITH_PRIVATE_KEY_PATH=str(stage.root / "gone.pem"))
    code, out = stage.doctor()

    assert code == 1
    assert f"names {stage.root / 'gone.pem'}, which cannot be read" in block(out, "GitHub App key")


def test_github_unreachable(stage: Stage) -> None:
    url = f"http://127.0.0.1:{free_port()}/api/v3"
    stage.set(ISSUESMITH_GITHUB_API_URL=url)
    started = time.monotonic()
    code, out = stage.doctor()

    assert code == 1
    api = block(out, "GitHub API")
    assert api.startswith(f"✗ GitHub API: GitHub API at {url} cannot be reached: the connection was refused")
    assert "installations not checked" in api and "fix: check ISSUESMITH_GITHUB_API_URL" in api
    assert time.monotonic() - started < 60


def test_app_installed_nowhere(stage: Stage, app_keys: tuple[str, str]) -> None:
    lonely, server = start_github(stage.root / "lonely", app_keys[1], installed=False)
    stage.extra_github.append(lonely)
    stage.servers.append(server)
    stage.set(ISSUESMITH_GITHUB_API_URL=lonely.api_url)
    code, out = stage.doctor()

    assert code == 1
    assert statuses(out)["GitHub API"] == "✓"
    installs = block(out, "installations")
    assert installs.startswith("✗ installations: app 'issuesmith' is not installed on any account")
    assert "fix: install it from " in installs and "/apps/issuesmith/installations/new" in installs


def test_services_that_accept_but_never_answer_are_timed_out(stage: Stage) -> None:
    with socket.socket() as silent:  # completes TCP handshakes (the backlog) but never reads or writes
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        stage.set(ISSUESMITH_GITHUB_API_URL=f"http://{address}/api/v3", OPENAI_BASE_URL=f"http://{address}/v1",
                  ISSUESMITH_REDIS_URL=f"redis://{address}/{DB}")
        started = time.monotonic()
        out = io.StringIO()
        code = main(["--timeout", "1"], out=out)
        elapsed = time.monotonic() - started

    report = out.getvalue()
    assert code == 1
    assert (f"GitHub API at http://{address}/api/v3 cannot be reached: no answer within 1 s"
            in block(report, "GitHub API"))
    assert f"model endpoint at http://{address}/v1 cannot be reached: no answer within 1 s" in block(report, "model")
    assert f"Redis at redis://{address}/{DB} does not answer: no answer within 1 s" in block(report, "Redis")
    assert elapsed < 30  # the sandbox probe takes a few seconds; the three services about one each


# ------------------------------------------------------------------------------------------ Redis


def test_redis_not_answering(stage: Stage) -> None:
    url = f"redis://127.0.0.1:{free_port()}/{DB}"
    stage.set(ISSUESMITH_REDIS_URL=url)
    code, out = stage.doctor()

    assert code == 1
    line = block(out, "Redis")
    assert line.startswith(f"✗ Redis: Redis at {url} does not answer: the connection was refused")
    assert "persistence not checked" in line and "fix: start Redis" in line
    assert "Redis persistence" not in statuses(out)


def test_redis_password_is_not_shown(stage: Stage) -> None:
    stage.set(ISSUESMITH_REDIS_URL=f"redis://:hunter2-very-secret@127.0.0.1:{free_port()}/{DB}")
    code, out = stage.doctor()

    assert code == 1
    assert "redis://:***@127.0.0.1:" in block(out, "Redis")
    assert "hunter2-very-secret" not in out


def test_redis_without_persistence_is_a_warning(stage: Stage) -> None:
    volatile = OwnRedis(stage.root / "volatile", *VOLATILE)
    try:
        stage.set(ISSUESMITH_REDIS_URL=volatile.url, ISSUESMITH_ALLOW_UNSANDBOXED="1")
        code, out = stage.doctor()
    finally:
        volatile.stop()

    assert code == 0, out  # a warning does not fail
    persistence = block(out, "Redis persistence")
    assert persistence.startswith("! Redis persistence: off (appendonly no, no RDB snapshots)")
    assert "fix: set `appendonly yes` in redis.conf" in persistence
    assert "✗" not in out
    assert ": 0 failed, " in out.splitlines()[-1]


def test_recount_metrics_counts_runs_by_state_again(stage: Stage) -> None:
    client = redis.Redis.from_url(stage.redis.url, decode_responses=True)
    store = RunStore(client)
    for n in range(5):
        store.create(Run(id=f"r{n}", repo="o/r", issue=n, installation_id=1))
    store.transition("r0", State.CANCELLED)
    client.hset(tallies.RUNS_KEY, mapping={"PLANNING": 40, "MERGED": 3})  # counts gone wrong, say from a backup

    _, out = stage.doctor("--recount-metrics")

    assert block(out, "metrics recount").startswith("✓ metrics recount: runs by state and phase histograms "
                                                    "counted again from 5 runs in "), out
    assert tallies.runs_by_state(client) == {**dict.fromkeys(State, 0), State.PLANNING: 4, State.CANCELLED: 1}
    assert "metrics recount" not in statuses(stage.doctor()[1])  # only when asked


def test_redis_with_config_disabled_cannot_be_checked(stage: Stage) -> None:
    locked = OwnRedis(stage.root / "locked", *PERSISTENT, "--rename-command", "CONFIG", "")
    try:
        stage.set(ISSUESMITH_REDIS_URL=locked.url, ISSUESMITH_ALLOW_UNSANDBOXED="1")
        code, out = stage.doctor()
    finally:
        locked.stop()

    assert code == 0, out
    assert block(out, "Redis persistence").startswith("! Redis persistence: could not be checked: CONFIG GET was "
                                                      "refused")
    assert statuses(out)["Redis"] == "✓"


# ------------------------------------------------------------------------------------------ model


def test_model_endpoint_down(stage: Stage) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    stage.set(OPENAI_BASE_URL=url)
    code, out = stage.doctor()

    assert code == 1
    model = block(out, "model")
    assert model.startswith(f"✗ model: the model endpoint at {url} cannot be reached: the connection was refused")
    assert "fix: check OPENAI_BASE_URL" in model


def test_replayed_transcript_instead_of_a_model(stage: Stage) -> None:
    from bot.cli.demo import TRANSCRIPT

    stage.set(ISSUESMITH_MODEL_PROVIDER="replay", ISSUESMITH_REPLAY_TRANSCRIPT=str(TRANSCRIPT))
    code, out = stage.doctor()
    assert block(out, "model").startswith(f"✓ model: replaying {TRANSCRIPT} (replies: coder 4, planner 1, ")
    assert stage.model.exchanges == []  # no endpoint asked

    broken = stage.root / "broken.jsonl"
    broken.write_text('{"agent": "planner", "message": {}}\nnot json\n')
    stage.set(ISSUESMITH_REPLAY_TRANSCRIPT=str(broken))
    code, out = stage.doctor()
    assert code == 1 and "is malformed at line 2" in block(out, "model")


def test_model_that_does_not_exist(stage: Stage) -> None:
    stage.set(ISSUESMITH_MODEL="gpt-nope")
    code, out = stage.doctor()

    assert code == 1
    model = block(out, "model")
    assert model.startswith("✗ model: model 'gpt-nope' does not exist at ")
    assert "(404: The model `gpt-nope` does not exist or you do not have access to it.)" in model
    assert "fix: set ISSUESMITH_MODEL to one of: gpt-4o-mini" in model
    assert [(e.method, e.path, e.status) for e in stage.model.exchanges] == [
        ("GET", "/models/gpt-nope", 404), ("GET", "/models", 200)]


def test_model_key_refused(stage: Stage) -> None:
    stage.set(OPENAI_API_KEY="sk-wrong-key-000000000000000000")
    code, out = stage.doctor()

    assert code == 1
    assert "answered 401: the API key was refused" in block(out, "model")
    assert "sk-wrong-key-000000000000000000" not in out


def test_no_model_configured(stage: Stage) -> None:
    stage.set(OPENAI_API_KEY=None, OPENAI_BASE_URL=None)
    code, out = stage.doctor()

    assert code == 1
    assert block(out, "model").startswith("✗ model: no model endpoint configured: OPENAI_API_KEY is not set")
    assert stage.model.exchanges == []


def test_probe_model_on_a_server_that_does_everything(stage: Stage) -> None:
    stage.model.script(Reply.json({"answer": "yes"}, usage=(40, 5)), Reply.json({"answer": "yes"}, usage=(90, 5)),
                       Reply.tool_calls([("record_answer", {"answer": "yes"})], usage=(120, 12)))
    _, out = stage.doctor("--probe-model")

    marks = statuses(out)
    assert marks["model structured output"] == marks["model tool calls"] == marks["model usage"] == "✓", out
    assert block(out, "model structured output").startswith(
        "✓ model structured output: ISSUESMITH_STRUCTURED_OUTPUT=auto (the default) asks with strict json_schema")
    assert "record_answer({\"answer\": \"yes\"})" in block(out, "model tool calls")
    assert "(prompt+completion: 40+5, 90+5, 120+12)" in block(out, "model usage")
    sent = [r for r in stage.model.requests if "messages" in r]
    assert [r.get("response_format", {}).get("type") for r in sent] == ["json_schema", "json_object", None]
    assert sent[2]["tool_choice"] == "auto" and sent[2]["tools"][0]["function"]["name"] == "record_answer"
    assert stage.model.pending() == 0


def test_probe_model_on_a_server_like_llama_cpp_python(stage: Stage) -> None:
    """json_schema refused with a 500, JSON mode answered, the tool request answered in text."""
    stage.model.refused_formats = dict(LLAMA_CPP_PYTHON_REFUSAL)
    stage.model.script(Reply.json({"answer": "yes"}), Reply.text("message: yes"))
    _, out = stage.doctor("--probe-model")

    structured = block(out, "model structured output")
    assert structured.startswith("✓ model structured output: json_schema is refused, JSON mode is accepted: set "
                                 "ISSUESMITH_STRUCTURED_OUTPUT=json"), out
    assert "json_schema: refused (500: Input should be 'text' or 'json_object')" in structured
    tools = block(out, "model tool calls")
    assert tools.startswith("! model tool calls: the model answered without a tool call (it replied with text: "
                            "'message: yes')"), out
    assert "--chat_format chatml-function-calling" in tools
    assert statuses(out)["model usage"] == "✓"


def test_probe_model_is_not_sent_without_the_flag_nor_to_a_transcript(stage: Stage) -> None:
    from bot.cli.demo import TRANSCRIPT

    _, out = stage.doctor()
    assert "model tool calls" not in statuses(out)
    assert not any(e.path == "/chat/completions" for e in stage.model.exchanges)
    stage.set(ISSUESMITH_MODEL_PROVIDER="replay", ISSUESMITH_REPLAY_TRANSCRIPT=str(TRANSCRIPT))
    _, out = stage.doctor("--probe-model")
    assert block(out, "model capabilities").startswith("! model capabilities: not probed: a transcript is replayed")


# ------------------------------------------------------------------------------------------ machine


def test_no_sandbox_backend_available(stage: Stage) -> None:
    stage.path_with("git", "redis-server")  # neither bwrap nor docker can be found
    code, out = stage.doctor()

    assert code == 1
    sandbox = block(out, "sandbox")
    assert sandbox.startswith("✗ sandbox: no isolating backend works here")
    assert "    bubblewrap: not available: bubblewrap is not installed" in sandbox
    assert "    docker: not available: no `docker` client is installed" in sandbox
    assert "fix: Install bubblewrap" in sandbox and "ISSUESMITH_ALLOW_UNSANDBOXED=1" in sandbox
    assert statuses(out)["git"] == "✓"


def test_unsandboxed_when_allowed_is_a_warning(stage: Stage) -> None:
    stage.path_with("git", "redis-server")
    stage.set(ISSUESMITH_ALLOW_UNSANDBOXED="1")
    code, out = stage.doctor()

    assert code == 0, out
    assert block(out, "sandbox").startswith("! sandbox: unsandboxed: commands from the repositories run with NO "
                                            "isolation")


def test_named_backend_that_does_not_work(stage: Stage) -> None:
    stage.path_with("git", "redis-server", "bwrap", "setpriv")
    stage.set(ISSUESMITH_SANDBOX="docker")
    code, out = stage.doctor()

    assert code == 1
    sandbox = block(out, "sandbox")
    assert sandbox.startswith("✗ sandbox: docker does not work here")
    assert "docker: not available: no `docker` client is installed" in sandbox


def test_git_missing(stage: Stage) -> None:
    stage.path_with("redis-server", "bwrap", "setpriv", "docker")
    code, out = stage.doctor()

    assert code == 1
    git = block(out, "git")
    assert git == ("✗ git: git is not installed (not found on PATH)\n"
                   "    fix: install git (`apt-get install git`) and make sure it is on the worker's PATH")


def test_redis_server_missing_is_a_warning_while_redis_answers(stage: Stage) -> None:
    stage.path_with("git")
    stage.set(ISSUESMITH_ALLOW_UNSANDBOXED="1")
    code, out = stage.doctor()

    assert code == 0, out
    assert block(out, "redis-server").startswith("! redis-server: redis-server is not installed (not found on PATH); "
                                                 "Redis answers from elsewhere")


def test_redis_server_missing_and_redis_down_fails(stage: Stage) -> None:
    stage.path_with("git")
    stage.set(ISSUESMITH_REDIS_URL=f"redis://127.0.0.1:{free_port()}/{DB}")
    code, out = stage.doctor()

    assert code == 1
    assert block(out, "redis-server").startswith("✗ redis-server: redis-server is not installed")
