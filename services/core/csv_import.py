"""What the CSV imports (`pulse units import`, `pulse cameras import`) share: reading a file that Excel may have
saved with a BOM, and reporting every problem at once with its line number, before anything is applied."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence


class ImportProblems(ValueError):
    """Every problem of a file, one per line, each with its line number; nothing of the file was applied."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read_rows(text: str, *, required: Sequence[str]) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header and the rows (line number, stripped values); raises ImportProblems for missing columns."""
    # newline="": the csv module reads \r, \n and \r\n line ends itself (a stray \r is not a crash).
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        columns = list(reader.fieldnames or [])
        missing = [c for c in required if c not in columns]
        if missing:
            raise ImportProblems([f"line 1: missing column(s): {', '.join(missing)}"])
        # Read it all now (files are small): a malformed line is one problem with its number, not a traceback.
        rows = [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}) for row in reader]
    except csv.Error as exc:
        raise ImportProblems([f"line {reader.line_num}: not valid CSV ({exc})"]) from None
    return columns, iter(rows)
