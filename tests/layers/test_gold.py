"""Gold in a real PostgreSQL: atomic idempotent partition loads, ratios, budgets and pacing."""

from __future__ import annotations

import threading
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import psycopg
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from etl_orchestrator.domain.budgets import BudgetSegment, InsertionOrder
from etl_orchestrator.domain.errors import DataError
from etl_orchestrator.domain.partition import PartitionRef
from etl_orchestrator.lake import Lake, delta, read_partition, replace_partition
from etl_orchestrator.layers import gold
from etl_orchestrator.layers.gold import latest_gold_date, load_budgets, load_campaign_daily, recompute_pacing
from etl_orchestrator.layers.pgcopy import HEADER, TRAILER, PgColumn, encode_rows
from etl_orchestrator.layers.silver import bronze_to_silver
from etl_orchestrator.quality.rules import default_rules
from tests.factories import build_dv360_csv, dv360_row
from tests.layers.conftest import LandFile


def gold_rows(url: str, partition: PartitionRef) -> list[dict]:
    with psycopg.connect(url) as connection, connection.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        cursor.execute("SELECT * FROM gold.campaign_daily WHERE pipeline_id = %s AND date = %s ORDER BY line_item_id",
                       (partition.pipeline_id, partition.date))
        return cursor.fetchall()


def build_silver(land: LandFile, lake: Lake, partition: PartitionRef, rows: list[dict[str, str]], **kwargs) -> None:
    land(build_dv360_csv(rows), target=partition, **kwargs)
    bronze_to_silver(lake, partition, execution_id=uuid.uuid4(), rules=default_rules(), source_format="dv360")


def test_load_computes_ratios_and_nulls_them_on_zero_denominators(gold_db: str, land: LandFile, lake: Lake,
                                                                  partition: PartitionRef) -> None:
    build_silver(land, lake, partition, [
        dv360_row(line_item_id="1", impressions="2,000", clicks="10", conversions="2", media_cost="4.000000",
                  revenue="8.000000"),
        dv360_row(line_item_id="2", impressions="0", clicks="0", conversions="0", media_cost="0", revenue="0"),
        dv360_row(line_item_id="3", impressions="100", clicks="-", conversions="-", media_cost="1.5", revenue="-"),
    ])
    execution = uuid.uuid4()
    result = load_campaign_daily(gold_db, lake, partition, execution_id=execution)

    assert result.rows == 3 and result.deleted == 0 and result.tables_updated == ["campaign_daily"]
    first, zero, sparse = gold_rows(gold_db, partition)
    assert first["ctr"] == pytest.approx(0.005) and first["cpm"] == pytest.approx(2.0)
    assert first["cpc"] == pytest.approx(0.4) and first["cpa"] == pytest.approx(2.0) and first["roas"] == pytest.approx(2.0)
    assert first["spend"] == Decimal("4.000000") and first["impressions"] == 2000 and first["execution_id"] == execution
    assert first["org_id"] == partition.org_id and first["currency"] == "USD" and first["campaign_name"] == "Campaign 2001"
    assert [zero[name] for name in ("ctr", "cpm", "cpc", "cpa", "roas")] == [None] * 5
    assert sparse["clicks"] is None and sparse["ctr"] is None and sparse["cpc"] is None and sparse["roas"] is None
    assert sparse["cpm"] == pytest.approx(15.0)
    assert latest_gold_date(gold_db, pipeline_id=partition.pipeline_id) == partition.date


def test_loading_a_partition_twice_leaves_one_copy(gold_db: str, land: LandFile, lake: Lake,
                                                   partition: PartitionRef) -> None:
    rows = [dv360_row(line_item_id=str(index)) for index in range(5)]
    build_silver(land, lake, partition, rows)
    other_day = partition.model_copy(update={"date": partition.date - timedelta(days=1)})
    build_silver(land, lake, other_day, [dv360_row(line_item_id="9", report_date=other_day.date)])
    load_campaign_daily(gold_db, lake, other_day, execution_id=uuid.uuid4())
    load_campaign_daily(gold_db, lake, partition, execution_id=uuid.uuid4())
    again = load_campaign_daily(gold_db, lake, partition, execution_id=uuid.uuid4())

    assert again.deleted == 5 and again.rows == 5
    assert len(gold_rows(gold_db, partition)) == 5 and len(gold_rows(gold_db, other_day)) == 1


def test_concurrent_loads_of_the_same_partition_never_double_count(gold_db: str, land: LandFile, lake: Lake,
                                                                   partition: PartitionRef) -> None:
    build_silver(land, lake, partition, [dv360_row(line_item_id=str(index)) for index in range(200)])
    errors: list[BaseException] = []

    def load() -> None:
        try:
            load_campaign_daily(gold_db, lake, partition, execution_id=uuid.uuid4())
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(gold_rows(gold_db, partition)) == 200


def test_binary_copy_round_trips_every_type(gold_db: str) -> None:
    frame = pl.DataFrame({
        "t": ["plain", None, "ünïcødé, \"quoted\"\nnewline", ""],
        "i": [1, None, -(2**62), 0],
        "f": [1.5, None, float("inf"), -0.0],
        "n": [Decimal("123456789012.123456"), None, Decimal("-0.000001"), Decimal("0")],
    }, schema={"t": pl.String, "i": pl.Int64, "f": pl.Float64, "n": pl.Decimal(20, 6)})
    columns = [PgColumn("t", "text"), PgColumn("i", "int8"), PgColumn("f", "float8"), PgColumn("n", "numeric6")]
    constants = [("int4", 7), ("uuid", uuid.UUID(int=5)), ("date", date(1999, 12, 31))]
    with psycopg.connect(gold_db) as connection:
        connection.execute("CREATE TEMP TABLE copy_check (c_int int, c_uuid uuid, c_date date, t text, i bigint,"
                           " f float8, n numeric(20, 6))")
        with connection.cursor().copy("COPY copy_check FROM STDIN (FORMAT binary)") as copy:
            copy.write(HEADER)
            copy.write(encode_rows(frame, columns, constants))
            copy.write(TRAILER)
        back = connection.execute("SELECT * FROM copy_check").fetchall()
    assert back == [
        (7, uuid.UUID(int=5), date(1999, 12, 31), "plain", 1, 1.5, Decimal("123456789012.123456")),
        (7, uuid.UUID(int=5), date(1999, 12, 31), None, None, None, None),
        (7, uuid.UUID(int=5), date(1999, 12, 31), "ünïcødé, \"quoted\"\nnewline", -(2**62), None, Decimal("-0.000001")),
        (7, uuid.UUID(int=5), date(1999, 12, 31), "", 0, -0.0, Decimal("0.000000")),
    ]


def io(io_id: str, *, currency: str | None = "USD", unit: str = "BUDGET_UNIT_CURRENCY", amount: str = "1000",
       pacing_type: str = "PACING_TYPE_EVEN", segments: int = 1) -> InsertionOrder:
    start = date(2026, 1, 7)
    return InsertionOrder(
        advertiser_id="1001", insertion_order_id=io_id, display_name=f"IO {io_id}", currency=currency, budget_unit=unit,
        pacing_type=pacing_type,
        segments=tuple(BudgetSegment(amount=Decimal(amount), start_date=start + timedelta(days=10 * index),
                                     end_date=start + timedelta(days=10 * index + 9)) for index in range(segments)))


def test_budgets_upsert_and_pacing_excludes_other_currencies(gold_db: str, lake: Lake, land: LandFile,
                                                             partition: PartitionRef) -> None:
    org, pipeline = partition.org_id, partition.pipeline_id
    assert load_budgets(gold_db, org_id=org, pipeline_id=pipeline, insertion_orders=[io("A", segments=2), io("B")]) == 3
    assert load_budgets(gold_db, org_id=org, pipeline_id=pipeline, insertion_orders=[
        io("A", amount="500"), io("B", unit="BUDGET_UNIT_IMPRESSIONS", amount="10000", currency=None)]) == 2

    # Silver built directly: IO "A" spends 100/day in USD for 4 days plus one EUR row the filter must skip.
    for offset in range(4):
        day = partition.model_copy(update={"date": date(2026, 1, 7) + timedelta(days=offset)})
        rows = [dv360_row(report_date=day.date, insertion_order_id="A", line_item_id="1", media_cost="100",
                          impressions="1000"),
                dv360_row(report_date=day.date, insertion_order_id="B", line_item_id="2", media_cost="1",
                          impressions="500")]
        build_silver(land, lake, day, rows)
        load_campaign_daily(gold_db, lake, day, execution_id=uuid.uuid4())
    euro_day = partition.model_copy(update={"date": date(2026, 1, 8)})
    # The EUR row goes straight into gold (and into the per-IO totals the loader keeps beside it):
    # Silver would have quarantined it (advertiser currency).
    with psycopg.connect(gold_db) as connection:
        connection.execute(
            "INSERT INTO gold.campaign_daily (org_id, pipeline_id, date, source, advertiser_id, campaign_id,"
            " insertion_order_id, line_item_id, currency, impressions, clicks, spend)"
            " VALUES (%s, %s, %s, 'dv360', '1001', '2001', 'A', '3', 'EUR', 99, 0, 999)", (org, pipeline, euro_day.date))
        connection.execute(
            "INSERT INTO gold.insertion_order_daily (org_id, pipeline_id, insertion_order_id, date, currency, spend,"
            " impressions, rows) VALUES (%s, %s, 'A', %s, 'EUR', 999, 99, 1)", (org, pipeline, euro_day.date))

    written = recompute_pacing(gold_db, org_id=org, pipeline_id=pipeline, as_of=date(2026, 1, 10),
                               execution_id=uuid.uuid4())
    assert written == 2
    with psycopg.connect(gold_db) as connection, connection.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        cursor.execute("SELECT * FROM gold.pacing_metrics WHERE pipeline_id = %s ORDER BY insertion_order_id", (pipeline,))
        a, b = cursor.fetchall()
    assert (a["segment_index"], a["budget"], a["days_elapsed"], a["flight_days"]) == (0, Decimal("500.000000"), 4, 10)
    assert a["spend_to_date"] == Decimal("400.000000") and a["excluded_rows"] == 1 and a["currency"] == "USD"
    assert a["expected_spend_to_date"] == Decimal("200.000000") and a["pacing_pct"] == pytest.approx(200.0)
    assert a["status"] == "over" and a["projected_spend"] == Decimal("1000.000000")
    assert b["budget_unit"] == "BUDGET_UNIT_IMPRESSIONS" and b["spend_to_date"] == Decimal("2000")
    assert b["pacing_pct"] == pytest.approx(50.0) and b["status"] == "under" and b["excluded_rows"] == 0

    only_b = recompute_pacing(gold_db, org_id=org, pipeline_id=pipeline, as_of=date(2026, 1, 20),
                              insertion_order_ids=["B"])
    assert only_b == 1
    with psycopg.connect(gold_db) as connection:
        rows = connection.execute("SELECT insertion_order_id, as_of_date FROM gold.pacing_metrics"
                                  " WHERE pipeline_id = %s ORDER BY 1", (pipeline,)).fetchall()
    assert rows == [("A", date(2026, 1, 10)), ("B", date(2026, 1, 20))]


def test_an_empty_silver_partition_empties_gold(gold_db: str, land: LandFile, lake: Lake,
                                                partition: PartitionRef) -> None:
    build_silver(land, lake, partition, [dv360_row(line_item_id="1")])
    load_campaign_daily(gold_db, lake, partition, execution_id=uuid.uuid4())
    replace_partition(lake.silver, partition, pl.DataFrame(schema={"line_item_id": pl.String}))
    result = load_campaign_daily(gold_db, lake, partition, execution_id=uuid.uuid4())
    assert (result.rows, result.deleted) == (0, 1) and gold_rows(gold_db, partition) == []


def test_latest_gold_date_is_the_newest_loaded_day(gold_db: str, land: LandFile, lake: Lake,
                                                   partition: PartitionRef) -> None:
    assert latest_gold_date(gold_db, pipeline_id=partition.pipeline_id) is None
    older = partition.model_copy(update={"date": partition.date - timedelta(days=900)})
    for day in (partition, older):  # the newest first: loading an older day must not move it back
        build_silver(land, lake, day, [dv360_row(report_date=day.date, line_item_id="1")])
        load_campaign_daily(gold_db, lake, day, execution_id=uuid.uuid4())
        assert latest_gold_date(gold_db, pipeline_id=partition.pipeline_id) == partition.date


def test_insertion_order_totals_follow_every_replace_of_the_partition(gold_db: str, lake: Lake, land: LandFile,
                                                                      partition: PartitionRef) -> None:
    def totals() -> list[tuple]:
        with psycopg.connect(gold_db) as connection:
            return connection.execute(
                "SELECT insertion_order_id, currency, spend, impressions, rows FROM gold.insertion_order_daily"
                " WHERE pipeline_id = %s AND date = %s ORDER BY 1", (partition.pipeline_id, partition.date)).fetchall()

    def from_line_items() -> list[tuple]:
        with psycopg.connect(gold_db) as connection:
            return connection.execute(
                "SELECT insertion_order_id, currency, sum(spend), sum(impressions), count(*) FROM gold.campaign_daily"
                " WHERE pipeline_id = %s AND date = %s GROUP BY 1, 2 ORDER BY 1",
                (partition.pipeline_id, partition.date)).fetchall()

    first = [dv360_row(report_date=partition.date, insertion_order_id="A", line_item_id=str(n), media_cost="10",
                       impressions="100") for n in range(3)]
    build_silver(land, lake, partition, first)
    load_campaign_daily(gold_db, lake, partition, execution_id=uuid.uuid4())
    assert totals() == from_line_items() == [("A", "USD", Decimal("30.000000"), 300, 3)]

    restated = [dv360_row(report_date=partition.date, insertion_order_id="B", line_item_id="9", media_cost="7",
                          impressions="70")]
    build_silver(land, lake, partition, restated)
    load_campaign_daily(gold_db, lake, partition, execution_id=uuid.uuid4())
    assert totals() == from_line_items() == [("B", "USD", Decimal("7.000000"), 70, 1)]


@pytest.mark.parametrize(("inline_max_rows", "whole_file_rows"), [(gold.INLINE_MAX_ROWS, delta.WHOLE_FILE_ROWS), (0, 0)],
                         ids=["encoded first, file read whole", "encoder thread, file read in batches"])
def test_a_silver_file_that_cannot_be_read_fails_the_load_and_keeps_the_previous_one(
        gold_db: str, land: LandFile, lake: Lake, partition: PartitionRef, monkeypatch: pytest.MonkeyPatch,
        inline_max_rows: int, whole_file_rows: int) -> None:
    # Silver is read and encoded before the COPY or, when larger, in a thread ahead of it; a small file
    # is read whole by Polars, a large one in batches by pyarrow: either way its errors must fail the
    # load, atomically.
    monkeypatch.setattr(gold, "INLINE_MAX_ROWS", inline_max_rows)
    monkeypatch.setattr(delta, "WHOLE_FILE_ROWS", whole_file_rows)
    build_silver(land, lake, partition, [dv360_row(line_item_id=str(index)) for index in range(3)])
    load_campaign_daily(gold_db, lake, partition, execution_id=uuid.uuid4())
    build_silver(land, lake, partition, [dv360_row(line_item_id="1")])
    (silver_file,) = DeltaTable(lake.silver).file_uris(partition_filters=[
        ("pipeline_id", "=", str(partition.pipeline_id)), ("date", "=", partition.date.isoformat())])
    Path(silver_file).write_bytes(b"not a parquet file")

    with pytest.raises(pa.ArrowInvalid if whole_file_rows == 0 else pl.exceptions.ComputeError):
        load_campaign_daily(gold_db, lake, partition, execution_id=uuid.uuid4())
    assert [row["line_item_id"] for row in gold_rows(gold_db, partition)] == ["0", "1", "2"]


def test_a_value_postgresql_rejects_fails_the_load_and_keeps_the_previous_one(
        gold_db: str, land: LandFile, lake: Lake, partition: PartitionRef) -> None:
    build_silver(land, lake, partition, [dv360_row(line_item_id=str(index)) for index in range(3)])
    load_campaign_daily(gold_db, lake, partition, execution_id=uuid.uuid4())
    build_silver(land, lake, partition, [dv360_row(line_item_id="1")])
    # A NUL character: Silver keeps it (a string is a string), PostgreSQL's text cannot hold it.
    silver = read_partition(lake.silver, partition)
    replace_partition(lake.silver, partition, silver.with_columns(pl.lit("bad\x00name").alias("line_item_name")))

    with pytest.raises(DataError, match="0x00"):
        load_campaign_daily(gold_db, lake, partition, execution_id=uuid.uuid4())
    assert [row["line_item_id"] for row in gold_rows(gold_db, partition)] == ["0", "1", "2"]
