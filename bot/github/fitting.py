"""Bodies that fit GitHub's size limit: built from parts, shortened in a stated order, never broken.

GitHub refuses an issue comment, a pull request body or a review comment longer than 65,536
characters with a 422 ("body is too long (maximum is 65536 characters)"; the REST reference does not
state the limit, the error does: https://github.com/peter-evans/create-issue-from-file/issues/1049).
What it counts is not documented, and people who measured disagree (pull request bodies refused past
65,536 code points, issue comments past 262,144 UTF-8 bytes:
https://github.com/dead-claudia/github-limits/pull/13). So we count UTF-8 bytes (`size`), never fewer
than code points or UTF-16 units: a body within `BUDGET` fits on every reading, emoji and CJK included.

* `Part`: a piece of a body, with fixed text around text that `shorten(budget)` renders again,
  shorter, from the original data (so a fence is chosen for what is kept, never cut);
* `fit`: the parts joined, unchanged when they fit; otherwise shortened by `rank` (lowest first),
  each first no further than its `floor` or its even share of the budget (so one huge part does not
  starve the others), then as far as needed, and the whole cut by `clip_markdown` only when what is
  fixed is too long by itself;
* `clip_items`: a list keeping its head (or tail) and saying "… N more";
* `clip_markdown`: text cut at a line, its open code block and `<details>` closed, with a note;
* `guard`: the posting layer's last resort, for a body that was not built to fit.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

LIMIT = 65_536
"""GitHub's limit on a body, taken as UTF-8 bytes."""
BUDGET = 60_000
"""What our renderers aim at: the margin leaves room for a marker line, redaction and a note added later."""
FLOOR = 2_000
"""A part is first shortened no further than this."""

_FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_DETAILS_OPEN = re.compile(r"<details[\s>]")
log = logging.getLogger("issuesmith.github")


def size(text: str) -> int:
    """The length GitHub's limit is checked against, counted conservatively: UTF-8 bytes."""
    return len(text.encode("utf-8", "surrogatepass"))


WHY = "(GitHub limits a body's length)"


def more_text(omitted: int) -> str:
    """The note that replaces the end of a text that was cut."""
    return f"… {omitted:,} more characters not shown {WHY}"


def more(template: str) -> Callable[[int], str]:
    """The "… N more" line of a shortened list: `template` with `{n}` for N and `{why}` for the reason."""
    return lambda count: template.format(n=count, why=WHY)


@dataclass(frozen=True)
class Part:
    """A piece of a body: `prefix` + `text` + `suffix`, where only `text` is ever shortened.

    `shorten(budget)` renders the text again within `budget` bytes (None: the part is fixed);
    `rank` is its place in the shortening order, lowest first.
    """

    text: str
    prefix: str = ""
    suffix: str = ""
    shorten: Callable[[int], str] | None = field(default=None, compare=False)
    rank: int = 0
    floor: int = FLOOR


def fixed(text: str) -> Part:
    """A part that is never shortened (our own words, short and bounded)."""
    return Part(text)


def prose(text: str, rank: int, prefix: str = "", suffix: str = "") -> Part:
    """Markdown text (inert prose, fenced output) shortened by `clip_markdown`."""
    return Part(text, prefix, suffix, lambda budget: clip_markdown(text, budget), rank)


def listing(items: Sequence[str], rank: int, more: Callable[[int], str], prefix: str = "", suffix: str = "",
            joiner: str = "\n", from_end: bool = False) -> Part:
    """A list (lines, table rows, comma-separated names) shortened by `clip_items`."""
    return Part(joiner.join(items), prefix, suffix,
                lambda budget: clip_items(items, budget, more, joiner, from_end), rank)


def fit(parts: Sequence[Part], budget: int = BUDGET) -> str:
    """The parts joined, shortened in rank order until the whole is within `budget` bytes."""
    texts = [p.text for p in parts]
    joined = _join(parts, texts)
    if size(joined) <= budget:
        return joined
    order = sorted((i for i, p in enumerate(parts) if p.shorten is not None), key=lambda i: parts[i].rank)
    share = budget // max(len(order), 1)
    for first_pass in (True, False):
        for i in order:
            excess = size(_join(parts, texts)) - budget
            if excess <= 0:
                return _join(parts, texts)
            shorten, current = parts[i].shorten, size(texts[i])
            allowance = max(max(parts[i].floor, share) if first_pass else 0, current - excess)
            if shorten is not None and allowance < current:
                texts[i] = shorten(allowance)
    return clip_markdown(_join(parts, texts), budget)


def _join(parts: Sequence[Part], texts: Sequence[str]) -> str:
    return "".join(p.prefix + t + p.suffix for p, t in zip(parts, texts, strict=True))


def clip_items(items: Sequence[str], budget: int, more: Callable[[int], str], joiner: str = "\n",
               from_end: bool = False) -> str:
    """As many whole items as fit with the note `more(n)` for the `n` left out (the last ones, or the first
    ones when `from_end`); when not even one fits, the first kept is cut (`clip_markdown`)."""
    whole = joiner.join(items)
    if size(whole) <= budget:
        return whole
    order = list(reversed(items)) if from_end else list(items)
    kept: list[str] = []
    used = -size(joiner)
    for item in order:
        note = more(len(order) - len(kept) - 1)
        if used + 2 * size(joiner) + size(item) + size(note) > budget:
            break
        kept.append(item)
        used += size(joiner) + size(item)
    if not kept and order:
        room = budget - size(joiner) - size(more(len(order) - 1))
        piece = clip_markdown(order[0], room) if room > 0 else ""
        if piece.strip() and size(piece) <= room:
            kept.append(piece)
    shown = [*kept, more(len(order) - len(kept))]
    return joiner.join(reversed(shown) if from_end else shown)


@dataclass
class _Blocks:
    """What is open at a point of Markdown: a code block (its fence) and `<details>` elements."""

    fence: str = ""
    details: int = 0

    def after(self, line: str) -> _Blocks:
        """The state after `line` (CommonMark: a fence closes on a line of the same character, at least as
        long, with nothing but spaces after it; a backtick fence's info string has no backtick)."""
        found = _FENCE_LINE.match(line)
        if self.fence:
            closes = (found is not None and found.group(1)[0] == self.fence[0]
                      and len(found.group(1)) >= len(self.fence) and not found.group(2).strip())
            return _Blocks("" if closes else self.fence, self.details)
        if found and not (found.group(1)[0] == "`" and "`" in found.group(2)):
            return _Blocks(found.group(1), self.details)
        opened = len(_DETAILS_OPEN.findall(line)) - line.count("</details>")
        return _Blocks("", max(self.details + opened, 0))

    def ending(self, note: str) -> str:
        """What closes everything open, with `note` inside the innermost `<details>` (where the cut was)."""
        fence = f"\n{self.fence}" if self.fence else ""
        return f"{fence}\n\n{note}" + "\n\n</details>" * self.details


def clip_markdown(text: str, budget: int, note: Callable[[int], str] = more_text) -> str:
    """`text` cut to `budget` bytes at a line (or inside a line without HTML), closing the code block and
    the `<details>` left open, ending with `note(characters left out)`; `text` itself when it fits."""
    if size(text) <= budget:
        return text
    blocks, out, used, shown = _Blocks(), [], -1, -1  # `used`: bytes kept, `shown`: characters kept
    worst = note(len(text))  # the longest the note can be
    for line in text.split("\n"):
        after = blocks.after(line)
        if used + 1 + size(line) + size(after.ending(worst)) <= budget:
            out.append(line)
            used, shown, blocks = used + 1 + size(line), shown + 1 + len(line), after
            continue
        room = budget - used - 1 - size(blocks.ending(worst))
        if room > 0 and (blocks.fence or "<" not in line) and not _FENCE_LINE.match(line):
            piece = _cut(line, room)
            if piece.strip():
                out.append(piece)
                shown += 1 + len(piece)
        break
    ending = blocks.ending(note(max(len(text) - shown, 1)))
    clipped = "\n".join(out) + ending if out else ending.lstrip("\n")
    return clipped if size(clipped) <= budget else _cut(clipped, budget)


def _cut(text: str, budget: int) -> str:
    """The longest head of `text` within `budget` bytes that ends on a whole character."""
    return text.encode("utf-8", "surrogatepass")[:max(budget, 0)].decode("utf-8", "ignore")


def guard(body: str, what: str) -> str:
    """`body` as it may be sent: when over `LIMIT` (none of our renderers lets that happen), cut to `BUDGET`
    keeping its first line (our marker), with a warning in the log."""
    if size(body) <= LIMIT:
        return body
    log.warning("a body over GitHub's size limit was cut before sending",
                extra={"what": what, "bytes": size(body), "limit": LIMIT})
    return clip_markdown(body, BUDGET)
