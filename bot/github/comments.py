"""Everything issuesmith writes on an issue: the texts, and the hidden markers that identify them.

A marker (`<!-- issuesmith:plan run=r1 v=2 hash=abc -->`) lets a re-run job find and
edit its own comment instead of posting a second one. A comment's marker is its first line
(`carries_marker`): our comments quote text others wrote (plans, reviews, test output), and a
marker inside that text is not ours. Such text is made inert or fenced (`bot.core.markdown`).
"""

from __future__ import annotations

from bot.core.markdown import code, fence, inert, inert_outside_fences, one_line
from bot.github import fitting
from bot.runs.plan import Plan

APPROVE_HELP = ("Reply `/approve` to implement this plan, `/revise <what to change>` to get a new plan, "
                "or `/cancel`.")


def plan_marker(run_id: str, version: int, plan_hash: str = "") -> str:
    """The marker of a plan comment (the hash is part of it once known)."""
    tail = f" hash={plan_hash}" if plan_hash else ""
    return f"<!-- issuesmith:plan run={run_id} v={version}{tail} -->"


def plan_marker_prefix(run_id: str, version: int) -> str:
    """The part of a plan marker that is known before the plan is (for finding the comment)."""
    return f"<!-- issuesmith:plan run={run_id} v={version} "


def carries_marker(body: str, marker: str) -> bool:
    """Whether `body` is the comment of `marker`: it starts with it (a marker quoted further down is not)."""
    return body.startswith(marker)


def is_superseded(body: str) -> bool:
    """Whether a plan comment was already folded away by `render_superseded`."""
    _, _, rest = body.partition("\n")
    return rest.startswith("> [!NOTE]\n> Plan v") and "was superseded by plan v" in rest.split("\n", 2)[1]


def notice_marker(run_id: str, key: str) -> str:
    """The marker of a one-off notice (failure, cancellation, refusal) of a run."""
    return f"<!-- issuesmith:notice run={run_id} key={key} -->"


def render_plan(plan: Plan, run_id: str, version: int, plan_hash: str, test_command: str = "") -> str:
    """The plan comment: summary, steps, files, acceptance criteria, testing, risks, what to reply.

    Within `fitting.BUDGET`: a longer plan is shortened, in this order, in its risks, how it will be
    tested, acceptance criteria, files, steps, summary and last its title (lists keep their head and
    say how many more there are); the marker line and what to reply are always there.
    """
    files = [f"| {_cell(code(f.path))} | {_cell(f.action)} | {_cell(inert(f.reason))} |" for f in plan.files]
    steps = [f"{i}. {_line(step)}" for i, step in enumerate(plan.steps, 1)]
    criteria = [f"- [ ] {_line(c)}" for c in plan.acceptance_criteria]
    risks = [f"- {_line(r)}" for r in plan.risks] or ["- none identified"]
    testing = inert(plan.test_strategy) + (
        f"\n\nTest command: {code(test_command)}" if test_command else
        "\n\nTest command: none detected or configured, so the tests cannot run and the pull request will be a "
        "draft. Set `test_command` in `.github/issuesmith.yml`.")
    return fitting.fit([
        fitting.prose(_line(plan.title), 7, prefix=f"{plan_marker(run_id, version, plan_hash)}\n"
                                                   f"## 🛠️ Plan v{version}: "),
        fitting.prose(inert(plan.summary), 6, prefix="\n\n"),
        fitting.listing(steps, 5, fitting.more("- … {n:,} more steps not shown {why}"), prefix="\n\n### Steps\n"),
        fitting.listing(files, 4, fitting.more("| … | {n:,} more files not shown {why} | |"),
                        prefix="\n\n### Files\n| file | action | why |\n|---|---|---|\n"),
        fitting.listing(criteria, 3, fitting.more("- … {n:,} more criteria not shown {why}"),
                        prefix="\n\n### Acceptance criteria\n"),
        fitting.prose(testing, 2, prefix="\n\n### How it will be tested\n"),
        fitting.listing(risks, 1, fitting.more("- … {n:,} more risks not shown {why}"),
                        prefix="\n\n### Risks and out of scope\n"),
        fitting.fixed(f"\n\n---\n{APPROVE_HELP}\n\n"
                      f"<sub>issuesmith run `{run_id}` · plan v{version} · hash `{plan_hash}`</sub>")])


def render_superseded(old_body: str, version: int, new_version: int) -> str:
    """An old plan comment, folded away under a note that a newer version replaced it."""
    marker, _, rest = old_body.partition("\n")
    return fitting.fit([fitting.prose(
        rest, 1, prefix=f"{marker}\n> [!NOTE]\n> Plan v{version} was superseded by plan v{new_version} (see below); "
                        f"`/approve` now approves v{new_version}.\n\n<details><summary>Plan v{version}</summary>\n\n",
        suffix="\n\n</details>")])


def _cell(text: str) -> str:
    return one_line(text.replace("|", "\\|"))


def _line(text: str) -> str:
    """Untrusted prose on one line (a list item or a heading it cannot break out of)."""
    return one_line(inert(text))


# Replies to people -----------------------------------------------------------------------

def needs_write(login: str, what: str) -> str:
    """Polite refusal for someone without write access."""
    return (f"@{login} thanks! Only people with write access to this repository can {what}. "
            "A maintainer can do it for you.")


def auto_approve_ignored(adder: str | None, label: str, version: int) -> str:
    """The auto-approve label is on the issue, but not added by someone with write access."""
    who = f"@{adder} added the `{label}` label" if adder else f"The `{label}` label is on this issue"
    return (f"{who}, but it only approves a plan when someone with write access adds it, so plan v{version} "
            f"waits for approval. A writer can reply `/approve`, or remove the label and add it again.")


def no_run(login: str, label: str) -> str:
    """A command on an issue that has no run."""
    return (f"@{login} there is no issuesmith run on this issue yet. Add the `{label}` label to start one "
            "(that needs write access).")


def already_running(login: str, run_id: str, state: str) -> str:
    """A second trigger while a run is active."""
    return (f"@{login} issuesmith is already working on this issue (run `{run_id}`, {_state(state)}). "
            "Reply `/cancel` first to start over.")


def stale_approval(login: str, answered: int, latest: int) -> str:
    """An `/approve` that answered an older plan version."""
    return (f"@{login} your `/approve` answered plan v{answered}, but plan v{latest} has been posted since. "
            f"Please review v{latest} and reply `/approve` again if it is what you want.")


def plan_in_progress(login: str, version: int) -> str:
    """An `/approve` that arrived while a plan version is still being prepared."""
    return (f"@{login} plan v{version} is being prepared right now, so there is nothing to approve yet. "
            f"Please review it once it is posted and reply `/approve` then.")


def not_awaiting(login: str, command: str, state: str) -> str:
    """A command that does not fit the run's current state."""
    return f"@{login} `/{command}` does not apply now: the run is {_state(state)}."


def lost_race(login: str, command: str, state: str, plan_version: int) -> str:
    """A command that came at the same moment as another one, which changed the run first."""
    now = (f"plan v{plan_version + 1} is being made (you will be able to approve it once it is posted)"
           if state == "PLANNING" else f"the run is {_state(state)}")
    return (f"@{login} `/{command}` was not applied: another command changed the run at the same moment, "
            f"and now {now}.")


def edit_is_not_a_command(login: str, command: str) -> str:
    """A comment that already was a command was edited (into `/command`): the edit is not run."""
    return (f"@{login} edits of a comment that already holds a command do not run it again, so your edit "
            f"(`/{command}`) changed nothing. Post the command as a new comment. (Editing a comment that "
            "was not a command into one does count, as if it were posted at the time of the edit.)")


def approved(login: str, version: int, plan_hash: str) -> str:
    """Acknowledges an approval."""
    return (f"✅ Plan v{version} (`{plan_hash}`) approved by @{login}. Implementation is queued; "
            "progress will show here. Reply `/cancel` to stop.")


def cancelled(login: str, job_running: bool = False) -> str:
    """Acknowledges a cancellation."""
    stopping = " The job at work stops at its next check; the status comment says when it has." if job_running else ""
    return f"🛑 Run cancelled by @{login}.{stopping} Add the label again to start a new run."


def invalid_config(login: str, path: str, problems: list[tuple[str, str]]) -> str:
    """The repository's configuration does not validate, so no run starts."""
    rows = [f"| {_cell(code(key))} | {_cell(inert(reason))} |" for key, reason in problems]
    return fitting.fit([
        fitting.listing(rows, 1, fitting.more("| … | {n:,} more problems not shown {why} |"),
                        prefix=f"@{login} issuesmith did not start: {code(path)} on the default branch is not "
                               "valid.\n\n| key | problem |\n|---|---|\n"),
        fitting.fixed("\n\nFix the file (the README lists every key and its default), then add the label again.")])


def revising(login: str, version: int) -> str:
    """Acknowledges `/revise`."""
    return f"🔁 @{login} asked for changes; preparing plan v{version}."


def failed(step: str, what: str, hint: str, spent: str, partial: str = "") -> str:
    """A run stopped at a step: what failed, what was spent, what to do, and the change made so far (`partial`)."""
    what, hint = inert_outside_fences(what), inert_outside_fences(hint)
    todo = hint or "Reply `/retry` to run the step again, or `/cancel`."
    if "`/retry`" not in todo:
        todo = todo.rstrip(".") + ". Then reply `/retry` to run the step again."
    kept = ([fitting.prose(fence(partial, "diff"), 0,
                           prefix="\n\n<details><summary>The change made before it stopped (not pushed; `/retry` "
                                  "starts the step afresh)</summary>\n\n", suffix="\n\n</details>")]
            if partial else [])
    return fitting.fit([
        fitting.prose(what, 1, prefix=f"❌ issuesmith stopped at the **{step}** step: "),
        fitting.prose(todo, 2, prefix=f"\n\nSpent so far: {spent}.\n\n**What to do:** "), *kept])


def retrying(login: str, step: str) -> str:
    """Acknowledges `/retry`."""
    return f"🔄 @{login} retrying the **{step}** step."


def _state(state: str) -> str:
    return state.lower().replace("_", " ")
