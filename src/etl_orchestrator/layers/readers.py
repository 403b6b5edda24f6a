"""Reading a landing file into Bronze's shape: its data rows as strings, in file order.

Also returns what the file says about itself: the original headers, and for DV360 the totals row
(a checksum of the data rows) and the footer, which are not data.

DV360 files look like: header, data rows, a totals row (every dimension cell empty), a blank line,
then a footer of varying length. Data rows stop at the first blank line. Files up to
``IN_MEMORY_LIMIT`` bytes are mapped whole (fastest): one search finds the blank line, and Polars
parses a copy of the bytes before it. Larger ones are streamed in bounded memory: a byte scan finds
where the data ends and how many lines it has, then Polars streams exactly those rows. (DV360 never
quotes a newline inside a cell; the line count assumes it.)
"""

from __future__ import annotations

import csv
import io
import mmap
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from etl_orchestrator.domain.errors import DataError
from etl_orchestrator.layers.mappings import mapping_for, normalise_headers

IN_MEMORY_LIMIT = 384 * 1024 * 1024
SCAN_CHUNK = 16 * 1024 * 1024
BOM = b"\xef\xbb\xbf"
DELIMITERS = (",", ";", "\t", "|")


@dataclass
class RawReport:
    """A landing file's data rows (string columns named for Bronze) and what else it said."""

    data: pl.DataFrame | pl.LazyFrame
    columns: dict[str, str]  # Bronze column → header as received
    totals: dict[str, str] | None = None  # Bronze column → the totals row's cell (non-empty cells only)
    footer: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _CsvLayout:
    headers: list[str]
    delimiter: str
    header_bytes: int  # offset where the first data line starts
    data_end: int  # offset where the data rows (totals included) end
    data_lines: int | None  # lines in [header_bytes, data_end); None when not counted (file read whole)
    last_line: bytes  # the last line of the data region (the totals row candidate)
    footer: bytes


def read_landing_file(path: Path, source_format: str) -> RawReport:
    """Parse ``path`` as ``source_format``; a file that cannot be parsed at all raises ``DataError``."""
    mapping_for(source_format)  # an unknown format is a programming error, not bad data
    if not path.is_file():
        raise DataError("landing file not found", path=str(path))
    try:
        if source_format == "parquet":
            return _typed_file(pl.scan_parquet(path))
        if source_format == "jsonl":
            return _typed_file(pl.scan_ndjson(path, infer_schema_length=None))
        return _csv_file(path, stops_at_blank_line=source_format == "dv360", totals=source_format == "dv360",
                         source_format=source_format)
    except DataError:
        raise
    except (pl.exceptions.PolarsError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        raise DataError(f"could not parse the {source_format} file: {exc}", path=path.name) from exc


# -------------------------------------------------------------------------------------------- csv


def _sniff(header_line: str) -> tuple[list[str], str]:
    """The header cells and the delimiter (the candidate that splits the header into most cells)."""
    best = max(DELIMITERS, key=lambda candidate: len(next(csv.reader([header_line], delimiter=candidate))))
    return next(csv.reader([header_line], delimiter=best)), best


def _header(first: bytes, name: str) -> tuple[list[str], str, bytes]:
    """The header cells, the delimiter and the blank-line marker for a file whose first line is ``first``."""
    header_line = first.removeprefix(BOM).decode("utf-8", errors="replace").rstrip("\r\n")
    if not header_line.strip():
        raise DataError("the file has no header line", path=name)
    headers, delimiter = _sniff(header_line)
    return headers, delimiter, (b"\n\r\n" if first.endswith(b"\r\n") else b"\n\n")


_BLANK_LINE = {marker: re.compile(re.escape(marker)) for marker in (b"\n\n", b"\n\r\n")}


def _layout_of(content: mmap.mmap, *, stops_at_blank_line: bool, name: str) -> _CsvLayout:
    """``_layout`` of a file mapped whole, without counting lines (Polars parses the data region whole).

    A regex finds the blank line (faster than ``bytes.find`` on a newline-dense buffer).
    """
    header_bytes = content.find(b"\n") + 1 or len(content)
    headers, delimiter, blank = _header(content[:header_bytes], name)
    data_end, footer = len(content), b""
    if stops_at_blank_line:
        # From the header's own newline: a blank first data line is found too.
        found = _BLANK_LINE[blank].search(content, header_bytes - 1)
        if found:
            data_end = found.start() + 1
            footer = content[data_end:].lstrip(b"\r\n")
    return _CsvLayout(headers, delimiter, header_bytes, data_end, None,
                      _final_line(content, header_bytes, data_end), footer)


def _final_line(content: mmap.mmap, start: int, end: int) -> bytes:
    """The last line of ``content[start:end]``: an unterminated non-blank tail, else the last full line."""
    last_newline = content.rfind(b"\n", start, end)
    tail = content[last_newline + 1 if last_newline >= 0 else start:end]
    if tail.strip():
        return tail
    if last_newline < 0:
        return b""
    return content[max(start, content.rfind(b"\n", start, last_newline) + 1):last_newline + 1]


def _layout(path: Path, *, stops_at_blank_line: bool) -> _CsvLayout:
    """Where the data rows are, by scanning bytes in chunks (constant memory)."""
    with path.open("rb") as handle:
        first = handle.readline()
        header_bytes = len(first)
        headers, delimiter, blank = _header(first, path.name)
        line_only = blank[1:]
        offset, lines = header_bytes, 0
        carry = b""  # the incomplete line at the end of the previous chunk
        last_line = b""
        while chunk := handle.read(SCAN_CHUNK):
            buffer = carry + chunk  # starts at the beginning of a line
            stop = -1
            if stops_at_blank_line:
                if buffer.startswith(line_only):
                    stop = 0
                elif (found := buffer.find(blank)) >= 0:
                    stop = found + 1
            if stop >= 0:
                lines += buffer.count(b"\n", 0, stop)
                if stop > 0:
                    last_line = _last_line(buffer, stop)
                footer = buffer[stop:] + handle.read()
                return _CsvLayout(headers, delimiter, header_bytes, offset + stop, lines, last_line,
                                  footer.lstrip(b"\r\n"))
            complete = buffer.rfind(b"\n") + 1
            if complete:
                lines += buffer.count(b"\n", 0, complete)
                last_line = _last_line(buffer, complete)
            carry = buffer[complete:]
            offset += complete
        if carry.strip():
            lines += 1
            last_line = carry
        return _CsvLayout(headers, delimiter, header_bytes, offset + len(carry), lines, last_line, b"")


def _last_line(buffer: bytes, end: int) -> bytes:
    """The line that ends at ``end`` (which is just past its newline)."""
    start = buffer.rfind(b"\n", 0, end - 1) + 1
    return buffer[start:end]


@contextmanager
def _mapped(path: Path) -> Iterator[mmap.mmap | None]:
    """The whole file mapped read-only; None when it is empty (it cannot be mapped) or too large.

    Mapped, not read: the file's pages are already in the page cache (it was just downloaded), so
    only the data region is copied, once, for Polars. A read would copy the whole file into fresh
    memory first, and on a VM that returns freed memory to its host (this one) fresh pages cost a
    fault on the host.
    """
    if not 0 < path.stat().st_size <= IN_MEMORY_LIMIT:
        yield None
        return
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as content:
        yield content


def _csv_file(path: Path, *, stops_at_blank_line: bool, totals: bool, source_format: str) -> RawReport:
    with _mapped(path) as content:
        layout = (_layout(path, stops_at_blank_line=stops_at_blank_line) if content is None
                  else _layout_of(content, stops_at_blank_line=stops_at_blank_line, name=path.name))
        names = normalise_headers(layout.headers)
        columns = dict(zip(names, (header.strip() for header in layout.headers), strict=True))
        rows = layout.data_lines
        data_end = layout.data_end
        totals_row = None
        if totals and data_end > layout.header_bytes:
            cells = _parse_line(layout.last_line, layout.delimiter)
            if _is_totals_row(cells, names, source_format):
                totals_row = {name: cell.strip() for name, cell in zip(names, cells, strict=False) if cell.strip()}
                rows = rows - 1 if rows is not None else None
                data_end -= len(layout.last_line)
        options = dict(has_header=True, new_columns=names, separator=layout.delimiter, infer_schema=False,
                       encoding="utf8-lossy", raise_if_empty=False)
        if data_end <= layout.header_bytes or rows == 0:
            data: pl.DataFrame | pl.LazyFrame = pl.DataFrame(schema={name: pl.String for name in names})
        elif content is not None:
            # The data region is cut exactly at data_end, so Polars reads all of it: no row count needed.
            data = pl.read_csv(content[len(BOM) if content[:len(BOM)] == BOM else 0:data_end], **options)
        else:
            data = pl.scan_csv(path, n_rows=rows if stops_at_blank_line else None, **options)
    if not stops_at_blank_line:
        # A blank line inside a plain CSV is not a row (Polars reads it as an all-null row).
        data = data.filter(~pl.all_horizontal(pl.all().is_null()))
    return RawReport(data=data, columns=columns, totals=totals_row, footer=_footer(layout.footer))


def _parse_line(line: bytes, delimiter: str) -> list[str]:
    text = line.decode("utf-8", errors="replace").rstrip("\r\n")
    return next(csv.reader([text], delimiter=delimiter), [])


def _is_totals_row(cells: Sequence[str], names: Sequence[str], source_format: str) -> bool:
    """Every dimension cell is empty and some metric cell is not."""
    mapping = mapping_for(source_format)
    by_name = dict(zip(names, cells, strict=False))
    dimensions = mapping.dimension_columns(names)
    metrics = mapping.metric_columns(names).values()
    return (bool(dimensions) and all(not by_name.get(column, "").strip() for column in dimensions)
            and any(by_name.get(column, "").strip() for column in metrics))


def _footer(raw: bytes) -> dict[str, str]:
    """``Key:,value`` footer lines as a mapping; other lines (notes) under ``note_<n>``."""
    footer: dict[str, str] = {}
    notes = 0
    for cells in csv.reader(io.StringIO(raw.decode("utf-8", errors="replace"))):
        cells = [cell.strip() for cell in cells if cell.strip()]
        if not cells:
            continue
        if cells[0].endswith(":") and len(cells) > 1:
            footer[cells[0].rstrip(":").strip()] = ",".join(cells[1:])
        else:
            notes += 1
            footer[f"note_{notes}"] = ",".join(cells)
    return footer


# ------------------------------------------------------------------------------- parquet and jsonl


def _typed_file(scan: pl.LazyFrame) -> RawReport:
    """A typed file (Parquet, JSON lines) as strings: scalars by their text, nested values as JSON."""
    schema = scan.collect_schema()
    names = normalise_headers(list(schema))
    exprs = []
    for (original, dtype), name in zip(schema.items(), names, strict=True):
        column = pl.col(original)
        if dtype.is_nested():
            # {"v": …} → … : the value's own JSON.
            text = pl.struct(column.alias("v")).struct.json_encode().str.slice(5).str.head(-1)
        elif isinstance(dtype, pl.Datetime | pl.Date):
            text = column.dt.to_string()
        else:
            text = column.cast(pl.String)
        exprs.append(text.alias(name))
    return RawReport(data=scan.select(exprs), columns=dict(zip(names, schema, strict=True)))
