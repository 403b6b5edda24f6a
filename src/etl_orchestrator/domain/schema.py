"""The canonical Silver schema every source normalises to, and its grain.

Column names here are the contract between Silver (Delta), Gold (``gold.campaign_daily``) and the API.
"""

GRAIN: tuple[str, ...] = (
    "source", "date", "advertiser_id", "campaign_id", "insertion_order_id", "line_item_id",
)

DIMENSIONS: tuple[str, ...] = (
    "source", "date",
    "advertiser_id", "advertiser_name",
    "campaign_id", "campaign_name",
    "insertion_order_id", "insertion_order_name",
    "line_item_id", "line_item_name",
    "currency",
)

METRICS: tuple[str, ...] = (
    "impressions", "billable_impressions", "clicks", "conversions", "spend", "revenue",
)

LINEAGE: tuple[str, ...] = ("_execution_id", "_ingested_at", "_source_file", "_row_number")

CANONICAL_COLUMNS: tuple[str, ...] = DIMENSIONS + METRICS
