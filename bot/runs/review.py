"""The Reviewer's verdict on a change: a neutral type (the Reviewer writes it, reports and the flow read it)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Finding(BaseModel):
    """One problem or remark about the change."""

    severity: Literal["blocker", "major", "minor", "nit"]
    file: str
    line: int = Field(0, description="Line in the new file, 0 when not about one line")
    message: str
    missing: bool = Field(False, description="True when the finding names a change that is missing from the diff "
                                             "(nothing in it to point at); `file` is where it belongs")


class Review(BaseModel):
    """The Reviewer's verdict."""

    verdict: Literal["approve", "request_changes"]
    summary: str
    findings: list[Finding]

    def must_change(self) -> list[Finding]:
        """Findings that block approval."""
        return [f for f in self.findings if f.severity in ("blocker", "major")]

    def as_feedback(self) -> str:
        """The findings as text for the Coder."""
        return "\n".join(f"- [{f.severity}] {f.file}:{f.line}{' (missing)' if f.missing else ''} {f.message}"
                         for f in self.findings)
