"""Table definitions (SQLAlchemy Core). The Alembic migrations in ``db/migrations`` create them.

The seed's ``etl_executions`` and ``data_quality_metrics`` keep every column, default and index
the seed writes (seed columns first, then ours). Timestamps of seed tables are ``TIMESTAMP`` as the
seed writes them and always hold UTC. ``organizations.id`` is an integer because the seed's
``org_id INT REFERENCES organizations(id)`` says so; every other id is a UUID.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP, UUID

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

MONEY = Numeric(20, 6)
NOW = text("now()")
UTC_NOW = text("(now() AT TIME ZONE 'utc')")
NEW_UUID = text("gen_random_uuid()")


def _ts(name: str, **kwargs) -> Column:
    return Column(name, TIMESTAMP(timezone=False), **kwargs)


organizations = Table(
    "organizations", metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("slug", String(100), nullable=False, unique=True),
    Column("status", String(50), nullable=False, server_default="active"),
    Column("settings", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    _ts("created_at", nullable=False, server_default=UTC_NOW),
    _ts("updated_at", nullable=False, server_default=UTC_NOW),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=NEW_UUID),
    # NULL org_id with is_admin: an admin key that manages every organization.
    Column("org_id", Integer, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=True),
    Column("name", String(200), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("is_admin", Boolean, nullable=False, server_default=text("false")),
    _ts("created_at", nullable=False, server_default=UTC_NOW),
    _ts("last_used_at"),
    _ts("revoked_at"),
    CheckConstraint("is_admin OR org_id IS NOT NULL", name="owner"),
)

pipelines = Table(
    "pipelines", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=NEW_UUID),
    Column("org_id", Integer, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("source_kind", String(50), nullable=False),
    Column("source_config", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("quality_rules", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("schedule_cron", String(100)),
    Column("schedule_timezone", String(64), nullable=False, server_default="UTC"),
    # none | active | paused — mirrors the Temporal Schedule.
    Column("schedule_state", String(20), nullable=False, server_default="none"),
    Column("schedule_id", String(200)),
    Column("catchup_window_s", Integer, nullable=False, server_default=text("3600")),
    Column("restatement_days", Integer, nullable=False, server_default=text("7")),
    Column("skipped_runs", Integer, nullable=False, server_default=text("0")),
    _ts("last_scheduled_at"),
    Column("webhook_url", Text),
    Column("webhook_secret", String(200)),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    _ts("created_at", nullable=False, server_default=UTC_NOW),
    _ts("updated_at", nullable=False, server_default=UTC_NOW),
    UniqueConstraint("org_id", "name"),
)

etl_executions = Table(
    "etl_executions", metadata,
    # --- the seed's columns, as written ---
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=NEW_UUID),
    Column("pipeline_id", UUID(as_uuid=True), ForeignKey("pipelines.id", ondelete="CASCADE")),
    Column("org_id", Integer, ForeignKey("organizations.id", ondelete="CASCADE")),
    Column("status", String(50), server_default="running"),
    Column("layer", String(50)),
    Column("config", JSONB),
    Column("result", JSONB),
    Column("error", Text),
    Column("records_processed", BigInteger),
    Column("records_failed", BigInteger),
    Column("size_bytes", BigInteger),
    Column("duration_ms", Integer),
    _ts("started_at", server_default=text("now()")),
    _ts("completed_at"),
    # --- ours ---
    Column("workflow_id", String(300)),
    Column("trigger", String(50), nullable=False, server_default="manual"),
    Column("date_start", Date),
    Column("date_end", Date),
    Column("force", Boolean, nullable=False, server_default=text("false")),
    Column("backfill_id", UUID(as_uuid=True)),
    Column("progress", JSONB),
    _ts("updated_at", server_default=UTC_NOW),
    Index("idx_executions_pipeline", "pipeline_id"),
    Index("idx_executions_started", "started_at"),
    # Keyset pagination of the listing, per organization, newest first.
    Index("idx_executions_org_started_id", "org_id", text("started_at DESC"), text("id DESC")),
    # At most one live execution per workflow id: the guard of idempotent triggers.
    Index("uq_executions_live_workflow", "workflow_id", unique=True,
          postgresql_where=text("status IN ('scheduled', 'running')")),
    # The newest completed execution of a range: what a repeated trigger of a completed range returns.
    Index("idx_executions_completed_workflow", "workflow_id", text("completed_at DESC"),
          postgresql_where=text("status = 'completed'")),
)

# Workflow starts not yet made: a trigger commits its execution and the start in one statement and
# answers at once; the API's starter (``service/workflow_starts.py``) starts the workflow and deletes
# the row. A row is the durable promise that the execution will run, whatever process dies.
workflow_starts = Table(
    "workflow_starts", metadata,
    Column("execution_id", UUID(as_uuid=True), ForeignKey("etl_executions.id", ondelete="CASCADE"),
           primary_key=True),
    Column("workflow_id", String(300), nullable=False),
    Column("task_queue", String(200), nullable=False),
    Column("input", JSONB, nullable=False),
    Column("created_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
    # Until then the triggering process has the row to itself; after it, any starter sweeps it up.
    Column("next_attempt_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    Index("idx_workflow_starts_due", "next_attempt_at"),
)

data_quality_metrics = Table(
    "data_quality_metrics", metadata,
    # --- the seed's columns, as written ---
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("pipeline_id", UUID(as_uuid=True), ForeignKey("pipelines.id", ondelete="CASCADE")),
    Column("org_id", Integer, ForeignKey("organizations.id", ondelete="CASCADE")),
    Column("execution_id", UUID(as_uuid=True), ForeignKey("etl_executions.id", ondelete="CASCADE")),
    Column("layer", String(50)),
    Column("metric_type", String(100)),
    Column("count", Integer),
    Column("severity", String(50)),
    Column("details", JSONB),
    _ts("timestamp", server_default=text("now()")),
    # --- ours ---
    Column("partition_date", Date),
    Index("idx_quality_pipeline", "pipeline_id"),
    Index("idx_quality_org_timestamp", "org_id", "timestamp"),
    Index("idx_quality_execution", "execution_id"),
)

execution_logs = Table(
    "execution_logs", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("execution_id", UUID(as_uuid=True), ForeignKey("etl_executions.id", ondelete="CASCADE"),
           nullable=False),
    Column("org_id", Integer, nullable=False),
    _ts("timestamp", nullable=False, server_default=UTC_NOW),
    Column("level", String(20), nullable=False),
    Column("layer", String(50)),
    Column("partition_date", Date),
    Column("message", Text, nullable=False),
    Column("details", JSONB),
    Index("idx_logs_execution", "execution_id", "id"),
)

event_outbox = Table(
    "event_outbox", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True, server_default=NEW_UUID),
    Column("event_type", String(100), nullable=False),
    Column("org_id", Integer),
    Column("pipeline_id", UUID(as_uuid=True)),
    Column("execution_id", UUID(as_uuid=True)),
    Column("payload", JSONB, nullable=False),
    Column("created_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
    Column("published_at", TIMESTAMP(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    Index("idx_outbox_pending", "id", postgresql_where=text("published_at IS NULL")),
)

webhook_deliveries = Table(
    "webhook_deliveries", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("pipeline_id", UUID(as_uuid=True), ForeignKey("pipelines.id", ondelete="CASCADE"), nullable=False),
    Column("org_id", Integer, nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("url", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer),
    Column("success", Boolean, nullable=False),
    Column("error", Text),
    Column("duration_ms", Integer),
    Column("created_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
    Index("idx_webhook_deliveries_pipeline", "pipeline_id", "id"),
)

# The partition ledger: one row per (pipeline, date), the last word on what is in the lake and gold.
partitions = Table(
    "partitions", metadata,
    Column("pipeline_id", UUID(as_uuid=True), ForeignKey("pipelines.id", ondelete="CASCADE"), primary_key=True),
    Column("date", Date, primary_key=True),
    Column("org_id", Integer, nullable=False),
    Column("status", String(50), nullable=False),
    Column("last_execution_id", UUID(as_uuid=True)),
    Column("last_success_execution_id", UUID(as_uuid=True)),
    Column("silver_content_hash", String(64)),
    Column("bronze_records", BigInteger),
    Column("silver_records", BigInteger),
    Column("quarantined_records", BigInteger),
    Column("duplicates_removed", BigInteger),
    Column("gold_records", BigInteger),
    Column("updated_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
)

backfills = Table(
    "backfills", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=NEW_UUID),
    Column("org_id", Integer, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("pipeline_id", UUID(as_uuid=True), ForeignKey("pipelines.id", ondelete="CASCADE"), nullable=False),
    Column("workflow_id", String(300), nullable=False),
    Column("date_start", Date, nullable=False),
    Column("date_end", Date, nullable=False),
    Column("parallelism", Integer, nullable=False),
    Column("force", Boolean, nullable=False, server_default=text("false")),
    Column("status", String(50), nullable=False, server_default="running"),
    Column("progress", JSONB),
    Column("error", Text),
    Column("created_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
    Column("completed_at", TIMESTAMP(timezone=True)),
    Index("idx_backfills_org_created", "org_id", "created_at"),
)

onboardings = Table(
    "onboardings", metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=NEW_UUID),
    Column("org_id", Integer),
    Column("workflow_id", String(300), nullable=False),
    Column("request", JSONB, nullable=False),
    Column("status", String(50), nullable=False, server_default="running"),
    Column("steps", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("error", Text),
    Column("created_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
)

# ---------------------------------------------------------------- gold (schema "gold")

GOLD_SCHEMA = "gold"

campaign_daily = Table(
    "campaign_daily", metadata,
    Column("org_id", Integer, nullable=False),
    Column("pipeline_id", UUID(as_uuid=True), nullable=False),
    Column("date", Date, nullable=False),
    Column("source", String(50), nullable=False),
    Column("advertiser_id", String(100), nullable=False),
    Column("advertiser_name", Text),
    Column("campaign_id", String(100), nullable=False),
    Column("campaign_name", Text),
    Column("insertion_order_id", String(100), nullable=False),
    Column("insertion_order_name", Text),
    Column("line_item_id", String(100), nullable=False),
    Column("line_item_name", Text),
    Column("currency", String(3), nullable=False),
    # Metrics are NULL where the report had no value ("-") and a warn-only rule kept the row.
    Column("impressions", BigInteger),
    Column("billable_impressions", BigInteger),
    Column("clicks", BigInteger),
    Column("conversions", Float),
    Column("spend", MONEY),
    Column("revenue", MONEY),
    # Derived; NULL (never 0 or infinity) when the denominator is 0.
    Column("ctr", Float),
    Column("cpm", Float),
    Column("cpc", Float),
    Column("cpa", Float),
    Column("roas", Float),
    Column("execution_id", UUID(as_uuid=True)),
    Column("updated_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
    # A partition is (pipeline, date), replaced as a whole in one transaction (layers/gold.py): DELETE,
    # then a bulk COPY of up to millions of rows. The grain is unique by construction (Silver
    # deduplicates; the replace holds a per-partition advisory lock), so there is no unique index:
    # re-inserting a partition's keys over its just-deleted ones costs a unique b-tree 3-5x the load
    # itself, and even a plain b-tree on (pipeline_id, date) doubles it. A partition's rows are written
    # together, so one BRIN index serves the deletes and every (org | pipeline) x date-range read.
    Index("brin_campaign_daily_org_pipeline_date", "org_id", "pipeline_id", "date", postgresql_using="brin",
          postgresql_with={"autosummarize": "on"}),
    schema=GOLD_SCHEMA,
)

# Spend and impressions per insertion order, day and currency: what pacing reads, a few rows per IO and
# day instead of every line item. Replaced with the partition's campaign_daily rows, in the same transaction.
# (pipeline_id, insertion_order_id, date, currency) is unique by construction (a GROUP BY of the partition,
# replaced under its advisory lock) and, like campaign_daily's grain, not enforced by a unique index:
# re-inserting a day's keys over its just-deleted ones made the unique check cost twice the load
# (migration 0003). Readers select by pipeline and date range.
insertion_order_daily = Table(
    "insertion_order_daily", metadata,
    Column("org_id", Integer, nullable=False),
    Column("pipeline_id", UUID(as_uuid=True), nullable=False),
    Column("insertion_order_id", String(100), nullable=False),
    Column("date", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("spend", MONEY, nullable=False),
    Column("impressions", BigInteger, nullable=False),
    Column("rows", Integer, nullable=False),
    Index("idx_insertion_order_daily_date", "pipeline_id", "date"),
    schema=GOLD_SCHEMA,
)

budget_segments = Table(
    "budget_segments", metadata,
    Column("org_id", Integer, nullable=False),
    Column("pipeline_id", UUID(as_uuid=True), nullable=False, primary_key=True),
    Column("advertiser_id", String(100), nullable=False),
    Column("insertion_order_id", String(100), nullable=False, primary_key=True),
    Column("segment_index", Integer, nullable=False, primary_key=True),
    Column("insertion_order_name", Text),
    Column("currency", String(3)),
    Column("budget_unit", String(50), nullable=False),  # BUDGET_UNIT_CURRENCY | BUDGET_UNIT_IMPRESSIONS
    Column("budget_amount", MONEY, nullable=False),  # currency units, or impressions
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("pacing_period", String(50)),
    Column("pacing_type", String(50)),
    Column("daily_max", MONEY),
    Column("updated_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
    schema=GOLD_SCHEMA,
)

pacing_metrics = Table(
    "pacing_metrics", metadata,
    Column("org_id", Integer, nullable=False),
    Column("pipeline_id", UUID(as_uuid=True), nullable=False, primary_key=True),
    Column("advertiser_id", String(100), nullable=False),
    Column("insertion_order_id", String(100), nullable=False, primary_key=True),
    Column("segment_index", Integer, nullable=False, primary_key=True),
    Column("insertion_order_name", Text),
    Column("currency", String(3)),
    Column("budget_unit", String(50), nullable=False),
    Column("pacing_type", String(50)),
    Column("pacing_period", String(50)),
    Column("segment_start", Date, nullable=False),
    Column("segment_end", Date, nullable=False),
    Column("as_of_date", Date, nullable=False),
    Column("budget", MONEY, nullable=False),
    Column("flight_days", Integer, nullable=False),
    Column("days_elapsed", Integer, nullable=False),
    Column("spend_to_date", MONEY, nullable=False),
    Column("expected_spend_to_date", MONEY),
    Column("pacing_pct", Float),
    Column("projected_spend", MONEY),
    Column("projected_spend_7d", MONEY),
    Column("budget_remaining", MONEY),
    Column("required_daily", MONEY),
    Column("status", String(20)),  # under | on_track | over; NULL before the flight or with no budget
    # Rows of the IO in another currency than the IO's: left out of spend_to_date (never add currencies).
    Column("excluded_rows", Integer, nullable=False, server_default=text("0")),
    Column("execution_id", UUID(as_uuid=True)),
    Column("updated_at", TIMESTAMP(timezone=True), nullable=False, server_default=NOW),
    schema=GOLD_SCHEMA,
)
