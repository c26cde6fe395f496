"""The setup phase's rule set (bot.sandboxes.egress) and the disk measurement (bot.sandboxes.diskquota), in pieces."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from bot.sandboxes import egress
from bot.sandboxes.diskquota import DiskWatch, human, measure

FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
     +-- 198.51.100.0/24 2 0 2
           |-- 198.51.100.0
              /24 link UNICAST
           |-- 198.51.100.7
              /32 host LOCAL
        |-- 198.51.100.255
           /32 link BROADCAST
"""
IF_INET6 = ("20010db8000000000000000000000007 02 40 00 80     eth0\n"
            "00000000000000000000000000000001 01 80 10 80       lo\n")


def test_host_addresses_are_the_local_and_broadcast_routes_and_every_ipv6_address(tmp_path: Path) -> None:
    (tmp_path / "fib_trie").write_text(FIB_TRIE)
    (tmp_path / "if_inet6").write_text(IF_INET6)
    found = egress.host_addresses(tmp_path / "fib_trie", tmp_path / "if_inet6")
    assert set(found.v4) == {"127.0.0.0/8", "127.0.0.1/32", "198.51.100.7/32", "198.51.100.255/32"}
    assert "198.51.100.0/24" not in found.v4  # a neighbour on the link is not the host
    assert set(found.v6) == {"2001:db8::7/128", "::1/128"}


def test_this_hosts_addresses_are_found() -> None:
    if shutil.which("ip") is None:
        pytest.skip("iproute2's `ip` is not installed")
    shown = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    listed = {line.split()[3].split("/")[0] for line in shown.splitlines()}
    found = egress.host_addresses()
    covered = [ipaddress.ip_network(net) for net in (*found.v4, *found.v6)]
    for address in listed:
        assert any(ipaddress.ip_address(address) in net for net in covered), address


def denied(script: str, address: str) -> bool:
    """Whether `address` falls in a denied set of the rendered rule set."""
    sets = [line.split("elements = {")[1].split("}")[0] for line in script.splitlines() if "elements" in line]
    networks = [ipaddress.ip_network(item.strip()) for chunk in sets for item in chunk.split(",")]
    ip = ipaddress.ip_address(address)
    return any(ip.version == net.version and ip in net for net in networks)


def test_ruleset_denies_private_local_and_host_addresses_but_not_the_internet() -> None:
    script = egress.ruleset(egress.HostAddresses(("198.51.100.7/32",), ("2001:db8::7/128",)))
    for address in ("10.1.2.3", "172.18.0.2", "192.168.1.1", "169.254.169.254", "100.64.0.1", "127.0.0.1",
                    "0.0.0.0", "224.0.0.1", "255.255.255.255", "198.51.100.7", "10.0.2.2", "::1", "fd00::1",
                    "fe80::1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2001:db8::7"):
        assert denied(script, address), address
    for address in ("203.0.113.10", "1.1.1.1", "151.101.0.223", "2606:4700::1111"):
        assert not denied(script, address), address
    assert "ip daddr 10.0.2.3 meta l4proto { tcp, udp } th dport 53 accept" in script  # DNS through slirp
    assert script.index("th dport 53 accept") < script.index("@denied_v4 reject")


def test_ruleset_is_accepted_by_nft() -> None:
    if os.geteuid() != 0 or shutil.which("nft", path=egress.SYSTEM_PATH) is None or not shutil.which("unshare"):
        pytest.skip("checking a rule set needs root, nft and unshare")
    script = egress.ruleset(egress.host_addresses())
    checked = subprocess.run(["unshare", "--net", "nft", "-c", "-f", "-"], input=script, capture_output=True,
                             text=True, env={"PATH": egress.SYSTEM_PATH})
    assert checked.returncode == 0, checked.stderr


def test_the_filter_is_refused_without_its_tools() -> None:
    assert "needs /nonexistent/nft" in egress.problem("/nonexistent/nft")
    with pytest.raises(OSError, match="never runs with an unfiltered network"):
        egress.apply(0, nft="/nonexistent/nft")


def test_measure_counts_blocks_once_per_inode_and_follows_no_link(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "deep").mkdir(parents=True)
    (tree / "deep" / "data").write_bytes(os.urandom(1024 * 1024))
    os.link(tree / "deep" / "data", tree / "hard")
    (tree / "to-usr").symlink_to("/usr")
    (tree / ".git").mkdir()
    (tree / ".git" / "pack").write_bytes(os.urandom(2 * 1024 * 1024))
    (tree / "sparse").open("wb").truncate(10 * 1024**3)
    usage = measure([tree], skip=[tree / ".git"])
    assert 1024 * 1024 <= usage.bytes < 1024 * 1024 + 64 * 1024  # one copy of data; no /usr, .git or holes
    assert usage.entries == 5
    assert measure([tree]).bytes >= 3 * 1024 * 1024  # .git counts when not skipped


def test_watch_spaces_its_walks_by_their_cost(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 10_000)
    watch = DiskWatch([tmp_path], limit=1, min_interval=5.0)
    assert watch.due(0.0) and watch.over() and watch.exceeded
    assert watch.next_walk >= time.monotonic() + 4 and not watch.due(watch.next_walk - 0.1)
    assert "over the quota of 1 bytes (ISSUESMITH_DISK_BYTES)" in watch.message()
    assert (human(812), human(50 * 1024**2), human(int(1.5 * 1024**3))) == ("812 bytes", "50.0 MiB", "1.5 GiB")
