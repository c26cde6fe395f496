"""Candidates: independent Coder attempts at one plan, judged by the tests, the most agreed and simplest kept.

With `candidates: N` in `.github/issuesmith.yml` (bounded by the deployment's `ISSUESMITH_MAX_CANDIDATES`),
the code step runs the Coder N times from the same tree (the base commit plus the reproduction tests,
when the Tester found some): the first attempt at the deployment's temperature (0 by default: greedy),
the others sampled at `ISSUESMITH_CANDIDATE_TEMPERATURE`. Each attempt gets an equal share of the
Coder's test runs and seconds. Attempts run one after another on the job's work tree.

Code judges each attempt by one run of the whole test command on its tree, against the base run. An
attempt is *kept* when it changed something, every reproduction test passes and no test fails that did
not fail on the base (without a test command, every attempt that changed something is kept). Among
the kept ones, `choose` votes: attempts whose normalized diffs are equal (the changed lines without
blank lines, comment lines and whitespace differences) are one answer reached several times; the answer
reached most often wins, then the one with the fewest changed lines, then the earliest. When none is
kept, the first attempt that changed something goes on to the test step (and its fix rounds), and the
pull request says so.

An attempt that fails (the model gives up, repeats itself, answers invalidly) is recorded and the next
one runs; when every attempt failed, the first one's error is the step's. A cancel or a failure of ours
stops the step as always. Before each attempt after the first, the run's budget left must cover twice
what the first attempt took (this one, and the test step after it); else no more attempts are made,
and the pull request says why.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.core.errors import AgentGaveUp, AgentStuck, BudgetExceeded, ModelOutputInvalid

ATTEMPT_ERRORS = (AgentGaveUp, AgentStuck, ModelOutputInvalid, BudgetExceeded)
"""What ends one attempt without ending the step (a budget exceeded also ends the attempts after it)."""
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

    @property
    def lines(self) -> int:
        """The normalized diff's changed lines (the simpler, the fewer)."""
        return sum(1 for line in normalized(self.change).splitlines() if line[:1] in ("+", "-"))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for the code step's output (without the patch: the chosen one is the step's)."""
        data = asdict(self)
        del data["patch"], data["change"], data["refused"]
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


def budget_short(spent: tuple[float, int], first: tuple[float, int], limit: tuple[float, int]) -> str:
    """Why no further attempt can start ("" when one can): the budget left (dollars, tokens) below twice what
    the first attempt took."""
    left_usd, left_tokens = limit[0] - spent[0], limit[1] - spent[1]
    if left_usd < 2 * first[0] or left_tokens < 2 * first[1]:
        return (f"the run's budget left (${left_usd:.4f}, {left_tokens:,} tokens) is less than twice what the first "
                f"attempt took (${first[0]:.4f}, {first[1]:,} tokens): one more attempt and the test step after it")
    return ""


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
