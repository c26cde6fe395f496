"""The end-to-end suite's "busy machine" variant: `ISSUESMITH_TEST_BUSY=1` (`make test-busy`) runs it with
one CPU hog per core, so waits that hold only on an idle machine (on the run's state instead of on what a
person sees) show up as failures here rather than in a clean-clone CI run on a loaded host."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.e2e.processes import Deployment, deploy

HOG = "while True:\n    pass\n"


def hogs_wanted() -> int:
    """How many CPU hogs the session runs beside the tests: one per core when asked for, else none."""
    if os.environ.get("ISSUESMITH_TEST_BUSY", "") not in ("1", "true", "yes"):
        return 0
    return os.cpu_count() or 1


@pytest.fixture(scope="session", autouse=True)
def busy_machine() -> Iterator[int]:
    """Keep every core busy for the whole session when `ISSUESMITH_TEST_BUSY=1`; yields the number of hogs."""
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(hogs_wanted())]
    try:
        yield len(hogs)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The real processes of one test module (`tests.e2e.processes.deploy`)."""
    with deploy(tmp_path_factory.mktemp("e2e")) as running:
        yield running
