"""Bronze: report files land as received (strings + lineage), partitions are replaced atomically."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from etl_orchestrator.domain.errors import DataError
from etl_orchestrator.domain.partition import PartitionRef
from etl_orchestrator.lake import Lake, read_partition
from etl_orchestrator.layers import readers
from etl_orchestrator.layers.mappings import normalise_headers
from tests.factories import DV360_HEADER_DRIFT, build_dv360_csv, build_ttd_csv, dv360_row
from tests.layers.conftest import INGESTED_AT, LandFile


def three_rows() -> list[dict[str, str]]:
    return [dv360_row(line_item_id=str(4000 + index), impressions=f"{1200 + index:,}") for index in range(3)]


def test_dv360_rows_stop_at_the_blank_line_and_the_totals_row_is_returned_not_landed(
        land: LandFile, lake: Lake, partition: PartitionRef) -> None:
    result = land(build_dv360_csv(three_rows()))

    assert result.records == 3
    assert result.totals is not None and result.totals["impressions"] == "3603"
    assert result.footer["Report Time"] == "2026/01/17 10:00 GMT"
    assert result.columns["media_cost_advertiser_currency"] == "Media Cost (Advertiser Currency)"
    assert result.columns["date_raw"] == "Date"  # "date" is the partition column
    frame = read_partition(lake.bronze("dv360"), partition)
    assert frame is not None
    assert frame["impressions"].to_list() == ["1,200", "1,201", "1,202"]  # as received
    assert frame["_row_number"].to_list() == [1, 2, 3]
    assert frame["_ingested_at"].to_list() == [INGESTED_AT] * 3
    assert frame["_source_file"].n_unique() == 1 and frame["_execution_id"].n_unique() == 1


def test_a_file_without_totals_row_keeps_its_last_data_row(land: LandFile) -> None:
    result = land(build_dv360_csv(three_rows(), totals=False))
    assert result.records == 3 and result.totals is None


def test_crlf_bom_and_a_footer_with_blank_lines_are_handled(land: LandFile) -> None:
    content = build_dv360_csv(three_rows(), line_ending="\r\n", footer=("Report Time:,x", "", "note", "", "more"))
    result = land(b"\xef\xbb\xbf" + content)
    assert result.records == 3
    assert "date_raw" in result.columns and result.columns["date_raw"] == "Date"
    assert result.footer == {"Report Time": "x", "note_1": "note", "note_2": "more"}


def test_landing_again_replaces_the_partition(land: LandFile, lake: Lake, partition: PartitionRef) -> None:
    land(build_dv360_csv(three_rows()))
    land(build_dv360_csv(three_rows()[:2]))
    frame = read_partition(lake.bronze("dv360"), partition)
    assert frame is not None and frame.height == 2


def test_header_drift_lands_under_another_column_name(land: LandFile) -> None:
    result = land(build_dv360_csv(three_rows(), rename=DV360_HEADER_DRIFT))
    assert "media_cost_adv_currency" in result.columns and result.totals is not None
    assert "media_cost_adv_currency" in result.totals


def test_streaming_large_files_gives_the_same_rows(land: LandFile, lake: Lake, partition: PartitionRef,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [dv360_row(line_item_id=str(index)) for index in range(50)]
    content = build_dv360_csv(rows)
    land(content)
    in_memory = read_partition(lake.bronze("dv360"), partition)
    monkeypatch.setattr(readers, "IN_MEMORY_LIMIT", 0)
    monkeypatch.setattr(readers, "SCAN_CHUNK", 97)  # chunk borders fall mid-line and mid-blank-line
    streamed_result = land(content)
    streamed = read_partition(lake.bronze("dv360"), partition)
    assert in_memory is not None and streamed is not None
    lineage = ["_execution_id", "_source_file"]
    assert streamed.drop(lineage).equals(in_memory.drop(lineage))
    assert streamed_result.totals is not None and streamed_result.totals["clicks"] == "500"


def test_ttd_semicolon_export_lands_with_its_delimiter_sniffed(land: LandFile) -> None:
    content = build_ttd_csv([{"Date": "16/01/2026", "Advertiser ID": "a1", "Impressions": "1.234",
                              "Advertiser Cost (Adv Currency)": "16,25"}], delimiter=";")
    result = land(content, source_format="ttd")
    assert result.records == 1 and "advertiser_cost_adv_currency" in result.columns and result.totals is None


def test_parquet_and_jsonl_exports_land_as_strings(land: LandFile, lake: Lake, partition: PartitionRef,
                                                   tmp_path: Path) -> None:
    frame = pl.DataFrame({"date": ["2026-01-16"], "advertiserId": [11], "spend": [1.5], "tags": [["a", "b"]]})
    path = tmp_path / "export.parquet"
    frame.write_parquet(path)
    result = land(path.read_bytes(), source_format="parquet", name="export.parquet")
    landed = read_partition(lake.bronze("parquet"), partition)
    assert landed is not None and result.columns["advertiser_id"] == "advertiserId"
    assert landed["advertiser_id"].to_list() == ["11"] and landed["spend"].to_list() == ["1.5"]
    assert json.loads(landed["tags"][0]) == ["a", "b"]

    lines = b'{"date": "2026-01-16", "spend": "2.5", "clicks": 3}\n{"date": "2026-01-16", "spend": null}\n'
    result = land(lines, source_format="jsonl", name="export.jsonl")
    assert result.records == 2


@pytest.mark.parametrize("content", [b"", b"\n\n", b"a,b\n1,2,3,4\n"])
def test_an_unparseable_file_is_a_data_error(land: LandFile, content: bytes) -> None:
    with pytest.raises(DataError):
        land(content, source_format="csv")


def test_headers_are_normalised_into_unique_valid_names() -> None:
    assert normalise_headers(["Date", "Click Rate (CTR)", "orderId", "Impressions", "impressions", " "]) == [
        "date_raw", "click_rate_ctr", "order_id", "impressions", "impressions_2", "column"]
