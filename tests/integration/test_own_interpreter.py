"""A project that needs another interpreter than the worker's: the setup phase installs one in HOME, the tests use it.

The documented recipe is `uv python install` in the setup command (README, "A project that needs
another Python"); uv downloads its interpreters from GitHub, which the tests must not need. The
same path is taken offline: the setup phase (with its network, in the real bubblewrap sandbox)
builds a virtualenv from another interpreter of this machine, /usr/bin/python3.X, at `~/.local`
(so its `python3` is in `~/.local/bin`, where uv links the interpreters it installs); the test
phase (no network, a sandbox of its own, the same HOME) runs `python3` by name and must get that
interpreter, not the worker's.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest

from bot.core.walk import remove_tree
from bot.sandboxes import BubblewrapBackend
from bot.sandboxes.base import Limits

LIMITS = Limits(timeout=120, kill_grace=0.3)
OTHER = Path(f"/usr/bin/python3.{sys.version_info.minor}")
SETUP = f"{OTHER} -m venv --without-pip $HOME/.local"  # its python3 lands in ~/.local/bin
TEST = 'python3 -c "import sys; print(\'INTERPRETER\', sys.prefix, sys.base_prefix)"'


@pytest.mark.skipif(not OTHER.is_file() or Path(sys.base_prefix) == OTHER.parent.parent,
                    reason="needs a system interpreter other than the worker's")
def test_an_interpreter_the_setup_phase_installs_in_home_runs_the_tests(tmp_path: Path) -> None:
    backend = BubblewrapBackend()
    probe = backend.probe()
    if not probe.available or "SETUP PHASE REFUSED" in probe.reason:
        pytest.skip(f"no bubblewrap setup phase here: {probe.reason}")
    tree = tmp_path / "tree"
    tree.mkdir()
    home = Path(tempfile.mkdtemp(prefix="issuesmith-home-"))  # as the test step makes it, shared by both phases
    try:
        setup = backend.run(SETUP, tree, LIMITS, network=True, home=home)
        assert setup.exit_code == 0, setup.output
        tests = backend.run(TEST, tree, LIMITS, home=home)
    finally:
        remove_tree(home)
    assert tests.exit_code == 0, tests.output
    assert f"INTERPRETER /tmp/home/.local {OTHER.parent.parent}" in tests.output  # not the worker's
