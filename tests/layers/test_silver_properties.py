"""For every messy DV360 file: bronze rows == silver rows + quarantined rows + removed duplicates."""

from __future__ import annotations

import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl_orchestrator.domain.partition import PartitionRef
from etl_orchestrator.domain.schema import GRAIN
from etl_orchestrator.lake import Lake, partition_row_count, read_partition
from etl_orchestrator.layers.bronze import land_to_bronze
from etl_orchestrator.layers.silver import bronze_to_silver
from etl_orchestrator.quality.rules import default_rules
from tests.factories import DEFAULT_FOOTER, DV360_HEADER_DRIFT, build_dv360_csv, dv360_row
from tests.layers.conftest import INGESTED_AT, REPORT_DATE

ids = st.sampled_from(["1", "2", "3", "", "-", "Unknown"])
integers = st.one_of(
    st.integers(-50, 2_000_000).map(str),
    st.integers(0, 2_000_000).map(lambda value: f"{value:,}"),
    st.sampled_from(["-", "", "abc", "1.5", "12.0", " 7 "]),
)
money = st.one_of(
    st.decimals(-100, 10_000, places=6, allow_nan=False).map(str),
    st.sampled_from(["-", "", "x", "1,234.5", "0"]),
)
currencies = st.sampled_from(["USD", "USD", "USD", "EUR", "ZZZ", "", "usd"])
dates = st.sampled_from([REPORT_DATE, REPORT_DATE, REPORT_DATE, REPORT_DATE - timedelta(days=1)])


@st.composite
def messy_rows(draw: st.DrawFn) -> list[dict[str, str]]:
    rows = []
    for _ in range(draw(st.integers(0, 25))):
        row = dv360_row(
            report_date=draw(dates), advertiser_id=draw(st.sampled_from(["1001", "1002", ""])),
            currency=draw(currencies), campaign_id=draw(ids), insertion_order_id=draw(ids), line_item_id=draw(ids),
            impressions=draw(integers), clicks=draw(integers), conversions=draw(integers), media_cost=draw(money),
            revenue=draw(money))
        if draw(st.booleans()) and draw(st.booleans()):
            row["Date"] = draw(st.sampled_from(["not a date", "", "2026-01-16", "16/01/2026"]))
        rows.append(row)
    if rows and draw(st.booleans()):
        rows += draw(st.lists(st.sampled_from(rows), max_size=5))  # re-delivered rows
    return rows


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=messy_rows(), drift=st.booleans(), totals=st.sampled_from(["right", "wrong", "none"]),
       footer=st.lists(st.sampled_from(DEFAULT_FOOTER + ("", "Note, with a comma")), max_size=6))
def test_every_bronze_row_is_silver_quarantined_or_a_removed_duplicate(
        rows: list[dict[str, str]], drift: bool, totals: str, footer: list[str]) -> None:
    partition = PartitionRef(org_id=3, pipeline_id=uuid.uuid4(), date=REPORT_DATE)
    # A file without totals row whose last row has every dimension empty would be read as totals:
    # DV360 always writes the totals row, so such a file is not realistic.
    with_totals = totals != "none" or not rows or any(rows[-1][key] for key in ("Date", "Advertiser ID"))
    content = build_dv360_csv(
        rows, rename=DV360_HEADER_DRIFT if drift else None,
        totals={"Impressions": "1"} if totals == "wrong" else (True if with_totals else False),
        footer=[line for line in footer if line.strip()] if footer else ())
    with tempfile.TemporaryDirectory() as directory:
        lake = Lake(Path(directory) / "lake")
        path = Path(directory) / "report.csv"
        path.write_bytes(content)
        bronze = land_to_bronze(lake, partition, execution_id=uuid.uuid4(), source_format="dv360", raw_path=path,
                                ingested_at=INGESTED_AT)
        result = bronze_to_silver(lake, partition, execution_id=uuid.uuid4(), rules=default_rules(),
                                  totals=bronze.totals)

        assert bronze.records == len(rows) == result.records_in
        assert result.records_in == result.records_out + result.quarantined + result.duplicates_removed
        assert partition_row_count(lake.silver, partition) == result.records_out
        assert partition_row_count(lake.quarantine, partition) == result.quarantined
        silver = read_partition(lake.silver, partition)
        if silver is not None:
            assert silver.select(GRAIN).is_duplicated().sum() == 0
            assert silver.select(pl.col(GRAIN).null_count()).sum_horizontal().item() == 0
            assert (silver["date"] == REPORT_DATE).all()
