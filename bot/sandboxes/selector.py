"""Narrowing the repository's test command to the tests an agent asks for (the Coder's `run_tests`).

The selector is written by the model, which read attacker-written files: it is data, never shell
text. Only a plain pytest command (`testresults.is_plain_pytest`: one pytest command, no shell
syntax) is narrowed, by appending arguments, each checked against a strict form and shell-quoted
on its own:

* `""`: the whole command, unchanged (the only selector for any other runner);
* `-k EXPRESSION`: `-k` and the expression (letters, digits, `_ . - [ ] ( )` and spaces);
* otherwise up to `MAX_IDS` node ids separated by spaces: a relative path of the tree
  (`tests/test_x.py`, a folder), optionally with `::Class::test[param]` parts.

Nothing the model writes can become an option of pytest or of anything else: an id never starts
with `-` or `@` (pytest reads arguments from an `@file`), never holds `..`, a leading `/` or a control
character (a line break), and every argument is quoted (`shlex.quote`), so `;`, `$(...)` and quotes
cannot reach a shell.
"""

from __future__ import annotations

import re
import shlex

from bot.sandboxes.testresults import is_plain_pytest

MAX_IDS = 20
MAX_SELECTOR_CHARS = 2000
_PATH = r"[A-Za-z0-9_][A-Za-z0-9_./-]*"
_PART = r"[A-Za-z0-9_.\[\]()=,+-]+"
NODE_ID = re.compile(rf"{_PATH}(::{_PART})*")
KEYWORD = re.compile(r"[A-Za-z0-9_.\[\]() -]{1,200}")


class SelectorError(ValueError):
    """A selector that is refused; the message says why, for the model."""


def narrowing(command: str, selector: str) -> tuple[str, ...]:
    """The arguments that narrow `command` to `selector` (empty: the whole command); SelectorError if refused."""
    selector = selector.strip()
    if not selector:
        return ()
    if len(selector) > MAX_SELECTOR_CHARS:
        raise SelectorError(f"the selector is longer than {MAX_SELECTOR_CHARS} characters")
    if not selector.isprintable():
        raise SelectorError("the selector holds a line break or another control character")
    if not is_plain_pytest(command):
        raise SelectorError(f"the test command `{command}` cannot be narrowed (only a plain pytest command can): "
                            "call run_tests with an empty selector to run the whole command")
    if selector.startswith("-k "):
        return _keyword(selector[3:].strip())
    return _node_ids(selector.split())


def narrowed(command: str, arguments: tuple[str, ...]) -> str:
    """`command` with `arguments` appended, each quoted as one shell word."""
    return " ".join([command, *(shlex.quote(argument) for argument in arguments)])


def _keyword(expression: str) -> tuple[str, ...]:
    if not KEYWORD.fullmatch(expression) or re.search(r"(^|\s)-", expression):
        raise SelectorError("a -k expression may hold letters, digits, spaces and `_ . - [ ] ( )`, and no word of "
                            "it may start with `-`")
    return ("-k", expression)


def _node_ids(ids: list[str]) -> tuple[str, ...]:
    if len(ids) > MAX_IDS:
        raise SelectorError(f"at most {MAX_IDS} test ids per run")
    for node in ids:
        if not NODE_ID.fullmatch(node):
            raise SelectorError(f"{node[:80]!r} is not a test id (`path/to/test_file.py::test_name`, relative to "
                                "the repository) nor `-k EXPRESSION`")
        if ".." in node.split("::")[0].split("/"):
            raise SelectorError(f"{node[:80]!r}: a test id may not leave the repository (`..`)")
    return tuple(ids)
