"""The editing tools the Coder and the Tester get: view, search, replace, write (small files), create, delete.

Every edit goes through `bot.workspace.edits`, which verifies it at once (applies exactly once, the
file still parses, the path is in scope and not blocked); a refused edit is returned to
the model as text with what failed and the closest match. The session remembers which
paths were changed, so the patch of a phase is exactly what the tools did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

from bot.agents.planner import SearchArgs, search_code
from bot.models.client import Tool
from bot.workspace import edits
from bot.workspace.git import Git


class ViewArgs(BaseModel):
    """Arguments of `view_file`."""

    path: str
    start_line: int = Field(1, ge=1)
    end_line: int | None = Field(None, ge=1)


class ReplaceArgs(BaseModel):
    """Arguments of `replace_text`."""

    path: str
    old_text: str = Field(description="Exact text to replace; must occur exactly once in the file")
    new_text: str


class CreateArgs(BaseModel):
    """Arguments of `create_file`."""

    path: str
    content: str


class WriteArgs(BaseModel):
    """Arguments of `write_file`."""

    path: str
    content: str = Field(description="The whole new content of the file")


class DeleteArgs(BaseModel):
    """Arguments of `delete_file`."""

    path: str


@dataclass
class EditSession:
    """Tools bound to one work tree and scope; records what they changed."""

    root: Path
    scope: edits.Scope
    on_edit: Callable[[str, str], None] = lambda path, action: None
    touched: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    git: Git | None = None  # searches the tree (the worker's, reading as its unprivileged user)

    def tools(self) -> list[Tool]:
        """The tool list for the model client."""
        return [
            Tool("view_file", "Show numbered lines of a file.", ViewArgs,
                 lambda a: edits.view(self.root, a.path, a.start_line, a.end_line)),
            Tool("search_code", "Search tracked files for a literal string.", SearchArgs,
                 lambda a: search_code(self.root, a.query, self.git)),
            Tool("replace_text", "Replace an exact, unique piece of text in a file.", ReplaceArgs,
                 lambda a: self._apply(lambda: edits.replace(self.root, self.scope, a.path, a.old_text,
                                                             a.new_text))),
            Tool("write_file", f"Replace the whole content of a small file (up to {edits.WRITE_MAX_LINES} lines "
                 f"and {edits.WRITE_MAX_BYTES:,} bytes; larger files: replace_text).", WriteArgs,
                 lambda a: self._apply(lambda: edits.write(self.root, self.scope, a.path, a.content))),
            Tool("create_file", "Create a new file with the given content.", CreateArgs,
                 lambda a: self._apply(lambda: edits.create(self.root, self.scope, a.path, a.content))),
            Tool("delete_file", "Delete a file the plan says to delete.", DeleteArgs,
                 lambda a: self._apply(lambda: edits.delete(self.root, self.scope, a.path))),
        ]

    def _apply(self, edit: Callable[[], edits.EditResult]) -> str:
        try:
            result = edit()
        except edits.EditError as exc:
            self.refused.append(str(exc))
            return f"Edit refused: {exc}"
        if result.path not in self.touched:
            self.touched.append(result.path)
        self.on_edit(result.path, result.action)
        note = f" ({result.note})" if result.note else ""
        return f"Applied {result.action} to {result.path}{note}:\n{result.diff[:4000]}"
