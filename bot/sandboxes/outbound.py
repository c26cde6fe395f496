"""Outbound network for a bubblewrap sandbox: the internet, through slirp4netns, and nothing private.

A setup phase (installing dependencies) needs the network. Sharing the host's network
namespace would also hand the command every service listening on the host's 127.0.0.1
(Redis with the queue and the runs, databases, the stand-ins in tests). So the sandbox keeps
a network namespace of its own, and slirp4netns, started by the worker for that namespace,
gives it a user-mode NAT to the outside with `--disable-host-loopback` (10.0.2.2 does not
lead to the host's 127.0.0.1), a DNS forwarder at 10.0.2.3 (the sandbox's /etc/resolv.conf
points there), and `--enable-sandbox --enable-seccomp` for slirp4netns itself.

slirp4netns opens the sandbox's connections from the worker's own namespace, so by itself it
would reach every private network the worker reaches (Redis on a compose network, cloud
metadata, the host's other addresses). `egress` loads an nftables table into the sandbox's
namespace that rejects every private, link-local, loopback and host address (DNS to 10.0.2.3
excepted) before the command starts; the command has no capability to change it. Without
nft the setup phase does not run.

The order: bwrap writes its child's pid to `--info-fd` and waits on `--block-fd` before it
runs anything; the worker opens that child's network namespace by descriptor, loads the
filter into it, and starts slirp4netns on it (`--netns-type=path`: given a pid, slirp4netns
would also join the child's user namespace, which bwrap replaces with a nested one moments
later, and then fail); once slirp4netns reports the interface configured (`--ready-fd`) the
worker unblocks bwrap. slirp4netns ends when the worker closes its `--exit-fd`, or when the
worker dies. When any step fails the sandbox is never unblocked: the run stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bot.sandboxes import egress

RESOLV_CONF = b"nameserver 10.0.2.3\n"
SLIRP = "slirp4netns"
START_SECONDS = 10.0
INSTALL_HINT = "install slirp4netns (scripts/ensure-sandbox as root, or apt-get install slirp4netns)"


def available(slirp: str = SLIRP) -> bool:
    """Whether slirp4netns is installed."""
    return shutil.which(slirp) is not None


def problem(slirp: str = SLIRP, nft: str = egress.NFT) -> str:
    """Why a setup phase cannot have its (filtered) network here, or "" when it can."""
    if not available(slirp):
        return f"the network of a setup phase needs slirp4netns: {INSTALL_HINT}"
    return egress.problem(nft)


class Outbound:
    """The descriptors and the slirp4netns process that give one bwrap sandbox its network.

    Use as a context manager around the run: `bwrap_args()` and `child_fds` go to bwrap,
    `attach()` runs once bwrap has started (supervise's `on_start`).
    """

    def __init__(self, slirp: str = SLIRP, start_seconds: float = START_SECONDS, nft: str = egress.NFT) -> None:
        self.slirp, self.start_seconds, self.nft = slirp, start_seconds, nft
        self._info_r, self._info_w = os.pipe()
        self._block_r, self._block_w = os.pipe()
        self._resolv_r, resolv_w = os.pipe()
        os.write(resolv_w, RESOLV_CONF)
        os.close(resolv_w)
        self._open = {self._info_r, self._info_w, self._block_r, self._block_w, self._resolv_r}
        self._exit_w: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Outbound:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def child_fds(self) -> tuple[int, int, int]:
        """The descriptors bwrap inherits."""
        return self._info_w, self._block_r, self._resolv_r

    def bwrap_args(self) -> list[str]:
        """bwrap options: report the child's pid, wait to be unblocked, and resolve names through slirp4netns."""
        return ["--info-fd", str(self._info_w), "--block-fd", str(self._block_r),
                "--ro-bind-data", str(self._resolv_r), "/etc/resolv.conf"]

    def attach(self) -> None:
        """Filter the started sandbox's network and give it one, then let it run; raises OSError when that fails."""
        for fd in self.child_fds:
            self._close(fd)
        pid = self._child_pid()
        if pid is None:  # bwrap ended before reporting: its own error is in the command's output
            return
        with _netns(pid) as netns_fd:
            egress.apply(netns_fd, nft=self.nft)
            if not _loopback_ready(pid, self.start_seconds):
                return  # bwrap ended before setting up its loopback: its own error is in the command's output
            self._proc = self._start(netns_fd)
        self._close(self._block_w, write=b"1")

    def close(self) -> None:
        """Stop slirp4netns and close every descriptor still open."""
        if self._exit_w is not None:
            self._close(self._exit_w)
        for fd in list(self._open):
            self._close(fd)
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def _child_pid(self) -> int | None:
        """The pid bwrap reports on its info descriptor; None when bwrap ended first."""
        data = b""
        deadline = time.monotonic() + self.start_seconds
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([self._info_r], [], [], left)[0]:
                break
            chunk = os.read(self._info_r, 4096)
            if not chunk:
                return None
            data += chunk
            with contextlib.suppress(ValueError):
                return int(json.loads(data)["child-pid"])
        raise OSError(f"bwrap did not report its sandbox within {self.start_seconds:g}s")

    def _start(self, netns_fd: int) -> subprocess.Popen[bytes]:
        """Start slirp4netns on the namespace and wait until it has configured the interface."""
        ready_r, ready_w = os.pipe()
        exit_r, self._exit_w = os.pipe()
        self._open.add(self._exit_w)
        argv = [self.slirp, "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox",
                "--enable-seccomp", "--netns-type=path", f"--ready-fd={ready_w}", f"--exit-fd={exit_r}",
                f"/proc/self/fd/{netns_fd}", "tap0"]
        with tempfile.TemporaryFile() as errors:
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                                        pass_fds=(ready_w, exit_r, netns_fd), env={"PATH": os.defpath})
            except FileNotFoundError as exc:
                raise OSError(f"the setup phase needs slirp4netns for its network: {INSTALL_HINT}") from exc
            finally:
                os.close(ready_w)
                os.close(exit_r)
            ready = _read_ready(ready_r, self.start_seconds)
            if not ready:
                proc.kill()
                proc.wait()
                errors.seek(0)
                why = errors.read().decode(errors="replace").strip()[-300:]
                raise OSError(f"slirp4netns could not give the sandbox a network: {why or 'no reason given'}")
        return proc

    def _close(self, fd: int, write: bytes = b"") -> None:
        if fd in self._open:
            self._open.discard(fd)
            with contextlib.suppress(OSError):
                if write:
                    os.write(fd, write)
            os.close(fd)


def _loopback_ready(pid: int, seconds: float) -> bool:
    """Wait until bwrap has set up the sandbox's loopback (127.0.0.1 on lo, lo up); False when bwrap ended first.

    bwrap adds 127.0.0.1 to `lo` (RTM_NEWADDR, exclusive) and brings it up after it reports its
    child and before it waits on `--block-fd`; slirp4netns brings `lo` up too, and a `lo` that
    goes up gets 127.0.0.1 from the kernel: started any earlier, slirp4netns made bwrap's own
    address request fail now and then ("bwrap: loopback: Failed RTM_NEWADDR"), more often with
    several sandboxes starting at once. The local route of 127.0.0.1 appears only when both are done.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            table = Path(f"/proc/{pid}/net/fib_trie").read_text()
        except OSError:
            return False
        if "127.0.0.1" in table:
            return True
        time.sleep(0.001)
    raise OSError(f"bwrap did not set up the sandbox's loopback within {seconds:g}s")


@contextlib.contextmanager
def _netns(pid: int) -> Iterator[int]:
    """The network namespace of `pid`, held open by descriptor (so a recycled pid cannot swap it)."""
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def _read_ready(fd: int, seconds: float) -> bool:
    """Whether slirp4netns wrote to its ready descriptor in time."""
    try:
        return bool(select.select([fd], [], [], seconds)[0]) and bool(os.read(fd, 16))
    finally:
        os.close(fd)
