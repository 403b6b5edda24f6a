"""The synthetic partner: advertisers → campaigns → insertion orders → line items.

One line item is one report row per day, so the partner has exactly ``rows_per_day`` line items,
spread unevenly over ``advertiser_count`` advertisers (one currency and time zone each). Rows are
ordered by advertiser, campaign, insertion order and line item, and each advertiser's rows are a
contiguous block, so an advertiser-filtered report is a slice of the unfiltered one.

Every line item also carries the static parameters its daily numbers are drawn around (volume,
CTR, CPM, fees) — ``generator.py`` turns them into a day's metrics and ``budgets.py`` into budgets.
Built once per (seed, rows_per_day, advertiser_count) and cached: a million line items take about
a second and a few hundred MB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import polars as pl

from etl_orchestrator.sandbox.hashing import mix64_int, salt, uniform

# (currency, units per USD, time zone, market) — one currency per advertiser, cycled.
CURRENCIES: tuple[tuple[str, float, str, str], ...] = (
    ("USD", 1.0, "America/New_York", "North America"),
    ("EUR", 0.92, "Europe/Berlin", "DACH"),
    ("GBP", 0.79, "Europe/London", "UK & Ireland"),
    ("JPY", 150.0, "Asia/Tokyo", "Japan"),
    ("USD", 1.0, "America/Los_Angeles", "US West"),
    ("CAD", 1.36, "America/Toronto", "Canada"),
    ("AUD", 1.52, "Australia/Sydney", "ANZ"),
    ("EUR", 0.92, "Europe/Paris", "France"),
    ("BRL", 5.0, "America/Sao_Paulo", "Brazil"),
    ("CHF", 0.88, "Europe/Zurich", "Switzerland"),
    ("SEK", 10.4, "Europe/Stockholm", "Nordics"),
    ("INR", 83.0, "Asia/Kolkata", "India"),
    ("MXN", 17.0, "America/Mexico_City", "Mexico"),
)
CURRENCY_RATES: dict[str, float] = {code: rate for code, rate, _, _ in CURRENCIES}

BRANDS = (
    "Northwind Outdoor Apparel",
    "Contoso Motors",
    "Fabrikam Home & Garden, Inc.",
    "Tailspin Airlines",
    "Wingtip Toys",
    "Adventure Works Cycles",
    "Litware Software",
    "Proseware Health",
    "Alpine Ski House",
    "Coho Winery",
    "Fourth Coffee",
    "Margie's Travel",
    "Woodgrove Bank",
    "Lucerne Publishing",
    "Humongous Insurance",
    "Blue Yonder Airlines",
    "Wide World Importers",
    "Trey Research",
)
FISCAL = ("FY26 Q1", "FY26 Q2", "2026 H1", "Evergreen", "FY26 Q3")
OBJECTIVES = (
    "Brand Awareness",
    "Prospecting",
    "Retargeting",
    "Performance",
    "Consideration",
    "App Installs",
    "Lead Gen",
    "Video Views",
)
THEMES = (
    "Spring Collection Launch",
    "Back to School",
    "Holiday Gifting",
    "Summer Sale",
    'The "Big Game" Weekend',
    "Always-On",
    "New Store Openings",
    "Loyalty Push",
    "BF/CM",
    "Product Launch - Series X",
)
CHANNELS = ("Display", "Online Video", "CTV", "Audio", "Native", "DOOH")
INVENTORY = (
    "Open Exchange",
    "PMP - Premium Publishers",
    "Programmatic Guaranteed",
    "YouTube & Partners",
    "Open Auction + Deals",
)
GEOS = (
    "US National",
    "US Top 25 DMAs",
    "DE/AT/CH",
    "UK & IE",
    "FR",
    "JP Kanto",
    "CA ON/QC",
    "AU/NZ",
    "BR SP/RJ",
    "Nordics",
)
FORMATS = (
    "300x250 MREC",
    "728x90 Leaderboard",
    "320x50 Mobile",
    "160x600 Skyscraper",
    "15s Pre-roll",
    "30s Skippable",
    "Native 1200x627",
    "970x250 Billboard",
)
AUDIENCES = (
    "In-Market: Autos, Trucks & SUVs",
    "Affinity: Outdoor Enthusiasts",
    "Customer Match Lapsed 180d",
    "Similar to Purchasers",
    "Contextual: Travel",
    "1P Site Visitors 30d",
    "Custom Intent: Running",
    "Demo 25-54 HHI Top 30%",
    "Life Events: Moving",
    "Broad Reach",
)
DEVICES = ("Desktop + Mobile Web", "Mobile App", "CTV Only", "All Devices", "Tablet + Desktop")
FLIGHTING = ("Always-On", "Burst", "Flighted", "Seasonal", "Test & Learn")
BIDDING = ("Max Conversions", "Target CPA", "Fixed CPM", "Max Viewable Impr.", "Target CPM", "Max Clicks")

_ROWS_PER_INSERTION_ORDER = 25
_MAX_INSERTION_ORDERS_PER_ADVERTISER = 500
_INSERTION_ORDERS_PER_CAMPAIGN = 4


@dataclass(frozen=True)
class Advertiser:
    advertiser_id: str
    ttd_advertiser_id: str
    name: str
    currency: str
    time_zone: str
    first_row: int
    row_count: int
    insertion_order_count: int
    campaign_count: int


@dataclass(frozen=True, eq=False)  # identity hash: caches key on the (cached) instance
class Hierarchy:
    seed: int
    partner_id: str
    advertisers: tuple[Advertiser, ...]
    line_items: pl.DataFrame

    @property
    def key(self) -> tuple[int, int, int]:
        """What the hierarchy is built from: (seed, rows_per_day, advertiser_count)."""
        return (self.seed, self.line_items.height, len(self.advertisers))

    def advertiser(self, advertiser_id: str) -> Advertiser | None:
        for advertiser in self.advertisers:
            if advertiser_id in (advertiser.advertiser_id, advertiser.ttd_advertiser_id):
                return advertiser
        return None

    def selected(self, advertiser_ids: tuple[str, ...]) -> list[Advertiser]:
        """The advertisers a filter names (all when empty), in hierarchy order; unknown ids match nothing."""
        if not advertiser_ids:
            return list(self.advertisers)
        wanted = set(advertiser_ids)
        return [adv for adv in self.advertisers if wanted & {adv.advertiser_id, adv.ttd_advertiser_id}]


TTD_ID_WIDTH = 7
TTD_ID_MULTIPLIER = 7_919  # scatters neighbouring numeric ids over the alphabet


def ttd_id(numeric_id: int) -> str:
    """The Trade Desk's short lowercase alphanumeric id for one of our numeric ids."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    number = numeric_id * TTD_ID_MULTIPLIER % 36**TTD_ID_WIDTH
    text = ""
    for _ in range(TTD_ID_WIDTH):
        number, remainder = divmod(number, 36)
        text = digits[remainder] + text
    return text


def _split_rows(seed: int, rows: int, count: int) -> list[int]:
    """Uneven shares of ``rows`` over ``count`` advertisers (largest remainder, so they sum exactly)."""
    weights = [0.3 + 2.0 * (mix64_int(salt(seed, 11, index)) / 2**64) ** 2 for index in range(count)]
    quotas = [rows * weight / sum(weights) for weight in weights]
    shares = [math.floor(quota) for quota in quotas]
    by_remainder = sorted(range(count), key=lambda index: quotas[index] - shares[index], reverse=True)
    for index in by_remainder[: rows - sum(shares)]:
        shares[index] += 1
    return shares


def _advertisers(seed: int, rows_per_day: int, count: int) -> list[Advertiser]:
    base_id = 1_000_000 + mix64_int(salt(seed, 1)) % 7_000_000
    advertisers: list[Advertiser] = []
    first_row = 0
    for index, row_count in enumerate(_split_rows(seed, rows_per_day, count)):
        currency, _, time_zone, market = CURRENCIES[index % len(CURRENCIES)]
        brand = BRANDS[(index + seed) % len(BRANDS)]
        insertion_orders = min(
            _MAX_INSERTION_ORDERS_PER_ADVERTISER, max(1, math.ceil(row_count / _ROWS_PER_INSERTION_ORDER))
        )
        advertiser_id = base_id + index * 1_117
        advertisers.append(
            Advertiser(
                advertiser_id=str(advertiser_id),
                ttd_advertiser_id=ttd_id(advertiser_id),
                name=f"{brand} - {market}",
                currency=currency,
                time_zone=time_zone,
                first_row=first_row,
                row_count=row_count,
                insertion_order_count=insertion_orders,
                campaign_count=max(1, math.ceil(insertion_orders / _INSERTION_ORDERS_PER_CAMPAIGN)),
            )
        )
        first_row += row_count
    return advertisers


def _structure(advertisers: list[Advertiser]) -> pl.DataFrame:
    """Row → advertiser / campaign / insertion order indices (global), without names or numbers."""
    frames = []
    campaign_offset = insertion_order_offset = 0
    for index, adv in enumerate(advertisers):
        if adv.row_count:
            local = pl.int_range(adv.row_count, dtype=pl.Int64)
            io_local = local * adv.insertion_order_count // adv.row_count
            frames.append(
                pl.select(
                    row=(local + adv.first_row).cast(pl.UInt64),
                    advertiser_index=pl.lit(index, dtype=pl.UInt32),
                    campaign_index=(
                        io_local * adv.campaign_count // adv.insertion_order_count + campaign_offset
                    ).cast(pl.UInt64),
                    insertion_order_index=(io_local + insertion_order_offset).cast(pl.UInt64),
                    insertion_order_local=io_local.cast(pl.UInt32),
                )
            )
        campaign_offset += adv.campaign_count
        insertion_order_offset += adv.insertion_order_count
    schema = {
        "row": pl.UInt64,
        "advertiser_index": pl.UInt32,
        "campaign_index": pl.UInt64,
        "insertion_order_index": pl.UInt64,
        "insertion_order_local": pl.UInt32,
    }
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def _pick(words: tuple[str, ...], key: pl.Expr, salt_value: int) -> pl.Expr:
    index = (uniform(key, salt_value) * len(words)).cast(pl.UInt32)
    return pl.lit(pl.Series(words, dtype=pl.String)).gather(index)


def _names_and_ids(structure: pl.DataFrame, advertisers: list[Advertiser], seed: int) -> pl.DataFrame:
    campaign, insertion_order, row = pl.col("campaign_index"), pl.col("insertion_order_index"), pl.col("row")
    by_advertiser = pl.col("advertiser_index")
    campaign_base = 10_000_000 + mix64_int(salt(seed, 2)) % 40_000_000
    insertion_order_base = 50_000_000 + mix64_int(salt(seed, 3)) % 40_000_000
    line_item_base = 100_000_000 + mix64_int(salt(seed, 4)) % 500_000_000
    brand_short = pl.Series([adv.name.split(" ")[0] for adv in advertisers], dtype=pl.String)
    return structure.with_columns(
        advertiser_id=pl.lit(pl.Series([adv.advertiser_id for adv in advertisers])).gather(by_advertiser),
        advertiser_name=pl.lit(pl.Series([adv.name for adv in advertisers])).gather(by_advertiser),
        currency=pl.lit(pl.Series([adv.currency for adv in advertisers])).gather(by_advertiser),
        time_zone=pl.lit(pl.Series([adv.time_zone for adv in advertisers])).gather(by_advertiser),
        campaign_id=(campaign * 3 + campaign_base).cast(pl.String),
        campaign_name=pl.concat_str(
            [
                pl.lit(brand_short).gather(by_advertiser),
                _pick(FISCAL, campaign, salt(seed, 21)),
                _pick(OBJECTIVES, campaign, salt(seed, 22)),
                _pick(THEMES, campaign, salt(seed, 23)),
            ],
            separator=" | ",
        ),
        insertion_order_id=(insertion_order * 7 + insertion_order_base).cast(pl.String),
        insertion_order_name=pl.concat_str(
            [
                _pick(CHANNELS, insertion_order, salt(seed, 31)),
                _pick(INVENTORY, insertion_order, salt(seed, 32)),
                _pick(GEOS, insertion_order, salt(seed, 33)),
                _pick(FLIGHTING, insertion_order, salt(seed, 34)),
                pl.lit("IO-") + (pl.col("insertion_order_local") + 1).cast(pl.String).str.zfill(4),
            ],
            separator=" | ",
        ),
        line_item_id=(row * 13 + line_item_base).cast(pl.String),
        line_item_name=pl.concat_str(
            [
                _pick(FORMATS, row, salt(seed, 41)),
                _pick(AUDIENCES, row, salt(seed, 42)),
                _pick(DEVICES, row, salt(seed, 43)),
                _pick(BIDDING, row, salt(seed, 45)),
                pl.lit("FC ")
                + (uniform(row, salt(seed, 44)) * 5 + 1).cast(pl.UInt8).cast(pl.String)
                + pl.lit("/day"),
                pl.lit("LI-") + (row % 100_000).cast(pl.String).str.zfill(5),
            ],
            separator=" | ",
        ),
    )


def _performance(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    """The static parameters each line item's daily numbers are drawn around."""
    rates = pl.col("currency").replace_strict(CURRENCY_RATES, return_dtype=pl.Float64)

    def draw(purpose: int) -> pl.Expr:
        return uniform(pl.col("row"), salt(seed, purpose))

    # Skewed volumes (few big line items, many small), CTR 0.05-0.65 %, CPM 0.8-9.8 USD-equivalent.
    return frame.with_columns(
        base_impressions=150 + 120_000 * draw(51) ** 2.2,
        click_rate=0.0005 + 0.006 * draw(52) ** 2,
        post_click_rate=0.002 + 0.05 * draw(53),
        post_view_rate=0.000_01 + 0.000_1 * draw(54),
        cpm_micros=(0.8 + 9 * draw(55) ** 1.5) * rates * 1_000_000,
        fee_rate=0.15 * draw(56),
        margin_rate=0.05 + 0.30 * draw(57),
        conversions_tracked=draw(58) > 0.03,
    )


@lru_cache(maxsize=4)
def build_hierarchy(seed: int, rows_per_day: int, advertiser_count: int) -> Hierarchy:
    """The partner for these settings; cached, since every report and budget of a sandbox reads it."""
    advertisers = _advertisers(seed, rows_per_day, advertiser_count)
    line_items = _performance(_names_and_ids(_structure(advertisers), advertisers, seed), seed)
    partner_id = str(100_000 + mix64_int(salt(seed, 5)) % 900_000)
    return Hierarchy(seed=seed, partner_id=partner_id, advertisers=tuple(advertisers), line_items=line_items)
