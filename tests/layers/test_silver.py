"""Silver: mapping, rule actions, quarantine and replay, dedupe, totals checksum, content hash."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest
from deltalake import DeltaTable

from etl_orchestrator.domain.enums import RuleAction
from etl_orchestrator.domain.errors import DataError
from etl_orchestrator.domain.partition import PartitionRef
from etl_orchestrator.lake import Lake, read_partition, replace_partition
from etl_orchestrator.layers import silver as silver_module
from etl_orchestrator.layers.silver import bronze_to_silver, content_hash, list_quarantine, replay_quarantine
from etl_orchestrator.quality.rules import (
    AcceptedValuesRule,
    FreshnessRule,
    NotNullRule,
    RangeRule,
    TotalsChecksumRule,
    UniqueRule,
    VolumeAnomalyRule,
    default_rules,
)
from tests.factories import DV360_HEADER_DRIFT, build_dv360_csv, build_ttd_csv, dv360_row
from tests.lake.parquet_meta import codecs_and_statistics
from tests.layers.conftest import INGESTED_AT, REPORT_DATE, LandFile


def silver_of(lake: Lake, partition: PartitionRef) -> pl.DataFrame:
    frame = read_partition(lake.silver, partition)
    assert frame is not None
    return frame.sort("_row_number")


def run(lake: Lake, partition: PartitionRef, rules=None, **kwargs):
    return bronze_to_silver(lake, partition, execution_id=uuid.uuid4(),
                            rules=default_rules() if rules is None else rules, **kwargs)


def issue(result, rule: str):
    return next((found for found in result.issues if found.rule == rule), None)


def test_dv360_rows_map_to_the_canonical_typed_schema(land: LandFile, lake: Lake, partition: PartitionRef) -> None:
    rows = [dv360_row(impressions="1,234", clicks="-", media_cost="12.345678", revenue="20.5", conversions="1.5")]
    bronze = land(build_dv360_csv(rows, rename=DV360_HEADER_DRIFT))
    result = run(lake, partition, totals=bronze.totals, source_format="dv360")

    row = silver_of(lake, partition).row(0, named=True)
    assert row["source"] == "dv360" and row["date"] == REPORT_DATE
    assert (row["advertiser_id"], row["campaign_id"], row["insertion_order_id"], row["line_item_id"]) == (
        "1001", "2001", "3001", "4001")
    assert row["impressions"] == 1234 and row["clicks"] is None and row["conversions"] == 1.5
    assert row["spend"] == Decimal("12.345678") and row["revenue"] == Decimal("20.500000")
    assert row["currency"] == "USD" and row["advertiser_name"] == "Advertiser 1001"
    assert result.records_out == 1 and issue(result, "core_metrics_present").count == 1  # warn: kept
    assert issue(result, "totals_match") is None  # "-" clicks: the totals row also has 0


def test_drop_quarantines_with_raw_values_rules_and_reasons(land: LandFile, lake: Lake,
                                                           partition: PartitionRef) -> None:
    rows = [dv360_row(line_item_id="1"), dv360_row(line_item_id="2", impressions="lots"),
            dv360_row(line_item_id="3", media_cost="-4.5"), dv360_row(line_item_id="", currency="ZZZ")]
    land(build_dv360_csv(rows))
    execution = uuid.uuid4()
    result = bronze_to_silver(lake, partition, execution_id=execution, rules=default_rules())

    assert (result.records_in, result.records_out, result.quarantined, result.duplicates_removed) == (4, 1, 3, 0)
    page = list_quarantine(lake, org_id=partition.org_id)
    assert page.total == 3
    by_row = {row.row_number: row for row in page.rows}
    assert by_row[2].rules == ["values_parse"] and by_row[2].raw["impressions"] == "lots"
    assert "impressions does not parse: 'lots'" in by_row[2].reasons[0]
    assert by_row[3].rules == ["metrics_non_negative"] and by_row[3].raw["media_cost_advertiser_currency"] == "-4.5"
    assert set(by_row[4].rules) == {"grain_present", "currency_iso_4217", "advertiser_single_currency"}
    assert all(row.quarantined_by == str(execution) and row.source_format == "dv360" for row in page.rows)
    assert issue(result, "values_parse").metric_type == "invalid_types"
    assert issue(result, "currency_iso_4217").metric_type == "unknown_currency"


def test_warn_keeps_the_row_and_fail_raises_naming_rule_and_counts(land: LandFile, lake: Lake,
                                                                   partition: PartitionRef) -> None:
    land(build_dv360_csv([dv360_row(line_item_id="1", media_cost="-1"), dv360_row(line_item_id="2")]))
    warned = run(lake, partition, rules=[RangeRule(name="spend_positive", columns=("spend",), min=0)])
    assert warned.records_out == 2 and issue(warned, "spend_positive").count == 1
    assert issue(warned, "spend_positive").severity == "warning"

    before = silver_of(lake, partition)
    with pytest.raises(DataError, match=r"spend_positive .*: 1"):
        run(lake, partition, rules=[RangeRule(name="spend_positive", columns=("spend",), min=0,
                                              action=RuleAction.FAIL)])
    assert silver_of(lake, partition).equals(before)  # nothing written


def test_builtin_checks_drop_rows_gold_cannot_take_even_without_rules(land: LandFile, lake: Lake,
                                                                      partition: PartitionRef) -> None:
    wrong_day = REPORT_DATE - timedelta(days=1)
    land(build_dv360_csv([dv360_row(line_item_id="1"), dv360_row(line_item_id="2", report_date=wrong_day),
                          dv360_row(line_item_id="", currency="")]))
    result = run(lake, partition, rules=[])
    assert (result.records_out, result.quarantined) == (1, 2)
    assert {found.rule for found in result.issues} == {"partition_date", "required_fields"}


def test_dedupe_keeps_the_latest_row_and_counts_the_removed(land: LandFile, lake: Lake,
                                                            partition: PartitionRef) -> None:
    rows = [dv360_row(line_item_id="1", impressions="100"), dv360_row(line_item_id="2"),
            dv360_row(line_item_id="1", impressions="300"), dv360_row(line_item_id="1", impressions="bad")]
    land(build_dv360_csv(rows))
    result = run(lake, partition)
    silver = silver_of(lake, partition)
    assert (result.records_out, result.quarantined, result.duplicates_removed) == (2, 1, 1)
    # The later valid row wins; the later but invalid one was quarantined, not chosen.
    assert silver.filter(pl.col("line_item_id") == "1")["impressions"].to_list() == [300]
    assert issue(result, "grain_unique").count == 1
    with pytest.raises(DataError, match="grain_unique"):
        run(lake, partition, rules=[UniqueRule(name="grain_unique", action=RuleAction.FAIL)])


def test_totals_checksum_matches_or_reports_a_mismatch(land: LandFile, lake: Lake, partition: PartitionRef) -> None:
    rows = [dv360_row(line_item_id=str(index), impressions="1,000", media_cost="2.5") for index in range(3)]
    bronze = land(build_dv360_csv(rows))
    assert issue(run(lake, partition, totals=bronze.totals), "totals_match") is None

    wrong = dict(bronze.totals or {}, impressions="2,999")
    found = issue(run(lake, partition, totals=wrong), "totals_match")
    assert found is not None and found.metric_type == "totals_mismatch"
    assert found.details["columns"] == {"impressions": {"totals_row": 2999.0, "sum_of_rows": 3000.0}}
    with pytest.raises(DataError, match="totals"):
        run(lake, partition, totals=wrong, rules=[TotalsChecksumRule(action=RuleAction.FAIL)])


def test_volume_anomaly_and_freshness_are_partition_issues(land: LandFile, lake: Lake,
                                                           partition: PartitionRef) -> None:
    land(build_dv360_csv([dv360_row(line_item_id="1")]), ingested_at=INGESTED_AT + timedelta(days=40))
    rules = [VolumeAnomalyRule(min_history=3, max_deviation=0.5), FreshnessRule(max_age_days=30)]
    result = run(lake, partition, rules=rules, trailing_row_counts=[100, 90, 110])
    assert issue(result, "volume_anomaly").details["trailing_median"] == 100
    assert issue(result, "freshness").details["age_days"] == 41
    quiet = run(lake, partition, rules=rules, trailing_row_counts=[1, 1])
    assert issue(quiet, "volume_anomaly") is None  # too little history to judge


def test_currency_consistency_quarantines_the_advertisers_odd_currency(land: LandFile, lake: Lake,
                                                                       partition: PartitionRef) -> None:
    rows = [dv360_row(line_item_id=str(index)) for index in range(3)] + [dv360_row(line_item_id="9", currency="EUR")]
    land(build_dv360_csv(rows))
    result = run(lake, partition)
    assert result.quarantined == 1 and issue(result, "advertiser_single_currency").count == 1
    assert list_quarantine(lake, org_id=partition.org_id).rows[0].raw["advertiser_currency"] == "EUR"


def test_ttd_maps_campaign_to_insertion_order_and_reads_locale_numbers(land: LandFile, lake: Lake,
                                                                       partition: PartitionRef) -> None:
    rows = [{"Date": "16/01/2026", "Advertiser ID": "adv", "Campaign ID": "c1", "Campaign": "Camp", "Ad Group ID": "g1",
             "Ad Group": "Group", "Advertiser Currency Code": "EUR", "Impressions": "1.234", "Clicks": "5",
             "Advertiser Cost (Adv Currency)": "16,25"},
            {"Date": "01/16/2026", "Advertiser ID": "adv", "Campaign ID": "c1", "Campaign": "Camp", "Ad Group ID": "g2",
             "Ad Group": "Group 2", "Advertiser Currency Code": "EUR", "Impressions": "10", "Clicks": "0",
             "Advertiser Cost (Adv Currency)": "0,5"}]
    land(build_ttd_csv(rows, delimiter=";"), source_format="ttd")
    result = run(lake, partition)
    silver = silver_of(lake, partition)
    assert result.records_out == 2
    first = silver.row(0, named=True)
    assert first["source"] == "ttd" and first["date"] == REPORT_DATE and silver["date"].to_list()[1] == REPORT_DATE
    assert (first["campaign_id"], first["insertion_order_id"], first["line_item_id"]) == ("c1", "c1", "g1")
    assert first["insertion_order_name"] == "Camp" and first["line_item_name"] == "Group"
    assert first["impressions"] == 1234 and first["spend"] == Decimal("16.25")
    assert silver["spend"].to_list()[1] == Decimal("0.5") and first["revenue"] is None


def test_content_hash_ignores_row_order_and_lineage_but_sees_a_restated_number(
        land: LandFile, lake: Lake, partition: PartitionRef) -> None:
    rows = [dv360_row(line_item_id=str(index), impressions=str(100 + index)) for index in range(5)]
    first = run(lake, partition, totals=land(build_dv360_csv(rows)).totals)
    reordered = run(lake, partition, previous_hash=first.content_hash,
                    totals=land(build_dv360_csv(list(reversed(rows))), ingested_at=INGESTED_AT + timedelta(hours=5)).totals)
    assert reordered.content_hash == first.content_hash and not reordered.changed

    restated = [dict(row) for row in rows]
    restated[2]["Media Cost (Advertiser Currency)"] = "5.000001"
    changed = run(lake, partition, previous_hash=first.content_hash, totals=land(build_dv360_csv(restated)).totals)
    assert changed.content_hash != first.content_hash and changed.changed
    assert content_hash(silver_of(lake, partition)) == changed.content_hash


def test_streaming_mode_gives_the_same_silver_as_in_memory(land: LandFile, lake: Lake, partition: PartitionRef,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [dv360_row(line_item_id=str(index % 7), impressions=str(index), media_cost="-1" if index == 3 else "1")
            for index in range(20)]
    bronze = land(build_dv360_csv(rows))
    in_memory = run(lake, partition, totals=bronze.totals)
    monkeypatch.setattr(silver_module, "IN_MEMORY_ROWS", 0)
    streamed = run(lake, partition, totals=bronze.totals)
    assert (streamed.records_out, streamed.quarantined, streamed.duplicates_removed) == (
        in_memory.records_out, in_memory.quarantined, in_memory.duplicates_removed) == (7, 1, 12)
    assert streamed.content_hash == in_memory.content_hash
    assert [found.rule for found in streamed.issues] == [found.rule for found in in_memory.issues]


@pytest.mark.parametrize("streamed", [False, True], ids=["in-memory", "streamed"])
def test_silver_files_are_written_uncompressed_and_bronze_files_compressed(
        land: LandFile, lake: Lake, partition: PartitionRef, monkeypatch: pytest.MonkeyPatch, streamed: bool) -> None:
    land(build_dv360_csv([dv360_row(line_item_id=str(index)) for index in range(5)]))
    if streamed:
        monkeypatch.setattr(silver_module, "IN_MEMORY_ROWS", 0)
    assert run(lake, partition).records_out == 5

    def codecs(table: str) -> set[str]:
        (uri,) = DeltaTable(table).file_uris()
        return {codec for codec, _ in codecs_and_statistics(uri)}

    assert codecs(lake.silver) == {"UNCOMPRESSED"}
    assert codecs(lake.bronze("dv360")) == {"LZ4"}


def test_replay_after_a_rule_change_releases_rows_and_keeps_the_invariant(land: LandFile, lake: Lake,
                                                                          partition: PartitionRef) -> None:
    rows = [dv360_row(line_item_id="1"), dv360_row(line_item_id="2", currency="XTS"),
            dv360_row(line_item_id="3", currency="XTS", impressions="oops"), dv360_row(line_item_id="1")]
    land(build_dv360_csv(rows))
    strict = [AcceptedValuesRule(name="currencies", column="currency", values=("USD",), action=RuleAction.DROP),
              NotNullRule(name="ids", columns=("line_item_id",), action=RuleAction.DROP)]
    first = run(lake, partition, rules=strict + default_rules()[2:3])
    assert (first.records_out, first.quarantined, first.duplicates_removed) == (1, 2, 1)

    relaxed = [AcceptedValuesRule(name="currencies", column="currency", values=("USD", "XTS"),
                                  action=RuleAction.DROP)] + default_rules()[2:3]
    replayed = replay_quarantine(lake, partition, execution_id=uuid.uuid4(), rules=relaxed)
    assert (replayed.replayed, replayed.released) == (2, 1)
    assert (replayed.records_in, replayed.records_out, replayed.quarantined, replayed.duplicates_removed) == (4, 2, 1, 1)
    assert sorted(silver_of(lake, partition)["line_item_id"].to_list()) == ["1", "2"]
    remaining = list_quarantine(lake, org_id=partition.org_id).rows
    assert [row.rules for row in remaining] == [["values_parse"]]

    again = replay_quarantine(lake, partition, execution_id=uuid.uuid4(), rules=relaxed)
    assert (again.records_out, again.quarantined, again.released) == (2, 1, 0)


def test_replay_dedupes_released_rows_against_silver_keeping_the_latest_ingestion(
        lake: Lake, partition: PartitionRef) -> None:
    """A row released from quarantine meets a Silver row of the same grain from a later ingestion."""
    earlier, later = datetime(2026, 1, 17, tzinfo=UTC), datetime(2026, 1, 18, tzinfo=UTC)
    bronze = pl.DataFrame({
        "_row_number": [1, 2], "date_raw": ["2026/01/16"] * 2, "advertiser_id": ["1"] * 2,
        "advertiser_currency": ["XTS", "USD"], "campaign_id": ["2"] * 2, "insertion_order_id": ["3"] * 2,
        "line_item_id": ["4"] * 2, "impressions": ["10", "20"], "clicks": ["1", "2"],
        "media_cost_advertiser_currency": ["1", "2"],
        "_ingested_at": [earlier, later], "_execution_id": ["e1", "e2"], "_source_file": ["a.csv", "b.csv"],
    }).with_columns(pl.col("_ingested_at").dt.cast_time_unit("us"))
    replace_partition(lake.bronze("dv360"), partition, bronze)
    strict = [AcceptedValuesRule(name="currencies", column="currency", values=("USD",), action=RuleAction.DROP)]
    first = run(lake, partition, rules=strict, source_format="dv360")
    assert (first.records_out, first.quarantined) == (1, 1)

    replayed = replay_quarantine(lake, partition, execution_id=uuid.uuid4(), rules=[])
    silver = silver_of(lake, partition)
    assert silver["impressions"].to_list() == [20]  # the later ingestion wins over the released row
    assert (replayed.records_out, replayed.quarantined, replayed.duplicates_removed) == (1, 0, 1)


def test_list_quarantine_filters_by_pipeline_and_dates_and_pages(land: LandFile, lake: Lake,
                                                                 partition: PartitionRef) -> None:
    days = [partition.model_copy(update={"date": REPORT_DATE - timedelta(days=offset)}) for offset in range(3)]
    for day in days:
        land(build_dv360_csv([dv360_row(report_date=day.date, line_item_id=str(index), impressions="x")
                              for index in range(2)]), target=day)
        run(lake, day)
    everything = list_quarantine(lake, org_id=partition.org_id)
    assert everything.total == 6 and [row.date for row in everything.rows][:2] == [REPORT_DATE, REPORT_DATE]
    window = list_quarantine(lake, org_id=partition.org_id, pipeline_id=partition.pipeline_id,
                             date_from=days[2].date, date_to=days[1].date, limit=3, offset=1)
    assert window.total == 4 and len(window.rows) == 3
    assert {row.date for row in window.rows} <= {days[1].date, days[2].date}
    assert list_quarantine(lake, org_id=partition.org_id + 1).total == 0
    assert list_quarantine(lake, org_id=partition.org_id, pipeline_id=uuid.uuid4()).total == 0
