"""Helpers shared by the agents' prompts: loading templates and quoting untrusted text."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

_TAG = re.compile(r"</?\s*untrusted[^>]*>", re.I)


def load_template(name: str) -> Template:
    """A prompt template stored beside the agents (`<name>.md`)."""
    return Template((Path(__file__).parent / f"{name}.md").read_text())


def untrusted(text: str) -> str:
    """Neutralise anything in `text` that could close or open an <untrusted> block."""
    return _TAG.sub(lambda m: m.group(0).replace("<", "‹").replace(">", "›"), text)


def with_guidance(messages: list[dict[str, str]], guidance: str) -> list[dict[str, str]]:
    """`messages` with the repository's own instructions appended to the system message.

    The instructions come from `.github/issuesmith.yml` and AGENTS.md on the default branch
    (written by the repository's maintainers); they refine how to work, never the rules above.
    """
    if not guidance.strip():
        return messages
    note = ("\n\nThe repository's maintainers give these instructions for working in it. Follow them where "
            "they do not conflict with the rules above:\n" + fenced("repository instructions", guidance))
    first, *rest = messages
    return [{**first, "content": first["content"] + note}, *rest]


def fenced(source: str, text: str) -> str:
    """`text` wrapped in an <untrusted> block labelled with where it came from."""
    return f'<untrusted source="{untrusted(source)}">\n{untrusted(text)}\n</untrusted>'
