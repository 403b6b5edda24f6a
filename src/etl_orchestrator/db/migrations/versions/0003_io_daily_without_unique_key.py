"""``gold.insertion_order_daily`` without its primary key; the (pipeline_id, date) index stays.

Each Gold load deletes a partition's per-IO totals and COPYs them again with the same keys. A unique
b-tree must then check every new key against the versions the DELETE just left behind (one heap
visit per dead version, more with every reload until vacuum): measured 150-230 ms of server time
for the 15,625 IOs of a 125,000-row day, against 60-80 ms with only the (pipeline_id, date) index.
The rows are unique by construction, as in ``campaign_daily``: they come from a GROUP BY of the
partition's Silver rows, and a partition is replaced under its advisory lock in one transaction.
Every reader (pacing, ``latest_gold_date``) selects by pipeline and date range, which the remaining
index serves.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("pk_insertion_order_daily", "insertion_order_daily", schema="gold", type_="primary")


def downgrade() -> None:
    op.create_primary_key("pk_insertion_order_daily", "insertion_order_daily",
                          ["pipeline_id", "insertion_order_id", "date", "currency"], schema="gold")
