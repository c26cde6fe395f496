"""The run's status comment: one checklist per run, derived from what is stored, edited in place.

`render` is a pure function of the run record, its execution log, its usage and its pull
request: whichever process refreshes the comment (intake, plan job, implement job) writes
the same text for the same stored state, so the comment never needs its own bookkeeping.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bot.core.markdown import inert, one_line, without_fences
from bot.github import fitting
from bot.runs.model import Run, State

DONE, ACTIVE_MARK, WAITING, FAILED, STOPPED, WARN = "✅", "⏳", "⏸️", "❌", "🛑", "⚠️"
IMPLEMENT_STEPS = ("code", "test", "publish")

COMMANDS: dict[str, tuple[str, ...]] = {
    State.PLANNING: ("`/cancel`", "`/status`"),
    State.AWAITING_APPROVAL: ("`/approve`", "`/revise <what to change>`", "`/cancel`", "`/status`"),
    State.APPROVED: ("`/cancel`", "`/status`"),
    State.IMPLEMENTING: ("`/cancel`", "`/status`"),
    State.TESTING: ("`/cancel`", "`/status`"),
    State.PR_OPEN: ("`/status`",),
    State.FAILED: ("`/retry`", "`/cancel`", "`/status`"),
    State.CANCELLED: (),
    State.MERGED: (),
    State.CLOSED: (),
}
"""What people can reply in each state."""


@dataclass(frozen=True)
class Item:
    """One line of the checklist."""

    mark: str
    text: str

    def line(self) -> str:
        return f"- {self.mark} {self.text}"


@dataclass(frozen=True)
class Snapshot:
    """Everything the status comment shows, as stored."""

    run: Run
    entries: list[dict[str, Any]]
    tokens: int
    cost_usd: float
    pull: dict[str, Any] | None = None


def render(snap: Snapshot, now: float) -> str:
    """The status comment's Markdown (without its marker), within `fitting.BUDGET` (the checklist keeps its
    head and says how many lines more there are)."""
    run = snap.run
    items = planning_items(run, snap.entries) + implement_items(snap) + round_items(snap) + ending_items(snap)
    elapsed = run.elapsed(now)
    lines = [item.line() for item in items]
    tail = "\n".join([
        "", f"Elapsed {duration(elapsed)} · {snap.tokens:,} tokens · ${snap.cost_usd:.4f}", "",
        commands_line(run), "",
        f"<sub>run `{run.id}` · this comment is updated as the run goes; reply `/status` to see it again</sub>"])
    return fitting.fit([
        fitting.listing(lines, 1, fitting.more("- … {n:,} more not shown {why}"),
                        prefix=f"### issuesmith · {_state(run)}\n\n"),
        fitting.fixed(("\n" if lines else "") + tail)])


def planning_items(run: Run, entries: list[dict[str, Any]] | None = None) -> list[Item]:
    """Planned and approved (and why an auto-approve label on the issue did not approve)."""
    items: list[Item] = []
    if run.plan_version:
        items.append(Item(DONE, f"Planned: plan v{run.plan_version}"))
    if run.state == State.PLANNING:
        what = f"Revising the plan (v{run.plan_version + 1})…" if run.plan_version else "Planning…"
        items.append(Item(ACTIVE_MARK, what))
    if run.approved_by:
        how = " (auto-approve label)" if run.approved_via == "label" else ""
        items.append(Item(DONE, f"Approved by @{run.approved_by}: plan v{run.approved_version}{how}"))
    elif run.state == State.AWAITING_APPROVAL:
        items.append(Item(WAITING, f"Waiting for `/approve` of plan v{run.plan_version}"
                                   + _label_ignored(entries or [], run.plan_version)))
    return items


def _label_ignored(entries: list[dict[str, Any]], version: int) -> str:
    """Why the auto-approve label did not approve plan `version`, if it did not."""
    for entry in reversed(entries):
        if entry.get("event") == "auto_approve_ignored" and entry.get("version") == version:
            who = f"@{entry['by']}" if entry.get("by") else "someone without write access"
            return (f" (the `{entry.get('label', '')}` label was added by {who}; "
                    "it approves only when a writer adds it)")
    return ""


def implement_items(snap: Snapshot) -> list[Item]:
    """Coding, review rounds, tests and the pull request, from the implement steps' log."""
    if not snap.run.approved_by:
        return []
    status, progress, reviews, tests = _scan(snap.entries)
    items: list[Item] = []
    running = snap.run.state in (State.APPROVED, State.IMPLEMENTING, State.TESTING)
    for step in IMPLEMENT_STEPS:
        state = status.get(step, "")
        if step == "code":
            items += _step_item(state, "Coded", "Coding", _cell(progress.get(step, "")), running)
        elif step == "test":
            done_text = _tests_text(tests) if tests else "Tested"
            items += _step_item(state, done_text, "Testing", _cell(progress.get(step, "")), running)
            if state == "done" and tests and not tests.get("ok"):
                items[-1] = Item(WARN, done_text)
            items += [Item(DONE, f"Review round {r}: {'approved' if v == 'approve' else 'changes requested'}")
                      for r, v in reviews]
        else:
            pull = snap.pull or {}
            done_text = (f"Pull request [#{pull.get('number')}]({pull.get('url')})"
                         + (" (draft)" if pull.get("draft") else ""))
            items += _step_item(state if pull or state != "done" else "", done_text, "Opening the pull request",
                                _cell(progress.get(step, "")), running)
    return items


def round_items(snap: Snapshot) -> list[Item]:
    """Revision rounds on the pull request (a review asking for changes, or `/revise` on it)."""
    rounds: dict[int, Item] = {}
    for entry in snap.entries:
        if entry.get("step") != "revise":
            continue
        number, event = int(entry.get("round", 0) or 0), entry.get("event")
        if event == "requested":
            by = entry.get("by", "")
            asked = "review" if entry.get("kind") == "review" else "`/revise`"
            rounds[number] = Item(ACTIVE_MARK, f"Revision round {number} ({asked} by @{by})…")
        elif event == "round_finished" and number in rounds:
            text = rounds[number].text.removesuffix("…")
            rounds[number] = Item(DONE, f"{text}: pushed `{str(entry.get('sha', ''))[:7]}`, "
                                        f"{entry.get('replied', 0)} comments answered")
        elif event == "limit_reached":
            rounds[10_000] = Item(STOPPED, f"Revision limit reached ({entry.get('limit')}): a person takes over")
    items = [rounds[n] for n in sorted(rounds)]
    if snap.run.state == State.FAILED:
        items = [Item(FAILED, i.text.removesuffix("…")) if i.mark == ACTIVE_MARK else i for i in items]
    return items


def ending_items(snap: Snapshot) -> list[Item]:
    """Why a run stopped, when it did."""
    run = snap.run
    if run.state == State.FAILED:
        return [Item(FAILED, f"Stopped at the **{run.failed_step or '?'}** step: {_cell(run.error)}")]
    if run.state in (State.MERGED, State.CLOSED):
        entry: dict[str, Any] = next(
            (e for e in reversed(snap.entries) if e.get("event") in ("pull_merged", "pull_closed")), {})
        by = f" by @{entry['by']}" if entry.get("by") else ""
        what = "Merged" if run.state == State.MERGED else "Pull request closed without merging"
        deleted = any(e.get("event") == "branch_deleted" for e in snap.entries)
        return [Item(DONE if run.state == State.MERGED else STOPPED,
                     f"{what}{by}" + (" · branch deleted" if deleted else ""))]
    if run.state == State.CANCELLED:
        return [Item(STOPPED, cancelled_text(snap.entries))]
    return []


def cancelled_text(entries: list[dict[str, Any]]) -> str:
    """Who cancelled and, when a job was at work, whether and when it stopped (the cancel reply promised it).

    Anchored on the `/cancel` command's entry, which is logged before the run changes state: a job that
    stops at once may log `stopped` before intake logs `cancel_requested`.
    """
    at = max((i for i, e in enumerate(entries) if e.get("event") == "command" and e.get("name") == "cancel"),
             default=-1)
    if at < 0:
        return "Cancelled"
    text = f"Cancelled by @{entries[at].get('by')}" if entries[at].get("by") else "Cancelled"
    after = entries[at + 1:]
    if not any(e.get("event") == "cancel_requested" and e.get("job_running") for e in after):
        return text
    stop = next((e for e in after if e.get("event") == "stopped"), None)
    if stop is None:
        return text + " · the job at work stops at its next check…"
    waited = max(0.0, float(stop.get("ts", 0)) - float(entries[at].get("ts", 0)))
    clock = time.strftime("%H:%M:%S UTC", time.gmtime(float(stop.get("ts", 0))))
    return text + f" · the {stop.get('step', '?')} job stopped at {clock}, {duration(waited)} after the cancel"


def commands_line(run: Run) -> str:
    """The commands available now, or what to do when none are."""
    if run.state in (State.CANCELLED, State.CLOSED):
        return "**Next:** add the trigger label again to start a new run."
    if run.state == State.MERGED:
        return "**Done.** Thanks for reviewing."
    if run.state == State.PR_OPEN:
        return ("**Next:** review the pull request and merge it yourself; a review that requests changes, "
                "or `/revise <notes>` on the pull request, starts a revision round · `/status`")
    return "**Commands now:** " + " · ".join(COMMANDS.get(run.state, ()))


def duration(seconds: float) -> str:
    """`1m 05s`, `42s`, `1h 02m`."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _scan(entries: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, str], list[tuple[int, str]],
                                                 dict[str, Any]]:
    """Per implement step: its latest status and progress note; the review rounds; the latest test run."""
    status: dict[str, str] = {}
    progress: dict[str, str] = {}
    reviews: dict[int, tuple[str, str]] = {}  # round: (the step that logged it, the verdict)
    tests: dict[str, Any] = {}
    for entry in entries:
        step, event = str(entry.get("step", "")), entry.get("event")
        if step == "revise" and event in ("requested", "round_started"):
            break  # revision rounds reuse the step names; they have their own lines
        if event == "started" and step in IMPLEMENT_STEPS:
            status[step], progress[step] = "running", ""
            # a step run again drops its review rounds (the test step's; the code step's in older runs)
            reviews = {r: logged for r, logged in reviews.items() if logged[0] != step}
        elif event in ("verified", "resumed"):
            status[step] = "done"
        elif event == "error" and not entry.get("will_retry"):
            status[step] = "failed"
        elif event == "cancelled" and entry.get("started", True):
            status[step] = "cancelled"
        elif event == "progress":
            progress[step] = str(entry.get("detail", ""))
        elif event == "review":
            reviews[int(entry.get("round", 0))] = (step, str(entry.get("verdict", "")))
        elif event == "tests":
            tests = entry
    return status, progress, sorted((r, verdict) for r, (_, verdict) in reviews.items()), tests


def _step_item(state: str, done: str, doing: str, note: str, running: bool) -> list[Item]:
    if state == "done":
        return [Item(DONE, done)]
    if state == "running" and running:
        return [Item(ACTIVE_MARK, f"{doing}…" + (f" {note}" if note else ""))]
    if state == "failed":
        return [Item(FAILED, doing)]
    if state in ("running", "cancelled"):
        return [Item(STOPPED, doing)]
    return []


def _tests_text(tests: dict[str, Any]) -> str:
    """The last test run's line: what happened as the run recorded it (older entries: the counts)."""
    if tests.get("what"):
        return f"Tests: {one_line(inert(str(tests['what'])))}"
    text = f"Tests: {tests.get('passed', 0)} passed, {tests.get('failed', 0)} failed"
    return text + (f", {tests['errors']} errors" if tests.get("errors") else "")


def _state(run: Run) -> str:
    words = {State.PLANNING: "planning", State.AWAITING_APPROVAL: "waiting for approval",
             State.APPROVED: "approved, starting", State.IMPLEMENTING: "implementing",
             State.TESTING: "testing", State.PR_OPEN: "pull request open", State.FAILED: "stopped by an error",
             State.CANCELLED: "cancelled", State.MERGED: "merged", State.CLOSED: "closed"}
    return words.get(run.state, run.state.value.lower())


def _cell(text: str) -> str:
    """Stored text (an error, which may quote output) on one inert line; fenced output is in the notice."""
    return " ".join(inert(without_fences(text)).split())[:500]
