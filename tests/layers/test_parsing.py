"""Raw report cells → typed values."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from etl_orchestrator.layers import parsing


def parse(values: list[str | None], parser, *, decimal_comma: bool = False) -> list:
    number = parsing.number_text(parsing.text(pl.col("v")), decimal_comma=decimal_comma)
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(parser(number)).to_series().to_list()


def test_integers_accept_separators_padding_and_integral_floats() -> None:
    assert parse(["1,234", " 7 ", "12.0", "-", "", None, "12.5", "abc", "1 234 567"], parsing.integer) == [
        1234, 7, 12, None, None, None, None, None, 1234567]


def test_money_is_exact_to_six_decimals_in_both_locales() -> None:
    assert parse(["1,234.5", "0.1234567", "$5", "-3"], parsing.money) == [
        Decimal("1234.5"), Decimal("0.123457"), Decimal("5"), Decimal("-3")]
    assert parse(["16,25", "1.234,5", "0,000001"], parsing.money, decimal_comma=True) == [
        Decimal("16.25"), Decimal("1234.5"), Decimal("0.000001")]


def test_percentages_read_as_fractions() -> None:
    assert parse(["0.13%", "2"], parsing.floating) == [pytest.approx(0.0013), 2.0]


def test_dates_in_report_formats_and_ambiguous_day_month_order() -> None:
    frame = pl.DataFrame({"v": ["2026/01/16", "2026-01-16 00:00:00", "16/01/2026", "16.01.2026", "05/01/2026", "x"]})
    on_jan_5 = frame.select(parsing.report_date(parsing.text(pl.col("v")), date(2026, 1, 5))).to_series().to_list()
    on_may_1 = frame.select(parsing.report_date(parsing.text(pl.col("v")), date(2026, 5, 1))).to_series().to_list()
    assert on_jan_5 == [date(2026, 1, 16)] * 4 + [date(2026, 1, 5), None]
    assert on_may_1[4] == date(2026, 5, 1)  # month-first when that is the partition's date


def test_decimal_comma_is_detected_only_from_unambiguous_values() -> None:
    assert parsing.uses_decimal_comma(pl.Series(["16,25", "3"]))
    assert parsing.uses_decimal_comma(pl.Series(["1.234,5"]))
    assert not parsing.uses_decimal_comma(pl.Series(["1,234", "5.25", None]))


def test_unknown_ids_count_as_missing() -> None:
    cleaned = parsing.identifier(parsing.text(pl.col("v")))
    values = pl.DataFrame({"v": ["Unknown", "(not set)", "42", "-", "UNKNOWN"]}).select(cleaned).to_series().to_list()
    assert values == [None, None, "42", None, None]


def test_the_white_space_removed_from_numbers_is_exactly_what_the_regex_class_matches() -> None:
    every_code_point = pl.Series([chr(code) for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF])
    regex_white_space = every_code_point.filter(every_code_point.str.contains(r"^\s$")).to_list()
    assert sorted(regex_white_space) == sorted(parsing.WHITE_SPACE)


def test_numbers_lose_every_grouping_character_and_currency_symbol_as_the_regex_class_did() -> None:
    cells = ["1" + character + "234" for character in parsing.GROUPING_CHARACTERS]
    assert parse(cells, parsing.integer) == [1234] * len(cells)
    tricky = ["1\u202f234,5 €", "$1'234.5", "£ 7", "1.234,5\u00a0$", " \t-12\u3000", "¥1,0,0", "€", None]
    frame = pl.DataFrame({"v": tricky}, schema={"v": pl.String})
    for decimal_comma, removed in [(False, r"[,\s\u00a0'$€£¥]"), (True, r"[.\s\u00a0'$€£¥]")]:
        ours = frame.select(parsing.number_text(pl.col("v"), decimal_comma=decimal_comma)).to_series()
        regex = frame.select(pl.col("v").str.replace_all(removed, "")).to_series()
        if decimal_comma:
            regex = regex.str.replace(",", ".", literal=True)
        assert ours.to_list() == regex.to_list()
