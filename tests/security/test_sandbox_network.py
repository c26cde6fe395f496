"""The setup phase's network: the internet, and nothing private, link-local, loopback or of the host itself.

Each test builds its own test host: a network namespace joined to this machine by a veth
pair, with a private address (10.213.N.2), the cloud metadata address 169.254.169.254 and a
public-looking documentation address (203.0.113.10, TEST-NET-3) routed to it, and a TCP
service that logs every connection it accepts. This machine's side of the pair gets a private
address and a public-looking one of its own (203.0.113.77), where a service of the host
listens. Every address is first reached from the host itself (the control: the test cannot
pass because nothing answers), then from a setup-phase command in the real bubblewrap sandbox.
No packet goes anywhere but 127.0.0.0/8 and this test host.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.runs.model import State
from bot.sandboxes import BubblewrapBackend
from bot.sandboxes.base import Limits
from tests.greeting import greeting_service
from tests.integration import test_implement as scripted
from tests.world import APPROVE, FIX, World

LIMITS = Limits(timeout=30, kill_grace=0.3)
PORT = 8080
HOST_PUBLIC = "203.0.113.77"  # the host's own public-looking address
INTERNET = "203.0.113.10"  # a public-looking address of the test host
METADATA = "169.254.169.254"
LISTENER = textwrap.dedent("""
    import socket, sys
    server = socket.create_server(("0.0.0.0", int(sys.argv[1])))
    with open(sys.argv[2], "a", buffering=1) as log:
        while True:
            conn, _ = server.accept()
            log.write(f"ACCEPT {conn.getsockname()[0]}\\n")
            conn.sendall(b"test-host-greeting\\n")
            conn.close()
""")


@dataclass
class OwnTestHost:
    """A host of the test's own, in its own network namespace, and the addresses that lead to it."""

    private: str
    host_side: str
    log: Path

    def accepted(self) -> list[str]:
        """The local address of every connection the test host accepted."""
        return [line.split()[1] for line in self.log.read_text().splitlines() if line.startswith("ACCEPT")]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def test_host(tmp_path: Path) -> Iterator[OwnTestHost]:
    """The test host (see the module docstring); everything is removed in the end."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("a test host needs root and iproute2's `ip`")
    tag = uuid.uuid4().hex[:6]
    netns, outer, inner = f"issuesmith-h2-{tag}", f"ism{tag}h", f"ism{tag}t"
    subnet = f"10.213.{random.randrange(256)}"
    host_side, private = f"{subnet}.1", f"{subnet}.2"
    log = tmp_path / "accepted.log"
    log.touch()
    listener: subprocess.Popen[bytes] | None = None
    try:
        ip("netns", "add", netns)
        ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        ip("link", "set", inner, "netns", netns)
        ip("addr", "add", f"{host_side}/30", "dev", outer)
        ip("addr", "add", f"{HOST_PUBLIC}/32", "dev", outer)
        ip("link", "set", outer, "up")
        for address in (f"{private}/30", f"{METADATA}/32", f"{INTERNET}/32"):
            ip("-n", netns, "addr", "add", address, "dev", inner)
        ip("-n", netns, "link", "set", inner, "up")
        ip("-n", netns, "link", "set", "lo", "up")
        ip("-n", netns, "route", "add", "default", "via", host_side)
        ip("route", "add", f"{METADATA}/32", "via", private)
        ip("route", "add", f"{INTERNET}/32", "via", private)
        listener = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", LISTENER, str(PORT),
                                     str(log)])
        wait_for(lambda: connect(private, PORT).startswith("CONNECTED"))
        log.write_text("")
        yield OwnTestHost(private, host_side, log)
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        for route in (METADATA, INTERNET):
            subprocess.run(["ip", "route", "del", f"{route}/32", "via", private], capture_output=True)
        subprocess.run(["ip", "link", "del", outer], capture_output=True)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)


def connect(host: str, port: int) -> str:
    """CONNECTED and the greeting, or FAILED and why: from the host itself."""
    try:
        with socket.create_connection((host, port), timeout=3) as conn:
            return f"CONNECTED {conn.recv(100)!r}"
    except OSError as exc:
        return f"FAILED {exc}"


def wait_for(ready: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    raise AssertionError("the test host did not come up")


def probe_script(targets: list[tuple[str, int]]) -> str:
    """A setup command that tries each target and prints `host:port CONNECTED ...` or `host:port FAILED ...`."""
    pairs = repr(targets)
    return ("python - <<'EOF'\nimport socket\n"
            f"for host, port in {pairs}:\n"
            "    try:\n"
            "        with socket.create_connection((host, port), timeout=3) as s:\n"
            "            print(f'{host}:{port} CONNECTED', s.recv(100))\n"
            "    except OSError as e:\n"
            "        print(f'{host}:{port} FAILED', e)\n"
            "EOF")


def answers(output: str) -> dict[str, str]:
    return {line.split()[0]: line for line in output.splitlines() if " CONNECTED" in line or " FAILED" in line}


def redis_ping(host: str, port: int = 6379) -> str:
    try:
        with socket.create_connection((host, port), timeout=3) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(100).decode(errors="replace")
    except OSError as exc:
        return f"FAILED {exc}"


# --- the network matrix ---------------------------------------------------------------------------------------------

def test_setup_phase_reaches_the_internet_but_no_private_metadata_or_host_address(
        bwrap: BubblewrapBackend, test_host: OwnTestHost, tmp_path: Path) -> None:
    tree = tmp_path / "repo"
    tree.mkdir()
    with greeting_service("0.0.0.0") as host_port:  # the host itself, on all its addresses
        denied = [(test_host.private, PORT), (METADATA, PORT), (test_host.host_side, host_port),
                  (HOST_PUBLIC, host_port), ("10.0.2.2", 6379), ("127.0.0.1", 6379)]
        # control: from the host, every one of them answers (Redis on 127.0.0.1 included)
        for host, port in [(INTERNET, PORT), *denied[:-2]]:
            assert connect(host, port).startswith("CONNECTED"), (host, port)
        assert redis_ping("127.0.0.1").startswith("+PONG")
        control = len(test_host.accepted())

        result = bwrap.run(probe_script([(INTERNET, PORT), *denied]), tree, LIMITS, network=True)

    seen = answers(result.output)
    assert len(seen) == 7, result.output
    assert "CONNECTED" in seen[f"{INTERNET}:{PORT}"] and "test-host-greeting" in seen[f"{INTERNET}:{PORT}"]
    for host, port in denied:
        assert "FAILED" in seen[f"{host}:{port}"], seen
    for host, port in denied[:-1]:  # refused by the filter at once (127.0.0.1 is the sandbox's own loopback)
        assert "No route to host" in seen[f"{host}:{port}"], seen
    assert test_host.accepted()[control:] == [INTERNET]  # the test host saw only the public-looking connection
    assert any("private, loopback, link-local and the host's own addresses rejected" in n for n in result.notes)


def test_the_sandboxed_command_cannot_undo_the_filter(bwrap: BubblewrapBackend, test_host: OwnTestHost,
                                                      tmp_path: Path) -> None:
    tree = tmp_path / "repo"
    tree.mkdir()
    nft = shutil.which("nft") or "/usr/sbin/nft"
    ip_tool = shutil.which("ip") or "/usr/sbin/ip"
    attempts = [f"{nft} flush ruleset", f"{nft} delete table inet issuesmith_egress",
                f"{ip_tool} route add {test_host.private}/32 dev tap0", f"{ip_tool} link set tap0 down",
                "unshare -rn true",  # a user namespace of its own would hold no rights here anyway
                "python -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)'"]
    tamper = "".join(f"{attempt} >/dev/null 2>&1; echo TAMPER $?\n" for attempt in attempts)
    result = bwrap.run(tamper + probe_script([(test_host.private, PORT), (METADATA, PORT)]), tree, LIMITS,
                       network=True)
    codes = [line.split()[1] for line in result.output.splitlines() if line.startswith("TAMPER")]
    assert len(codes) == len(attempts) and "0" not in codes, result.output  # every attempt was refused
    seen = answers(result.output)
    assert "No route to host" in seen[f"{test_host.private}:{PORT}"], result.output
    assert "No route to host" in seen[f"{METADATA}:{PORT}"], result.output
    assert test_host.accepted() == []


def test_setup_phase_refuses_to_run_unfiltered(bwrap: BubblewrapBackend, tmp_path: Path) -> None:
    tree = tmp_path / "repo"
    tree.mkdir()
    marker = tree / "ran"
    backend = BubblewrapBackend(uid=bwrap.uid, gid=bwrap.gid, nft="/nonexistent/nft")
    with pytest.raises(OSError, match=r"network filter needs /nonexistent/nft.*never runs with an unfiltered network"):
        backend.run(f"touch {marker}", tree, LIMITS, network=True)
    assert not marker.exists()
    assert "SETUP PHASE REFUSED HERE" in backend.probe().reason  # doctor shows the probe's reason
    assert backend.run("true", tree, LIMITS).exit_code == 0  # the test phase needs no network


# --- the worker's virtualenv ----------------------------------------------------------------------------------------

@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="the worker does not run in a virtualenv here")
def test_setup_phase_sees_no_virtualenv_but_the_test_phase_keeps_its_pytest(bwrap: BubblewrapBackend,
                                                                            tmp_path: Path) -> None:
    tree = tmp_path / "repo"
    tree.mkdir()
    look = (f"echo PATH=$PATH; ls {sys.prefix}/bin/python 2>&1; command -v python; "
            "python -c 'import rq, redis' 2>&1 | tail -1; python -m pytest --version 2>&1 | tail -1")
    setup = bwrap.run(look, tree, LIMITS, network=True)
    path = next(line for line in setup.output.splitlines() if line.startswith("PATH="))
    assert sys.prefix not in path  # first what the setup phase installs in HOME, then the base interpreter
    assert path.split("=", 1)[1].split(":")[:2] == ["/tmp/home/.local/bin", os.path.join(sys.base_prefix, "bin")]
    assert "No such file or directory" in setup.output and "No module named 'rq'" in setup.output
    assert f"{sys.base_prefix}/bin/python" in setup.output
    tests = bwrap.run(look, tree, LIMITS)
    assert f"{sys.prefix}/bin/python" in tests.output and "pytest" in tests.output.splitlines()[-1]
    assert "No module named" not in tests.output


# --- end to end: what the maintainer sees ---------------------------------------------------------------------------

def test_a_hostile_setup_command_cannot_reach_redis_metadata_or_the_host(world: World, test_host: OwnTestHost,
                                                                         bwrap: BubblewrapBackend) -> None:
    """The repository's setup command tries the worker's Redis and metadata, prints what it got, and fails."""
    targets = [("10.0.2.2", 6379), ("127.0.0.1", 6379), (METADATA, PORT), (test_host.private, PORT),
               (test_host.host_side, 6379)]
    world.services.settings.setup_command = probe_script(targets) + "\nexit 3"
    scripted.coder(world, FIX)
    scripted.reviewer(world, APPROVE)
    scripted.tester(world)
    world.plan_and_approve()

    run = world.run()
    assert run is not None and run.state == State.FAILED and run.failed_step == "test"
    notice = next(c.body for c in world.bot_comments() if "stopped at the **test** step" in c.body)
    assert "exited with 3" in notice
    printed = notice.split("its last lines:")[1]  # what the command printed, after the command itself
    for host, port in targets:
        assert f"{host}:{port} FAILED" in printed, notice
    assert "CONNECTED" not in printed and "PONG" not in printed
    assert test_host.accepted() == []
