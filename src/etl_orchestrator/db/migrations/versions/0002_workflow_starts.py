"""Table ``workflow_starts``: triggers record the workflow start with the execution and answer at once.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workflow_starts",
        sa.Column("execution_id", sa.UUID(), nullable=False),
        sa.Column("workflow_id", sa.String(length=300), nullable=False),
        sa.Column("task_queue", sa.String(length=200), nullable=False),
        sa.Column("input", postgresql.JSONB(astext_type=Text()), nullable=False),
        sa.Column("created_at", postgresql.TIMESTAMP(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("next_attempt_at", postgresql.TIMESTAMP(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["execution_id"], ["etl_executions.id"],
                                name=op.f("fk_workflow_starts_execution_id_etl_executions"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("execution_id", name=op.f("pk_workflow_starts")),
    )
    op.create_index("idx_workflow_starts_due", "workflow_starts", ["next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_index("idx_workflow_starts_due", table_name="workflow_starts")
    op.drop_table("workflow_starts")
