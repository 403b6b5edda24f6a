"""Report generation: a day's numbers per line item, bad rows, and the chunked CSV writer.

Everything is vectorised with Polars: numbers are hashes of (seed, row, day, purpose) — see
``hashing.py`` — so the same advertiser, date and seed always give the same rows. Inside the
restatement window (the last 7 days of the sandbox's today) numbers drift by up to ±3 %, keyed by
the *pull number* of that date, so each re-pull differs deterministically and older days never move.

Money is integer micros of the advertiser's currency and consistent by construction:
revenue = total media cost + margin ≥ total media cost = media cost + fees ≥ media cost.

A report *layout* (``dv360_report.py``, ``ttd_report.py``) says how rows become text; this module
writes any layout as part files of at most 262,144 rows, two at a time on worker threads, so a
million-row day never exists as one string and both cores work on it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

import polars as pl
import polars.selectors as cs

from etl_orchestrator.sandbox.faults import BadRows, RowFault
from etl_orchestrator.sandbox.hashing import keyed, salt, uniform
from etl_orchestrator.sandbox.hierarchy import Advertiser, Hierarchy
from etl_orchestrator.sandbox.numbers import fits_tables

COUNT_COLUMNS = [
    "impressions",
    "billable_impressions",
    "clicks",
    "post_click_conversions",
    "post_view_conversions",
    "total_conversions",
]
MICROS_COLUMNS = ["media_cost", "total_media_cost", "revenue"]
RESTATEMENT_DAYS = 7
MAX_DRIFT = 0.03
UNKNOWN_CURRENCY = "XXZ"
NOT_A_NUMBER = "N/A"
_WEEKDAY_FACTORS = (1.02, 1.04, 1.05, 1.03, 1.0, 0.93, 0.93)  # Monday first; they average 1
_CHUNK_ROWS = 262_144


@dataclass(frozen=True)
class DayPlan:
    """One report date and the pull that decides its drift (``None``: final numbers, no drift)."""

    day: date
    drift_pull: int | None = None
    age_days: int = RESTATEMENT_DAYS


def plan_day(day: date, *, today: date, pull: int, drift: bool) -> DayPlan:
    """Whether ``day`` is still being restated as of ``today``, and by which pull."""
    age = (today - day).days
    restated = drift and 0 <= age < RESTATEMENT_DAYS
    return DayPlan(day=day, drift_pull=pull if restated else None, age_days=age)


def _draws(hashed: str, names: tuple[str, ...]) -> list[pl.Expr]:
    """Up to four uniforms in [0, 1) from one 64-bit hash column, 16 bits each: noise needs no more,
    and hashing is the expensive part."""
    return [
        (pl.col(hashed) // 2 ** (16 * index) % 65_536).cast(pl.Float64).mul(1 / 65_536).alias(name)
        for index, name in enumerate(names)
    ]


def day_metrics(line_items: pl.DataFrame, plan: DayPlan, seed: int) -> pl.DataFrame:
    """Add one day's metrics (Int64 counts, Int64 micros) to the line items.

    Computed in stages, each materialised once: Polars would otherwise re-evaluate a shared
    sub-expression (a hash, the impressions) in every expression that uses it.
    """
    ordinal = plan.day.toordinal()
    row = pl.col("row")
    hashes = {"_h1": keyed(row, salt(seed, 100, ordinal)), "_h2": keyed(row, salt(seed, 101, ordinal))}
    if plan.drift_pull is not None:
        hashes["_h3"] = keyed(row, salt(seed, 200, ordinal, plan.drift_pull))
    noise = [
        *_draws("_h1", ("_volume", "_billable", "_click", "_cost")),
        *_draws("_h2", ("_post_click", "_post_view")),
    ]
    volume = (
        pl.col("base_impressions") * _WEEKDAY_FACTORS[plan.day.weekday()] * (0.75 + 0.5 * pl.col("_volume"))
    )
    if plan.drift_pull is not None:
        weight = MAX_DRIFT * (RESTATEMENT_DAYS - plan.age_days) / RESTATEMENT_DAYS
        noise += _draws("_h3", ("_drift",))
        volume = volume * (1 + weight * (2 * pl.col("_drift") - 1))
    impressions, clicks, media_cost = pl.col("impressions"), pl.col("clicks"), pl.col("media_cost")
    tracked = pl.col("conversions_tracked")
    return (
        line_items.with_columns(**hashes)
        .with_columns(noise)
        .with_columns(
            impressions=volume.floor().cast(pl.Int64),
        )
        .with_columns(
            billable_impressions=impressions - (impressions * 0.03 * pl.col("_billable")).cast(pl.Int64),
            clicks=(impressions * pl.col("click_rate") * (0.5 + pl.col("_click"))).cast(pl.Int64),
            media_cost=(impressions * pl.col("cpm_micros") * (0.9 + 0.2 * pl.col("_cost")) / 1000).cast(
                pl.Int64
            ),
            post_view_conversions=pl.when(tracked).then(
                (impressions * pl.col("post_view_rate") * (0.5 + pl.col("_post_view"))).cast(pl.Int64)
            ),
        )
        .with_columns(
            post_click_conversions=pl.when(tracked).then(
                (clicks * pl.col("post_click_rate") * (0.5 + pl.col("_post_click"))).cast(pl.Int64)
            ),
            total_media_cost=media_cost + (media_cost * pl.col("fee_rate")).cast(pl.Int64),
        )
        .with_columns(
            total_conversions=pl.col("post_click_conversions") + pl.col("post_view_conversions"),
            revenue=pl.col("total_media_cost")
            + (pl.col("total_media_cost") * pl.col("margin_rate")).cast(pl.Int64),
        )
        .drop(cs.starts_with("_"))
    )


# -- bad rows ---------------------------------------------------------------------------------------


def _selected(frame: pl.DataFrame, fault: RowFault, salt_value: int) -> pl.Series:
    """Rows hit by one kind of defect: the ``count`` rows with the smallest hash, plus a seeded rate."""
    key = keyed(pl.col("row"), salt_value)
    mask = uniform(pl.col("row"), salt_value ^ 1) < fault.rate
    if fault.count:
        chosen = frame.select(pl.col("row").bottom_k_by(key, k=min(fault.count, frame.height))).to_series()
        mask = mask | pl.col("row").is_in(chosen.implode())
    return frame.select(mask.alias("hit")).to_series()


def apply_bad_rows(
    frame: pl.DataFrame,
    bad_rows: BadRows,
    *,
    seed: int,
    day: date,
    rerender: Callable[[pl.DataFrame], pl.Series],
) -> pl.DataFrame:
    """Write the scripted defects into one day's rows. ``rerender`` renders the dimension block of
    rows whose ids or currency changed (the block of untouched rows stays cached)."""
    if frame.is_empty() or not bad_rows.active:
        return frame.with_columns(non_numeric=pl.lit(False))
    ordinal = day.toordinal()
    hits = {
        name: _selected(frame, getattr(bad_rows, name), salt(seed, 300, ordinal, index))
        for index, name in enumerate(BadRows.model_fields)
        if getattr(bad_rows, name).active
    }
    frame = frame.with_columns(
        non_numeric=hits.get("non_numeric", pl.repeat(False, frame.height, eager=True))
    )
    if "non_numeric" in hits:
        frame = frame.with_columns(
            impressions=pl.when(pl.col("non_numeric")).then(None).otherwise("impressions")
        )
    if "negative" in hits:
        negative = hits["negative"]
        frame = frame.with_columns(
            pl.when(negative).then(-pl.col(name)).otherwise(pl.col(name)).alias(name)
            for name in MICROS_COLUMNS
        )
    changed = pl.repeat(False, frame.height, eager=True)
    if "missing_ids" in hits:
        frame = frame.with_columns(
            line_item_id=pl.when(hits["missing_ids"]).then(pl.lit("")).otherwise("line_item_id")
        )
        changed = changed | hits["missing_ids"]
    if "unknown_currency" in hits:
        frame = frame.with_columns(
            currency=pl.when(hits["unknown_currency"]).then(pl.lit(UNKNOWN_CURRENCY)).otherwise("currency")
        )
        changed = changed | hits["unknown_currency"]
    if changed.any():
        positions = changed.arg_true()
        block = frame.get_column("block").clone()
        block.scatter(positions, rerender(frame[positions]))
        frame = frame.with_columns(block=block)
    if "duplicates" in hits:
        # The copy follows its original, as a re-delivered row does.
        order = pl.concat(
            [pl.int_range(frame.height, eager=True, dtype=pl.UInt32), hits["duplicates"].arg_true()]
        ).sort()
        frame = frame[order]
    return frame


# -- writing ----------------------------------------------------------------------------------------


class ReportLayout(Protocol):
    """How one report format turns rows into text."""

    @property
    def block_key(self) -> tuple[str, ...]:
        """Identifies the dimension block (layouts with equal keys render equal blocks)."""

    def header(self) -> str:
        """The first line(s), with their newline."""

    def dimension_block(self, line_items: pl.DataFrame) -> pl.Series:
        """The static dimension cells of each row (without the date), joined and CSV-escaped."""

    def cells(self, day: date, *, fast: bool) -> list[pl.Expr]:
        """Expressions for the cells of a row, in order, from ``block`` and the metric columns."""

    def trailer(self, sums: dict[str, int]) -> str:
        """What follows the data rows (DV360: totals row, blank line, footer)."""


@dataclass(frozen=True)
class ReportFile:
    """A generated report: the concatenation of ``parts`` (header, data chunks, trailer) is the file.

    Keeping the chunks as separate files lets two threads write them at once and lets a download
    stream them without ever joining them.
    """

    parts: tuple[Path, ...]
    part_sizes: tuple[int, ...]
    rows: int
    size: int
    sums: dict[str, int]

    def exists(self) -> bool:
        return all(part.exists() for part in self.parts)

    def delete(self) -> None:
        for part in self.parts:
            part.unlink(missing_ok=True)


def csv_cell(text: pl.Expr) -> pl.Expr:
    """Quote a text cell when it holds a separator, quote or newline (RFC 4180)."""
    needs_quotes = text.str.contains(r'[,"\n]')
    return (
        pl.when(needs_quotes)
        .then(pl.lit('"') + text.str.replace_all('"', '""', literal=True) + pl.lit('"'))
        .otherwise(text)
    )


def _chunks(frame: pl.DataFrame) -> Iterator[pl.DataFrame]:
    for offset in range(0, frame.height, _CHUNK_ROWS):
        yield frame.slice(offset, _CHUNK_ROWS)


def _write_chunk(path: Path, chunk: pl.DataFrame, layout: ReportLayout, day: date) -> None:
    fast = fits_tables(chunk, COUNT_COLUMNS, MICROS_COLUMNS)
    chunk.select(layout.cells(day, fast=fast)).write_csv(
        path, include_header=False, quote_style="never", null_value="-", batch_size=_CHUNK_ROWS
    )


def write_report(
    directory: Path,
    *,
    layout: ReportLayout,
    rows: pl.DataFrame,
    days: Iterable[DayPlan],
    bad_rows: BadRows,
    seed: int,
    today: date,
    threads: int = 2,
) -> ReportFile:
    """Write a whole report as part files in ``directory`` (created). ``rows`` are the selected
    line items with their ``block`` column (see ``BlockCache``)."""
    directory.mkdir(parents=True, exist_ok=True)
    sums = dict.fromkeys(COUNT_COLUMNS + MICROS_COLUMNS, 0)
    row_count = 0
    header = directory / "0-header.csv"
    header.write_bytes(layout.header().encode())
    parts = [header]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="report-chunk") as pool:
        pending: deque[Future[None]] = deque()
        for plan in days:
            if plan.day > today or rows.is_empty():
                continue  # DSPs report nothing for days that have not happened yet
            frame = apply_bad_rows(
                day_metrics(rows, plan, seed),
                bad_rows,
                seed=seed,
                day=plan.day,
                rerender=layout.dimension_block,
            )
            day_sums = frame.select(pl.col(COUNT_COLUMNS + MICROS_COLUMNS).sum()).row(0, named=True)
            for name, value in day_sums.items():
                sums[name] += value
            row_count += frame.height
            for chunk in _chunks(frame):
                while len(pending) >= 2 * threads:  # bound the chunks held in memory on long ranges
                    pending.popleft().result()
                parts.append(directory / f"1-data-{len(parts):05d}.csv")
                pending.append(pool.submit(_write_chunk, parts[-1], chunk, layout, plan.day))
        for future in pending:
            future.result()
    trailer = directory / "2-trailer.csv"
    trailer.write_bytes(layout.trailer(sums).encode())
    parts.append(trailer)
    sizes = tuple(part.stat().st_size for part in parts)
    return ReportFile(parts=tuple(parts), part_sizes=sizes, rows=row_count, size=sum(sizes), sums=sums)


def advertiser_rows(frame: pl.DataFrame, advertisers: list[Advertiser]) -> pl.DataFrame:
    """The rows of these advertisers from a frame aligned with the hierarchy (contiguous slices)."""
    slices = [frame.slice(adv.first_row, adv.row_count) for adv in advertisers if adv.row_count]
    if not slices:
        return frame.clear()
    return slices[0] if len(slices) == 1 else pl.concat(slices, rechunk=False)


class BlockCache:
    """Hierarchy line items with a layout's rendered dimension block, kept for the next report.

    Rendering names into CSV cells costs more than a day's numbers, and it never changes.
    """

    def __init__(self, max_entries: int = 4) -> None:
        self._entries: OrderedDict[tuple[Hashable, Hashable], pl.DataFrame] = OrderedDict()
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def rows(self, hierarchy: Hierarchy, layout: ReportLayout) -> pl.DataFrame:
        key = (hierarchy.key, layout.block_key)
        with self._lock:  # generation threads share one rendering instead of each making its own
            frame = self._entries.get(key)
            if frame is None:
                frame = hierarchy.line_items.with_columns(block=layout.dimension_block(hierarchy.line_items))
                self._entries[key] = frame
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
            self._entries.move_to_end(key)
            return frame
