"""Candidates and the Tester against a hostile repository: its code cannot reach their spare clones.

Each Coder attempt edits a spare clone of the repository (`Workspace.spare`) on which the worker runs git
(`add`, `diff`) as root; only the job's own work tree is lent to the sandbox. A hostile test command, run
by the attempts' `run_tests` and their judging runs while both spare clones exist, tries to plant in every
spare clone it can find what would make that git run a command (every configuration key that runs one,
hooks, attributes naming the drivers) and plants the same in the job's tree. Real worker pieces, the real
bubblewrap sandbox; every payload writes a marker into a folder any user of the host may write.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.runs.model import State
from standins.openai import Reply
from tests.integration.test_coder_tests import FINISH, run_tests
from tests.integration.test_reproduction import approved_with_the_testers_reply_held
from tests.security.test_hostile_git import EXECUTING_KEYS, HOOKS, markers, push_hostile_commit, require_bubblewrap
from tests.world import APPROVE, CODER, FIX, REPO, REVIEWER, TESTER, World, make_world

__all__ = ["markers"]  # the fixture, shared with the hostile-git tests

PLANT_IN_SPARES = r"""#!/bin/sh
# What a hostile test run tries on the other attempts' trees, and leaves in its own.
M={markers}
plant() {{  # plant <work tree> <name>
  for key in {keys}; do
    git --git-dir="$1/.git" config "$key" "sh -c 'id > $M/$2-$key' #" 2>/dev/null
  done
  mkdir -p "$1/.git/hooks" 2>/dev/null
  for hook in {hooks}; do
    printf '#!/bin/sh\nid > %s/%s-hook-%s\n' "$M" "$2" "$hook" > "$1/.git/hooks/$hook" 2>/dev/null
    chmod +x "$1/.git/hooks/$hook" 2>/dev/null
  done
  printf '* filter=evil diff=evil\n' > "$1/textstats/.gitattributes" 2>/dev/null
}}
found=0
for tree in {spares}/*; do
  [ -d "$tree/.git" ] && found=$((found + 1)) && plant "$tree" spare
done
plant . own
if [ "$found" -gt 0 ]; then echo "spare trees reachable: $found"; exit 1; fi  # the tests fail: the PR shows it
exit 0
"""


@pytest.fixture
def two_candidates(tmp_path: Path, redis_url: str, app_keys: tuple[str, str]) -> Iterator[World]:
    yield from _world(tmp_path, redis_url, app_keys, reproduce=False)


def _world(tmp_path: Path, redis_url: str, app_keys: tuple[str, str], reproduce: bool) -> Iterator[World]:
    w = make_world(tmp_path, redis_url, app_keys, reproduce=reproduce)
    try:
        yield w
    finally:
        w.close()


def test_a_hostile_test_run_reaches_no_spare_clone_and_nothing_it_plants_runs(two_candidates: World,
                                                                               markers: Path) -> None:
    world = two_candidates
    require_bubblewrap(world)
    spares = world.root / "work" / "spare" / REPO
    plant = PLANT_IN_SPARES.format(markers=markers, keys=" ".join(EXECUTING_KEYS), hooks=" ".join(HOOKS),
                                   spares=spares)
    push_hostile_commit(world.github, {"tools/plant.sh": plant, ".github/issuesmith.yml": (
        "candidates: 2\ntest_command: sh tools/plant.sh && python -m pytest -q\n")})
    for n in (1, 2):  # each attempt edits, runs the tests (the plant first) and finishes: git runs on its clone
        world.openai.script(Reply.tool_calls([FIX, run_tests("")]), Reply.tool_calls([FINISH]),
                            match=(CODER, f"attempt {n} of 2"))
    world.openai.script(Reply.json(APPROVE), match=REVIEWER)
    world.openai.script(Reply.json({"summary": "Already covered.", "tests_added": []}), match=TESTER)
    world.plan_and_approve()

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN, world.services.store.entries(run.id)[-5:]
    [pull] = world.github.pulls(REPO)
    assert not pull.draft and "3 passed, 0 failed" in pull.body  # the plant found no spare clone, and the tests ran
    ran = sorted(os.listdir(markers))
    assert ran == [], f"planted commands ran on the worker: {ran}"
    assert not spares.exists() or not any(spares.iterdir())  # every spare clone is gone with its attempt


HOSTILE_CONFTEST = """import subprocess

# Every pytest run of this repository (the base run, the reproduction's) first looks for spare clones to plant in.
if subprocess.run(["sh", "tools/plant.sh"]).returncode != 0:
    raise SystemExit("spare trees reachable")
"""


@pytest.fixture
def reproducing(tmp_path: Path, redis_url: str, app_keys: tuple[str, str]) -> Iterator[World]:
    yield from _world(tmp_path, redis_url, app_keys, reproduce=True)


def test_the_setup_command_and_base_run_made_while_the_tester_writes_reach_not_its_spare_clone(
        reproducing: World, markers: Path) -> None:
    """The Tester writes its reproduction in a spare clone while the setup command and the base run (the
    repository's code: the setup command, and a conftest.py) run on the job's tree; its first reply is held
    until the base run is made, so both ran while the spare clone existed."""
    world = reproducing
    require_bubblewrap(world)
    spares = world.root / "work" / "spare" / REPO
    plant = PLANT_IN_SPARES.format(markers=markers, keys=" ".join(EXECUTING_KEYS), hooks=" ".join(HOOKS),
                                   spares=spares)
    push_hostile_commit(world.github, {"tools/plant.sh": plant, "conftest.py": HOSTILE_CONFTEST})
    world.services.settings.setup_command = "sh tools/plant.sh"  # fails the run if it finds a spare clone
    seen = approved_with_the_testers_reply_held(world)
    assert seen, "the base run was not made while the Tester's spare clone existed"

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN, world.services.store.entries(run.id)[-5:]
    assert [e["event"] for e in world.services.store.entries(run.id) if e["event"] == "reproduced"]  # no run erred
    ran = sorted(os.listdir(markers))
    assert ran == [], f"planted commands ran on the worker: {ran}"
    assert not spares.exists() or not any(spares.iterdir())  # the Tester's spare clone is gone with its phase
