"""Problems found in user data, each naming the file, row and column at fault."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file.

    Attributes:
        file: The file at fault (a table, a manifest or an image).
        message: What is wrong, in words a user can act on.
        row: 1-based data row (the header is not counted), or None for whole-file problems.
        column: The column at fault, or None.
    """

    file: Path | str
    message: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = str(self.file)
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"


class DataError(ValueError):
    """Raised when input data breaks its contract; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        shown = "\n".join(f"  {p}" for p in self.problems[:20])
        more = len(self.problems) - 20
        if more > 0:
            shown += f"\n  ... and {more} more"
        super().__init__(f"{len(self.problems)} problem(s) in the input:\n{shown}")
