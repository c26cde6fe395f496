"""What a setup phase's network may reach: the internet, and nothing private, local or of the host itself.

slirp4netns (`outbound`) makes the sandbox's connections from the worker's own network
namespace, so without a filter a setup command reaches whatever the worker reaches: Redis on
a compose network, cloud metadata at 169.254.169.254, the host's own services on its public
address. So before bwrap is unblocked, the worker (root in the initial user namespace) loads
an nftables table into the *sandbox's* network namespace (`apply`, through `nsenter
--net=/proc/self/fd/N nft -f -`): its output hook rejects every packet to a denied address,
with "No route to host" rather than a silent drop, so a refused connection fails at once.

Denied: loopback, "this network" 0/8, RFC 1918, CGNAT 100.64/10, link-local 169.254/16
(metadata), IETF 192.0.0/24, benchmarking 198.18/15, multicast and reserved 224/3 (with
broadcast); for IPv6 (slirp4netns gives none, denied anyway) unspecified, loopback,
IPv4-mapped, NAT64, 6to4, discard, ULA fc00::/7, link-local fe80::/10, site-local and
multicast; and every address the host has at run time (`host_addresses`: its local and
broadcast routes in /proc/net/fib_trie, its IPv6 addresses in /proc/net/if_inet6), public
ones included. The only exception is DNS (port 53) to slirp4netns' forwarder 10.0.2.3.
Traffic on the sandbox's own loopback stays inside the sandbox and is allowed.

The sandboxed process cannot change the table: the namespace belongs to the user namespace
bwrap made, bwrap drops every capability before it runs the command and forbids new user
namespaces (`--disable-userns`; a nested user namespace would hold no rights over this
network namespace anyway), and the worker's rules are in place before the command starts.
Where nft or nsenter is missing, `problem()` says so and the setup phase refuses to run
rather than run unfiltered.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

NFT = "nft"
NSENTER = "nsenter"
TABLE = "issuesmith_egress"
DNS_FORWARDER = "10.0.2.3"
APPLY_SECONDS = 10.0
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
INSTALL_HINT = ("install nftables (scripts/ensure-sandbox as root, or apt-get install nftables); util-linux "
                "provides nsenter")
DENIED_V4 = (
    "0.0.0.0/8",        # "this network"
    "10.0.0.0/8",       # RFC 1918 (slirp4netns' own 10.0.2.0/24 too: 10.0.2.2 is the host)
    "100.64.0.0/10",    # carrier-grade NAT
    "127.0.0.0/8",      # loopback
    "169.254.0.0/16",   # link-local, cloud metadata 169.254.169.254
    "172.16.0.0/12",    # RFC 1918 (Docker's networks)
    "192.0.0.0/24",     # IETF protocol assignments
    "192.168.0.0/16",   # RFC 1918
    "198.18.0.0/15",    # benchmarking
    "224.0.0.0/3",      # multicast 224/4, reserved 240/4, broadcast 255.255.255.255
    "168.63.129.16/32",  # Azure's WireServer: a public address every Azure VM reaches the platform through
)
DENIED_V6 = (
    "::/127",           # unspecified and loopback
    "::ffff:0:0/96",    # IPv4-mapped
    "64:ff9b::/96",     # NAT64, which maps to IPv4 (private ones included)
    "64:ff9b:1::/48",   # local-use NAT64
    "100::/64",         # discard
    "2002::/16",        # 6to4, which embeds an IPv4 address
    "fc00::/7",         # unique local
    "fe80::/10",        # link-local
    "fec0::/10",        # site-local (deprecated)
    "ff00::/8",         # multicast
)
_FIB_ENTRY = re.compile(r"\|--\s+(\d+\.\d+\.\d+\.\d+)")
_FIB_ROUTE = re.compile(r"/(\d+)\s+\w+\s+(LOCAL|BROADCAST)\b")


@dataclass(frozen=True)
class HostAddresses:
    """The host's own addresses and networks (CIDR text), as the kernel routes them locally."""

    v4: tuple[str, ...]
    v6: tuple[str, ...]


def problem(nft: str = NFT, nsenter: str = NSENTER) -> str:
    """Why the filter cannot be applied here, or "" when it can."""
    missing = [tool for tool in (nft, nsenter) if _which(tool) is None]
    if missing:
        return (f"the setup phase's network filter needs {' and '.join(missing)}: {INSTALL_HINT}; "
                "a setup command never runs with an unfiltered network")
    return ""


def host_addresses(fib_trie: Path = Path("/proc/net/fib_trie"),
                   if_inet6: Path = Path("/proc/net/if_inet6")) -> HostAddresses:
    """Every address of the host's interfaces now: local and broadcast IPv4 routes, and IPv6 addresses."""
    return HostAddresses(tuple(sorted(_local_v4(_read(fib_trie)))), tuple(sorted(_local_v6(_read(if_inet6)))))


def ruleset(host: HostAddresses) -> str:
    """The nftables script: one table whose output hook rejects denied and host addresses, DNS to slirp excepted."""
    v4 = _collapsed((*DENIED_V4, *host.v4), ipaddress.IPv4Network)
    v6 = _collapsed((*DENIED_V6, *host.v6), ipaddress.IPv6Network)
    return "\n".join([
        f"table inet {TABLE} {{",
        f"  set denied_v4 {{ type ipv4_addr; flags interval; elements = {{ {', '.join(v4)} }}; }}",
        f"  set denied_v6 {{ type ipv6_addr; flags interval; elements = {{ {', '.join(v6)} }}; }}",
        "  chain output {",
        "    type filter hook output priority filter; policy accept;",
        '    oifname "lo" accept',
        f"    ip daddr {DNS_FORWARDER} meta l4proto {{ tcp, udp }} th dport 53 accept",
        "    ip daddr @denied_v4 reject with icmpx type admin-prohibited",
        "    ip6 daddr @denied_v6 reject with icmpx type admin-prohibited",
        "  }",
        "}",
        "",
    ])


def apply(netns_fd: int, *, nft: str = NFT, nsenter: str = NSENTER, host: HostAddresses | None = None) -> None:
    """Load the rule set into the network namespace open at `netns_fd`; raises OSError when it is not in place."""
    why = problem(nft, nsenter)
    if why:
        raise OSError(why)
    script = ruleset(host if host is not None else host_addresses())
    argv = [_which(nsenter) or nsenter, f"--net=/proc/self/fd/{netns_fd}", "--", _which(nft) or nft, "-f", "-"]
    try:
        done = subprocess.run(argv, input=script.encode(), capture_output=True, pass_fds=(netns_fd,),
                              timeout=APPLY_SECONDS, env={"PATH": os.defpath, "LANG": "C.UTF-8"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OSError(f"the setup phase's network filter could not be loaded: {exc}") from exc
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip()[-300:] or f"nft exited with {done.returncode}"
        raise OSError(f"the setup phase's network filter could not be loaded (nftables in the kernel?): {why}; "
                      "the setup command was not run")


def _which(tool: str) -> str | None:
    """`tool` on PATH, or in the system directories a non-login root's PATH may lack (nft is in /usr/sbin)."""
    return shutil.which(tool) or shutil.which(tool, path=SYSTEM_PATH)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _local_v4(fib_trie: str) -> set[str]:
    """The LOCAL and BROADCAST routes of a /proc/net/fib_trie listing, as CIDR text."""
    found: set[str] = set()
    address = ""
    for line in fib_trie.splitlines():
        entry = _FIB_ENTRY.search(line)
        if entry:
            address = entry.group(1)
            continue
        route = _FIB_ROUTE.search(line)
        if route and address:
            found.add(str(ipaddress.IPv4Network(f"{address}/{route.group(1)}", strict=False)))
    return found


def _local_v6(if_inet6: str) -> set[str]:
    """The addresses of a /proc/net/if_inet6 listing, as /128 CIDR text."""
    found: set[str] = set()
    for line in if_inet6.splitlines():
        fields = line.split()
        if fields and len(fields[0]) == 32:
            found.add(f"{ipaddress.IPv6Address(int(fields[0], 16))}/128")
    return found


def _collapsed(networks: Iterable[str], kind: type[ipaddress.IPv4Network] | type[ipaddress.IPv6Network]) -> list[str]:
    """The networks merged (nft refuses overlapping interval elements), as CIDR text."""
    parsed = [kind(network, strict=False) for network in networks]
    return [str(net) for net in ipaddress.collapse_addresses(parsed)]  # type: ignore[type-var]
