"""Candidates: independent Coder attempts at one plan, judged by the tests, the most agreed and simplest kept.

With `candidates: N` in `.github/issuesmith.yml` (bounded by the deployment's `ISSUESMITH_MAX_CANDIDATES`),
the code step runs the Coder N times from the same tree (the base commit plus the reproduction tests,
when the Tester found some): the first attempt at the deployment's temperature (0 by default: greedy),
the others sampled at `ISSUESMITH_CANDIDATE_TEMPERATURE`. The attempts run at once, up to
`ISSUESMITH_CANDIDATES_AT_ONCE` (a model server that answers one request at a time gains nothing from
more than 1), each in a spare tree of its own (`bot.workspace.slots.Workspace.spare`), where only the
edit tools write. Their test runs take turns on the job's work tree (`Bench`): the attempt's change is
put there, the sandbox runs the tests, the tree is restored; so the setup command, the base run and
what they built are made once and shared, and no repository code ever runs in a spare tree.

Each attempt gets an equal part of the Coder's test runs and seconds, and of the run's budget left when
the attempts start: N parts and one more kept for the test step after them (`share`); an attempt that
would go beyond its part ends as failed, the others go on.

Code judges each attempt by one run of the whole test command, against the base run. An attempt is
*kept* when it changed something, every reproduction test passes and no test fails that did not fail
on the base (without a test command, every attempt that changed something is kept). Among the kept
ones, `choose` votes: attempts whose normalized diffs are equal (the changed lines without blank lines,
comment lines and whitespace differences) are one answer reached several times; the answer reached most
often wins, then the one with the fewest changed lines, then the earliest. When none is kept, the first
attempt that changed something goes on to the test step (and its fix rounds), and the pull request says
so.

An attempt that fails (the model gives up, repeats itself, answers invalidly, goes beyond its budget) is
recorded; when every attempt failed, the first one's error is the step's. Any other error (a cancel, a
failure of ours) stops every attempt (`Bench.stop`) and is the step's, as always.
"""

from __future__ import annotations

import contextvars
import dataclasses
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.core.errors import AgentGaveUp, AgentStuck, BudgetExceeded, IssuesmithError, ModelOutputInvalid
from bot.models.client import CallContext
from bot.workspace.tree import Tree

ATTEMPT_ERRORS = (AgentGaveUp, AgentStuck, ModelOutputInvalid, BudgetExceeded)
"""What ends one attempt without ending the step (a budget exceeded also ends the attempts after it)."""
Turn = Callable[[list[str]], AbstractContextManager[Any]]
"""Held around one test run of an attempt, given the paths it touched (`Bench.turn`, or `no_turn`)."""
_COMMENT = re.compile(r"^(#|//|/\*|\*|--)")
_AROUND_PUNCTUATION = re.compile(r"\s*([()\[\]{},:;=+\-*/<>.])\s*")


@dataclass
class Attempt:
    """One Coder attempt: its change, and how the tests judged it."""

    index: int  # 1-based
    sampled: bool
    patch: str = ""  # the step's change if chosen: the reproduction tests and the attempt's own change
    change: str = ""  # the attempt's own change (what the vote compares)
    touched: list[str] = field(default_factory=list)
    refused: list[Any] = field(default_factory=list)
    summary: str = ""
    error: str = ""  # why the attempt ended without an answer ("" when it answered)
    tests: str = ""  # what its test run did ("" when none ran)
    kept: bool = False
    why: str = ""  # why it was kept or not
    failure: Exception | None = field(default=None, repr=False, compare=False)  # the error behind `error`

    @property
    def lines(self) -> int:
        """The normalized diff's changed lines (the simpler, the fewer)."""
        return sum(1 for line in normalized(self.change).splitlines() if line[:1] in ("+", "-"))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for the code step's output (without the patch: the chosen one is the step's)."""
        data = asdict(dataclasses.replace(self, failure=None))
        del data["patch"], data["change"], data["refused"], data["failure"]
        return {**data, "lines": self.lines}


def normalized(patch: str) -> str:
    """The patch's meaning for the vote: per file, its changed lines without blank lines, comment lines and
    whitespace differences (runs of blanks as one, none around punctuation): two attempts that differ only
    in those made the same change."""
    out: list[str] = []
    for line in patch.splitlines():
        if line.startswith("+++ "):
            out.append(f"@ {line[4:].strip()}")
        elif line.startswith(("--- ", "diff ", "index ", "@@", "new file", "deleted file", "similarity", "rename ")):
            continue
        elif line[:1] in ("+", "-"):
            text = _AROUND_PUNCTUATION.sub(r"\1", " ".join(line[1:].split()))
            if text and not _COMMENT.match(text):
                out.append(f"{line[0]}{text}")
    return "\n".join(out)


@dataclass(frozen=True)
class Choice:
    """The attempt that goes on, and why."""

    chosen: Attempt | None
    reason: str


def choose(attempts: list[Attempt]) -> Choice:
    """The vote among the kept attempts (see the module); without any, the first attempt with a change."""
    kept = [a for a in attempts if a.kept]
    if not kept:
        fallback = next((a for a in attempts if a.change), None)
        if fallback is None:
            return Choice(None, f"none of the {len(attempts)} attempts changed anything")
        return Choice(fallback, f"no attempt passed the tests; attempt {fallback.index}, the first with a change, "
                                "goes on to the test step's fix rounds")
    votes: dict[str, list[Attempt]] = {}
    for attempt in kept:
        votes.setdefault(normalized(attempt.change), []).append(attempt)
    best = min(votes.values(), key=lambda same: (-len(same), same[0].lines, same[0].index))
    winner = best[0]
    agreed = (f"attempts {', '.join(str(a.index) for a in best)} made the same change"
              if len(best) > 1 else "no two attempts made the same change")
    rest = len(votes) - 1
    simplest = (f"; it is the simplest of the {len(votes)} different changes that passed ({winner.lines} changed "
                "lines)" if rest and len(best) == 1 else "")
    return Choice(winner, f"{len(kept)} of {len(attempts)} attempts passed the tests; {agreed}{simplest}: "
                          f"attempt {winner.index} is used")


def judged_reason(changed: bool, tests_accepted: bool | None, new_failures: int, reproduction: list[bool],
                  what: str) -> tuple[bool, str]:
    """Whether an attempt is kept, and why: it changed something, its reproduction tests pass and no test fails
    that passed on the base (`tests_accepted` None: no test command, nothing to judge by)."""
    if not changed:
        return False, "it changed nothing"
    if tests_accepted is None:
        return True, "there is no test command: judged by the vote only"
    failing = sum(1 for passes in reproduction if not passes)
    if failing:
        return False, f"{failing} of the {len(reproduction)} reproduction tests still fail ({what})"
    if new_failures or not tests_accepted:
        return False, f"the tests fail where the base branch passes ({what})"
    return True, f"the tests pass ({what})" + (", reproduction tests included" if reproduction else "")


def share(spent: tuple[float, int], limit: tuple[float, int], count: int) -> tuple[float, int]:
    """Each of `count` attempts' part of the run's budget left (dollars, tokens): one of `count` + 1 equal parts,
    the last kept for the test step after them."""
    left_usd, left_tokens = max(0.0, limit[0] - spent[0]), max(0, limit[1] - spent[1])
    return left_usd / (count + 1), left_tokens // (count + 1)


def told(index: int, of: int) -> str:
    """What the Coder is told of the candidates ("" for a single attempt)."""
    if of <= 1:
        return ""
    return (f"This is attempt {index} of {of}: {of} independent attempts at this plan are made, the tests judge "
            "each one, and the simplest that passes them is used.")


class AttemptsStopped(IssuesmithError):
    """An attempt ended because another one failed with an error of ours or the run was stopped."""


class Bench:
    """The job's work tree, where the attempts' test runs take turns; and the flag that stops every attempt."""

    def __init__(self, tree: Tree, synced: list[str]) -> None:
        self.tree = tree
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.synced = list(synced)  # the paths whose state the job's tree holds beyond the base

    def check(self) -> None:
        """Raise `AttemptsStopped` once another attempt failed with an error of ours."""
        if self.stop.is_set():
            raise AttemptsStopped("another attempt failed")

    @contextmanager
    def turn(self, spare: Tree, paths: list[str]) -> Iterator[None]:
        """Hold the job's tree with the spare tree's change to `paths` on it (the last holder's taken off)."""
        with self._lock:
            self.check()
            self.tree.restore(spare.patch(paths), list(dict.fromkeys([*self.synced, *paths])))
            self.synced = list(paths)
            yield


def no_turn(paths: list[str]) -> AbstractContextManager[None]:
    """A single attempt works on the job's tree itself: nothing to take turns for."""
    return nullcontext()


def own_call(call: CallContext, index: int, bench: Bench) -> CallContext:
    """An attempt's model-call context: its replies kept apart from the other attempts' (a resumed job gives each
    attempt its own), and stopped once `bench` is."""
    def check() -> None:
        bench.check()
        if call.check is not None:
            call.check()

    return dataclasses.replace(call, memo=f"{call.memo}.c{index}" if call.memo else "", check=check)


def run_all(jobs: Sequence[Callable[[], Attempt]], at_once: int, bench: Bench) -> list[Attempt]:
    """Run the attempts, `at_once` at a time, in the caller's logging context; the first error that is not an
    attempt's own stops the others (through `bench`) and is raised once they ended."""
    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="candidate") as pool:
        futures: list[Future[Attempt]] = [pool.submit(contextvars.copy_context().run, job) for job in jobs]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        if any(f.exception() is not None for f in done):
            bench.stop.set()
        wait(futures)
    failures = [f.exception() for f in futures if f.exception() is not None]
    cause = next((e for e in failures if not isinstance(e, AttemptsStopped)), failures[0] if failures else None)
    if cause is not None:
        raise cause
    return [f.result() for f in futures]


def render(attempts: list[dict[str, Any]], reason: str, stopped: str = "") -> list[str]:
    """The pull request's lines on the candidates: one per attempt, then the choice."""
    rows = []
    for a in attempts:
        how = "sampled" if a.get("sampled") else "greedy"
        if a.get("error"):
            state = f"failed: {a['error']}"
        else:
            state = ("kept" if a.get("kept") else "not kept") + f": {a.get('why', '')}"
        rows.append(f"- Attempt {a['index']} ({how}, {a.get('lines', 0)} changed lines): {state}")
    if stopped:
        rows.append(f"- No further attempt: {stopped}")
    return [*rows, f"\n{reason}"]
