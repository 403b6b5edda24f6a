"""Index of completed executions by workflow id: a trigger of a completed range finds it without a scan.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("idx_executions_completed_workflow", "etl_executions", ["workflow_id", sa.text("completed_at DESC")],
                    unique=False, postgresql_where=sa.text("status = 'completed'"))


def downgrade() -> None:
    op.drop_index("idx_executions_completed_workflow", table_name="etl_executions",
                  postgresql_where=sa.text("status = 'completed'"))
