"""Inventory errors: every problem names the file, the line and the field."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import KentonganError


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the input, located as precisely as we can."""

    file: str
    line: int | None
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.reason}"


class ProblemList(list[Problem]):
    """The problems of one import: the first ``limit`` are kept, all are counted.

    A file with a million bad rows thus costs a counter, not a million messages.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.total = 0

    def append(self, problem: Problem) -> None:
        """Keep ``problem`` if there is room; count it in any case."""
        self.total += 1
        if len(self) < self.limit:
            super().append(problem)

    def extend(self, problems: Iterable[Problem]) -> None:
        """:meth:`append` each of ``problems``."""
        for problem in problems:
            self.append(problem)


class InventoryError(KentonganError):
    """Base class of inventory errors."""


class ImportRejected(InventoryError, ValueError):
    """The import was refused as a whole; nothing was changed."""

    def __init__(self, problems: list[Problem], *, total: int | None = None) -> None:
        self.problems = problems
        self.total = total if total is not None else len(problems)
        shown = "\n".join(str(p) for p in problems[:50])
        more = f"\n… and {self.total - 50} more" if self.total > 50 else ""
        super().__init__(f"import refused, nothing changed: {self.total} problem(s)\n{shown}{more}")
