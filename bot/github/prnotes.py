"""What issuesmith says on and about its pull request: revision rounds, thread replies, the
"Revisions" part of the PR body, and the closing note on the issue.

Pure text; the callers post it (through the gate) and redact it first. What others wrote (review
notes, the model's summaries and answers) is made inert (`bot.core.markdown`): it pings nobody and
hides nothing, our markers included.
"""

from __future__ import annotations

from typing import Any

from bot.core.markdown import code, inert
from bot.github import fitting

REVISIONS_MARKER = "<!-- issuesmith:revisions -->"
MAX_ASKED = 300


def reply_marker(run_id: str, round_no: int, comment_id: int) -> str:
    """The hidden marker of our reply to one review comment (a re-run job finds it and does not reply twice)."""
    return f"<!-- issuesmith:reply run={run_id} round={round_no} comment={comment_id} -->"


def round_key(round_no: int) -> str:
    """The notice key of a revision round's results comment on the pull request."""
    return f"revision-{round_no}"


def asked(record: dict[str, Any]) -> str:
    """What a round was asked, in one line: who, how, and the request's start."""
    text = " ".join(inert(str(record.get("notes", ""))).split())
    if len(text) > MAX_ASKED:
        text = text[:MAX_ASKED].rstrip() + "…"
    if record.get("kind") == "review":
        count = int(record.get("comments", 0))
        how = f"review by @{record['by']}" + (f" with {count} inline comment{'s' if count != 1 else ''}"
                                               if count else "")
    else:
        how = f"`/revise` by @{record['by']}"
    return f"{how}: {text}" if text else how


def thread_reply(note: str, sha: str) -> str:
    """Our answer in a review comment's thread."""
    return fitting.fit([fitting.prose(inert(note.strip()), 1),
                        fitting.fixed(f"\n\n(issuesmith, in commit {sha[:12]})")])


def round_results(round_no: int, limit: int, record: dict[str, Any], summary: str, verdict: str, tests: str,
                  replied: int) -> str:
    """The results comment of a revision round on the pull request."""
    left = max(limit - round_no, 0)
    more = (f"{left} more revision round{'s' if left != 1 else ''} possible: request changes in a review, or "
            "comment `/revise <notes>`." if left else
            "That was the last revision round issuesmith does for this run; a person takes it from here.")
    return fitting.fit([
        fitting.fixed(f"### Revision round {round_no} of {limit}\n\n**Asked:** {asked(record)}"),
        fitting.prose(" ".join(inert(summary).split()), 1, prefix="\n\n**Changed:** "),
        fitting.prose(tests, 2, prefix=f"\n\n**Commit:** `{str(record.get('sha', ''))[:12]}` · **Review:** "
                                       f"{verdict} · **Answered threads:** {replied}\n\n**Tests:** "),
        fitting.fixed(f"\n\n{more}")])


def with_revisions(body: str, rounds: list[dict[str, Any]]) -> str:
    """The pull request body with its "Revisions" part (replaced, never duplicated) listing `rounds`.

    Within `fitting.BUDGET`: the body above is cut at its end first (the execution log, usage and tests
    are there), then the rounds keep the latest and say how many earlier ones are left out.
    """
    head = body.split(REVISIONS_MARKER, 1)[0].rstrip()
    if not rounds:
        return fitting.fit([fitting.prose(head, 1)])
    lines = [f"- **Round {r['round']}**: {asked(r)}\n  Changed: {' '.join(inert(str(r['summary'])).split())} "
             f"(commit `{str(r['sha'])[:12]}`)" for r in rounds]
    return fitting.fit([
        fitting.prose(head, 1),
        fitting.listing(lines, 2, fitting.more("- … {n:,} earlier rounds not shown {why}"), from_end=True,
                        prefix=f"\n\n{REVISIONS_MARKER}\n### Revisions\n\n", suffix="\n")])


def take_over(login: str, limit: int, branch: str) -> str:
    """A revision request past the bound."""
    return (f"@{login} this pull request has had {limit} revision round{'s' if limit != 1 else ''}, the most "
            f"issuesmith does for one run (`max_revisions`). A person should take it over from here: push to "
            f"{code(branch)} or suggest the changes directly. issuesmith will not change this branch again.")


def round_queued(login: str, round_no: int, limit: int) -> str:
    """Acknowledges a revision request."""
    return f"🔁 @{login} working on your request: revision round {round_no} of {limit}."


def not_now(login: str, state: str) -> str:
    """A revision request while the run is not waiting on its pull request."""
    then = ("Reply `/retry` on the issue to run the failed round again." if state == "FAILED"
            else "Ask again when the current round has finished.")
    return (f"@{login} issuesmith cannot revise this pull request now: the run is "
            f"{state.lower().replace('_', ' ')}. {then}")


def closed_note(merged: bool, by: str, number: int, branch: str, deleted: bool) -> str:
    """The note on the issue when the bot's pull request is merged or closed."""
    kept = f"Branch `{branch}` was deleted." if deleted else f"Branch `{branch}` was kept (`delete_branch: false`)."
    if merged:
        return f"🎉 Pull request #{number} was merged by @{by}. Thanks! The run has ended. {kept}"
    return (f"Pull request #{number} was closed without merging by @{by}, so this run has ended. {kept} "
            "Add the label again to start over.")
