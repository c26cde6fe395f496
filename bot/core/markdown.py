"""Markdown built around untrusted text: fences it cannot close, mentions that do not ping, nothing hidden.

GitHub renders what issuesmith posts as GitHub-flavoured Markdown, and much of it is text we did
not write: test output, setup output, the model's plans and reviews, repository configuration,
file names. Such text must not change what the surrounding comment says, so:

* `fence` wraps text in a code block whose fence is one backtick longer than the longest run of
  backticks inside (at least three): CommonMark closes a fence of N backticks only with a line of
  N or more, so nothing inside can end the block and write outside it; `code` does the same for
  an inline code span (which closes only on a run of exactly its own length);
* `inert` is for untrusted text shown as Markdown outside code: `@name` and `#12` get a
  zero-width joiner after the `@` or `#` (GitHub does not ping the person or link, and so not
  close, the issue; the reader sees the same text), `<` becomes `&lt;` (no raw HTML: no hidden
  `<!-- issuesmith:… -->` markers, no hidden text, no tags of ours), and a line that would open
  a code block (``` or ~~~) is escaped, so untrusted text cannot shift where our blocks begin.

Nothing inside a code block or span is rendered, so `fence` and `code` need no more than that.
"""

from __future__ import annotations

import re

ZERO_WIDTH_JOINER = "\u200d"
_BACKTICKS = re.compile(r"`+")
_LINE_ENDING = re.compile(r"\r\n|\r|\n")
_MENTION = re.compile(r"(?<![A-Za-z0-9])@(?=[A-Za-z0-9])")
_FENCE_OPENER = re.compile(r"^( {0,3})(`{3,}|~{3,})", re.M)
_CLOSING_KEYWORD = re.compile(r"#(?=\d)")
_OUR_FENCE = re.compile(r"(?<=\n)(`{3,})[^`\n]*\n.*?\n\1$", re.S | re.M)
"""A code block as `fence` writes it, starting on a line of its own (not the text's first line:
text placed after our words on the same line would not open a block there)."""


def longest_backtick_run(text: str) -> int:
    """The length of the longest run of consecutive backticks in `text` (0 when there is none)."""
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def fence(text: str, info: str = "") -> str:
    """`text` as a fenced code block that no line of it can close (`info`: the language, e.g. `yaml`)."""
    ticks = "`" * max(3, longest_backtick_run(text) + 1)
    label = " ".join(info.replace("`", "").split())
    return f"{ticks}{label}\n{text.rstrip(chr(10))}\n{ticks}"


def one_line(text: str) -> str:
    """`text` with every line ending (LF, CR, CRLF: CommonMark's three) turned into a space."""
    return _LINE_ENDING.sub(" ", text)


def code(text: str) -> str:
    """`text` on one line as an inline code span that nothing in it can close."""
    flat = one_line(text)
    if not flat.strip():
        return "` `"
    ticks = "`" * (longest_backtick_run(flat) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{ticks}{pad}{flat}{pad}{ticks}"


def inert(text: str) -> str:
    """Untrusted text to show as Markdown: its @mentions do not ping, it carries no raw HTML, opens no code
    block (a line starting with ``` or ~~~ gets a backslash) and references no issue (`#12`: GitHub would
    link it, and "Fixes #12" in a pull request closes it on merge)."""
    text = _FENCE_OPENER.sub(lambda m: f"{m.group(1)}\\{m.group(2)}", text.replace("<", "&lt;"))
    return _CLOSING_KEYWORD.sub("#" + ZERO_WIDTH_JOINER, _MENTION.sub("@" + ZERO_WIDTH_JOINER, text))


def inert_outside_fences(text: str) -> str:
    """`inert` applied to `text` except inside the code blocks `fence` built in it (left as they are).

    For messages that mix our words, untrusted words and fenced output (an error with the last
    lines of a command): the fenced parts are code already, and must stay verbatim.
    """
    parts: list[str] = []
    last = 0
    for block in _OUR_FENCE.finditer(text):
        ticks = block.group(1)
        if longest_backtick_run(block.group(0)[len(ticks):-len(ticks)]) >= len(ticks):
            continue  # not one of ours: a run this long inside could have closed it
        parts.append(inert(text[last:block.start()]))
        parts.append(block.group(0))
        last = block.end()
    parts.append(inert(text[last:]))
    return "".join(parts)


def without_fences(text: str, placeholder: str = "(output in the notice)") -> str:
    """`text` with the code blocks `fence` built in it replaced by `placeholder` (for one-line summaries)."""
    return _OUR_FENCE.sub(placeholder, text)
