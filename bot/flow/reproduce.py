"""The reproduction phase: before the Coder, the Tester writes a test that must fail on the base tree.

Only the Tester's test files are in the tree (the base commit plus them); code runs exactly those
files (the test command narrowed to them, as `run_tests` narrows it: a plain pytest command only)
in the sandbox, after the setup command, and judges the run (`bot.sandboxes.reproduction`). A test
that also fails in the base run (the whole command on the base tree, without the Tester's files: an
existing test of a file the Tester edited, failing for the environment or an older bug) is no
reproduction: it stays "already failing", and a run whose only failures are such tests is rejected. A run
that is no reproduction goes back to the Tester with the reason and the output's end, at most
`ISSUESMITH_REPRODUCE_ATTEMPTS` tries; then the phase is skipped with the reason logged (the
tests written are thrown away) and the run goes on as without it. `ISSUESMITH_REPRODUCE=0`
switches the phase off; without a test command, or with one that cannot be narrowed, it is skipped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.agents import tester
from bot.agents.tools import EditSession
from bot.flow.pipeline import StepContext
from bot.sandboxes.reproduction import rejection, reproducing
from bot.sandboxes.selector import SelectorError, narrowing
from bot.sandboxes.testresults import TestReport, is_plain_pytest
from bot.workspace.tree import Tree

if TYPE_CHECKING:
    from bot.flow.implement import Implementation

TAIL_LINES = 30


@dataclass(frozen=True)
class Reproduction:
    """The tests that reproduce the issue: their ids as reports name them, as the runner takes them, their files."""

    tests: tuple[str, ...]
    shown: tuple[str, ...]
    paths: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for the code step's output."""
        return {"tests": list(self.tests), "shown": list(self.shown), "paths": list(self.paths)}

    @classmethod
    def from_dict(cls, data: Any) -> Reproduction | None:
        """The reproduction `to_dict` stored, or None (none was found, or a run recorded before the phase)."""
        if not isinstance(data, dict) or not data.get("tests"):
            return None
        return cls(tuple(data["tests"]), tuple(data["shown"]), tuple(data["paths"]))


def skip_reason(impl: Implementation) -> str:
    """Why the phase does not run for this job ("" when it does)."""
    command = impl.brief.test_command
    if not impl.services.settings.reproduce:
        return "switched off (ISSUESMITH_REPRODUCE=0)"
    if not command:
        return "no test command"
    if not is_plain_pytest(command):
        return f"the test command `{command}` cannot be narrowed to the new tests (a plain pytest command only)"
    return ""


def reproduce(impl: Implementation, ctx: StepContext) -> Reproduction | None:
    """Run the phase (see the module); the reproduction, or None with the reason logged (`reproduction_skipped`).

    The Tester writes in a spare tree of its own while the setup command and the base run are made on the
    job's tree (`Ahead`): they need only the base commit, and took their time after the Tester's before. Each
    try is judged on the job's tree with the spare tree's test files put on it; no repository code runs in
    the spare tree."""
    why_not = skip_reason(impl)
    if why_not:
        ctx.log("reproduction_skipped", reason=why_not)
        return None
    base = str(ctx.outputs["prepare"]["base"])
    with impl.services.workspace.spare(impl.run.repo, base) as place, Ahead(impl, ctx) as ahead:
        spare = Tree(impl.services.workspace.git, place, base)
        session = impl.edit_session(impl.edit_scope((), tester.TEST_GLOBS), root=place)
        attempts, feedback = impl.services.settings.reproduce_attempts, ""
        for attempt in range(1, attempts + 1):
            ctx.check()
            impl.status(ctx.step, f"writing a test that reproduces the issue (try {attempt} of {attempts})")
            tester.reproduce(impl.model(), impl.call("reproduce"), impl.brief, session, feedback,
                             impl.services.settings.tester_tool_calls)
            found, feedback = judged(impl, ctx, session, spare, ahead)
            if found is not None:
                ctx.log("reproduced", attempt=attempt, tests=list(found.shown), paths=list(found.paths))
                return found
            ctx.log("reproduction_rejected", attempt=attempt, reason=feedback.splitlines()[0][:300])
        ahead.wait()
        impl.kept(impl.tree(ctx), "", list(session.touched))  # the rejected tests go; what setup built stays
    ctx.log("reproduction_skipped", reason=f"no test failed on the base tree after {attempts} tries")
    return None


class Ahead:
    """The setup command and the base run, made on the job's tree (at the base commit) on a thread of their own
    while the Tester writes; `wait` returns once they are made, raising what they raised. Leaving the block
    waits for them too: their sandbox uses the job's HOME, which must outlive it."""

    def __init__(self, impl: Implementation, ctx: StepContext) -> None:
        self._impl, self._ctx = impl, ctx
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._make, name="setup-and-base-run", daemon=True)

    def __enter__(self) -> Ahead:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join()

    def _make(self) -> None:
        try:
            self._impl.prepared(self._ctx, [])
        except BaseException as exc:  # handed to the job's own thread by `wait`
            self._error = exc

    def wait(self) -> None:
        """Block until the setup command and the base run are made; raise what they raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error


def judged(impl: Implementation, ctx: StepContext, session: EditSession, spare: Tree,
           ahead: Ahead) -> tuple[Reproduction | None, str]:
    """Run the session's test files (written in `spare`) on the job's tree at the base: the reproduction, or None
    and why it is none."""
    paths = list(session.touched)
    if not paths:
        return None, "you wrote no test file"
    try:
        arguments = narrowing(impl.brief.test_command, " ".join(paths))
    except SelectorError as exc:
        return None, f"the test files cannot be run on their own: {exc}"
    ahead.wait()
    impl.kept(impl.tree(ctx), spare.patch(paths), paths)
    base = impl.prepared(ctx, paths)
    report, _ = impl.run_tests(ctx, paths, narrow=arguments, event="reproduction")
    why = rejection(report)
    failing = reproducing(report)
    already = set(base.failing) if base is not None else set()
    tests = tuple(test for test in failing if test not in already)  # failing without the new tests too: not theirs
    if why is None and not failing:
        why = "the runner did not name the failing tests"
    elif why is None and not tests:
        why = (f"every test that failed ({len(failing)}) fails on {impl.brief.branch} without your tests too "
               "(the environment, or an older bug): none of them reproduces this issue; write a test of its "
               "acceptance criteria")
    if tests != failing:
        ctx.log("reproduction_already_failing", tests=len(failing) - len(tests))
    if why is not None:
        return None, told(why, report)
    return Reproduction(tests, tuple(impl.runner_id(t) for t in tests), tuple(paths)), ""


def told(why: str, report: TestReport) -> str:
    """What the Tester is told of a rejected try: why, the command, and the output's end."""
    tail = "\n".join(report.output_tail.splitlines()[-TAIL_LINES:])
    return f"{why}.\nCommand: {report.command}\nResult: {report.what}\nOutput (end):\n{tail}"
