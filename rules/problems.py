"""A problem in a rule file, at file:line:col, and the error that lists every problem at once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    line: int
    column: int
    message: str
    source_line: str = ""

    def __str__(self) -> str:
        text = f"{self.path}:{self.line}:{self.column}: {self.message}"
        if self.source_line or self.column > 1:
            caret = " " * (self.column - 1) + "^"
            text += f"\n    {self.source_line}\n    {caret}"
        # A file name or a rules message may hold lone surrogates (undecodable bytes in a name,
        # a JSON "\ud800"): escape them, so printing or logging the problem cannot fail.
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


class RuleFileError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems
