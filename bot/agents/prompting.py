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


def fenced(source: str, text: str) -> str:
    """`text` wrapped in an <untrusted> block labelled with where it came from."""
    return f'<untrusted source="{untrusted(source)}">\n{untrusted(text)}\n</untrusted>'
