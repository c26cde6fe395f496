"""HTML of the runs page: the list of recent runs and one run's timeline, log and plans.

Pure functions from data to a complete HTML document; no JavaScript, one inline stylesheet,
and every value that comes from a run (titles, log details, model output) goes through
`html.escape`. A pull request link is only made for http(s) URLs.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

from bot.runs.model import Run
from bot.runs.runindex import Cursor
from bot.runs.store import PlanRecord
from bot.runs.timeline import Span

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
a{color:#0969da}.muted{color:#656d76}.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #d0d7de;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#f6f8fa;font-weight:600}td.num,th.num{text-align:right;white-space:nowrap}
.state{display:inline-block;padding:0 6px;border-radius:10px;font-size:12px;background:#eaeef2}
.state.PR_OPEN{background:#dafbe1}.state.FAILED{background:#ffebe9}.state.CANCELLED{background:#eaeef2}
.timeline td{border:none;padding:2px 8px}.timeline .track{position:relative;width:100%;min-width:240px;height:16px;
background:#f6f8fa}.timeline .bar{position:absolute;top:0;height:16px;min-width:3px}
.ok{background:#2da44e}.failed{background:#cf222e}.cancelled{background:#8c959f}.running{background:#0969da}
.unfinished{background:#bf8700}td.detail{max-width:60em;overflow-wrap:anywhere}td.when{white-space:nowrap}
"""


@dataclass
class RunSummary:
    """What the list shows of one run."""

    run: Run
    cost_usd: float = 0.0
    tokens: int = 0
    calls: int = 0
    pull_url: str = ""
    pull_number: int | None = None


@dataclass
class RunDetail:
    """What one run's page shows."""

    summary: RunSummary
    spans: list[Span] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    plans: list[PlanRecord] = field(default_factory=list)


def e(value: Any) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def document(title: str, body: str) -> str:
    """A complete HTML page."""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" '
            f'content="no-referrer"><style>{STYLE}</style></head><body>{body}</body></html>\n')


def when(ts: float) -> str:
    """A timestamp as UTC date and time."""
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ts)) if ts else "—"


def duration(seconds: float | None) -> str:
    """A duration in words: 0.42 s, 12.3 s, 4 min 03 s, 2 h 05 min."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def run_seconds(run: Run, now: float) -> float | None:
    """How long the run has taken: until now while active, else until its last update."""
    return run.elapsed(now) if run.created_at else None


def pull_link(summary: RunSummary) -> str:
    """A link to the run's pull request, or a dash."""
    url = summary.pull_url
    if not url.startswith(("https://", "http://")):
        return '<span class="muted">—</span>'
    text = f"#{summary.pull_number}" if summary.pull_number is not None else "pull request"
    return f'<a href="{e(url)}" rel="noreferrer noopener">{e(text)}</a>'


def state_badge(run: Run) -> str:
    """The run's state as a coloured badge."""
    return f'<span class="state {e(run.state.value)}">{e(run.state.value)}</span>'


def runs_list(summaries: Sequence[RunSummary], now: float, older: Cursor | None = None, first: bool = True) -> str:
    """A page of the runs list, newest first; `older`: where the next (older) page starts, None on the last;
    `first`: this is the newest page."""
    rows = "".join(
        f'<tr><td class="mono"><a href="/runs/{e(s.run.id)}">{e(s.run.id)}</a></td><td>{state_badge(s.run)}</td>'
        f"<td>{e(s.run.repo)}</td><td>#{e(s.run.issue)} {e(s.run.issue_title)}</td><td>{pull_link(s)}</td>"
        f'<td class="when">{e(when(s.run.created_at))}</td><td class="num">{e(duration(run_seconds(s.run, now)))}</td>'
        f'<td class="num">${s.cost_usd:.4f}</td></tr>'
        for s in summaries)
    if not rows:
        rows = '<tr><td colspan="8" class="muted">No runs yet.</td></tr>'
    which = "most recent runs" if first else "older runs"
    body = ("<h1>issuesmith runs</h1>"
            f'<p class="muted">{len(summaries)} {which}, newest first.</p>'
            '<table class="runs"><thead><tr><th>run</th><th>state</th><th>repository</th><th>issue</th>'
            '<th>pull request</th><th>created</th><th class="num">duration</th><th class="num">cost</th></tr>'
            f"</thead><tbody>{rows}</tbody></table>" + pager(older, first))
    return document("issuesmith runs", body)


def pager(older: Cursor | None, first: bool) -> str:
    """Links to the newest page (unless on it) and to the next older page (unless on the last)."""
    links = [] if first else ['<a href="/runs" rel="first">newest runs</a>']
    if older is not None:
        links.append(f'<a href="/runs?{e(urlencode({"before": str(older)}))}" rel="next">older runs →</a>')
    return f'<p class="pager">{" · ".join(links)}</p>' if links else ""


def run_page(detail: RunDetail, now: float) -> str:
    """The page of one run: facts, step timeline, plan versions, execution log."""
    s, run = detail.summary, detail.summary.run
    facts = (
        f'<p><a href="/runs">← all runs</a></p><h1>{e(run.repo)}#{e(run.issue)}: {e(run.issue_title)}</h1>'
        f'<p>{state_badge(run)} <span class="mono">{e(run.id)}</span> · created {e(when(run.created_at))}'
        f" by {e(run.created_by or '—')} · duration {e(duration(run_seconds(run, now)))} · "
        f"{s.tokens:,} tokens in {s.calls} model calls · ${s.cost_usd:.4f} · pull request {pull_link(s)}</p>")
    if run.failed_step or run.error:
        facts += f'<p class="failed-note">Failed at <b>{e(run.failed_step)}</b>: {e(run.error)}</p>'
    body = (facts + "<h2>Step timeline</h2>" + timeline(detail.spans, now)
            + "<h2>Plan versions</h2>" + plans_table(detail.plans, run)
            + f"<h2>Execution log ({len(detail.entries)} entries)</h2>" + log_table(detail.entries))
    return document(f"issuesmith run {run.id}", body)


def timeline(spans: Sequence[Span], now: float) -> str:
    """One row per step attempt: a bar placed on a shared time axis, then start, end, duration, outcome."""
    if not spans:
        return '<p class="muted">No steps have started yet.</p>'
    first = min(span.start for span in spans)
    last = max(span.end if span.end is not None else now for span in spans)
    total = max(last - first, 1e-6)
    rows = []
    for span in spans:
        end = span.end if span.end is not None else now
        left = (span.start - first) / total * 100
        width = max((end - span.start) / total * 100, 0.0)
        attempt = f" (attempt {span.attempt})" if span.attempt and span.attempt > 1 else ""
        label = f"{span.step}{attempt}: {duration(span.seconds)}, {span.outcome}"
        rows.append(
            f'<tr class="span"><td class="mono">{e(span.step)}{e(attempt)}</td>'
            f'<td style="width:55%"><div class="track"><div class="bar {e(span.outcome)}" '
            f'style="left:{left:.3f}%;width:{min(width, 100 - left):.3f}%" title="{e(label)}"></div></div></td>'
            f'<td class="num">+{span.start - first:.2f} s</td>'
            f'<td class="num">{"+" + format(span.end - first, ".2f") + " s" if span.end is not None else "—"}</td>'
            f'<td class="num">{e(duration(span.seconds))}</td><td>{e(span.outcome)}</td></tr>')
    return (f'<p class="muted">From {e(when(first))}; one bar per step attempt (green ok, red failed, grey '
            'cancelled, blue running, amber unfinished).</p><table class="timeline" id="timeline"><thead><tr>'
            '<th>step</th><th>timeline</th><th class="num">start</th><th class="num">end</th>'
            f'<th class="num">duration</th><th>outcome</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def plans_table(plans: Iterable[PlanRecord], run: Run) -> str:
    """Each plan version: title, hash, when it was posted, whether it is the approved one."""
    rows = []
    for plan in plans:
        approved = plan.version == run.approved_version and plan.hash == run.approved_hash
        approval = f"yes, by {e(run.approved_by)} at {e(when(run.approved_at))}" if approved else "—"
        rows.append(f'<tr><td class="num">v{plan.version}</td><td>{e(plan.plan.get("title", ""))}</td>'
                    f'<td class="mono">{e(plan.hash[:16])}</td><td>{e(plan.posted_at or "not posted")}</td>'
                    f"<td>{approval}</td></tr>")
    if not rows:
        return '<p class="muted">No plan yet.</p>'
    return ('<table class="plans"><thead><tr><th class="num">version</th><th>title</th><th>hash</th><th>posted</th>'
            f'<th>approved</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def log_table(entries: Sequence[Mapping[str, Any]], limit: int = 2000) -> str:
    """The execution log: time since the first entry, step, event and the entry's details."""
    if not entries:
        return '<p class="muted">Empty.</p>'
    first = entries[0].get("ts", 0) or 0
    rows = []
    for entry in entries[:limit]:
        ts = entry.get("ts", first)
        offset = f"+{ts - first:.2f} s" if isinstance(ts, int | float) else "—"
        rest = {k: v for k, v in entry.items() if k not in ("ts", "step", "event")}
        rows.append(f'<tr><td class="num mono">{e(offset)}</td><td class="mono">{e(entry.get("step", ""))}</td>'
                    f'<td class="mono">{e(entry.get("event", ""))}</td>'
                    f'<td class="detail mono">{e(_details(rest))}</td></tr>')
    more = f'<p class="muted">{len(entries) - limit} more entries not shown.</p>' if len(entries) > limit else ""
    return ('<table class="log"><thead><tr><th class="num">time</th><th>step</th><th>event</th><th>details</th>'
            f'</tr></thead><tbody>{"".join(rows)}</tbody></table>{more}')


def _details(values: Mapping[str, Any]) -> str:
    parts = [f"{k}={v if isinstance(v, str) else orjson.dumps(v, default=str).decode()}" for k, v in values.items()]
    text = " ".join(parts)
    return text if len(text) <= 600 else text[:600] + "…"
