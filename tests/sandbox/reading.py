"""Read DV360 report text back in tests, with the csv module (independent of the generator)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Dv360File:
    header: list[str]
    rows: list[list[str]]
    totals: list[str]
    footer: list[list[str]]

    def column(self, header: str) -> list[str]:
        index = self.header.index(header)
        return [row[index] for row in self.rows]


def read_dv360(text: str) -> Dv360File:
    """Split a report into header, data rows, totals row and footer (after the first blank line)."""
    lines = text.split("\n")
    blank = lines.index("")
    records = list(csv.reader(io.StringIO("\n".join(lines[:blank]))))
    footer = list(csv.reader(io.StringIO("\n".join(lines[blank + 1 :]).strip("\n"))))
    return Dv360File(header=records[0], rows=records[1:-1], totals=records[-1], footer=footer)


def number(cell: str) -> Decimal | None:
    """A DV360 number cell: thousands separators removed; ``-`` and ``N/A`` are None."""
    if cell in ("-", "N/A", ""):
        return None
    return Decimal(cell.replace(",", "").rstrip("%"))
