"""Initial schema (development form: built from the models; frozen before release).

Revision ID: 0001
Revises:
"""
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    from etl_orchestrator.db.models import metadata

    op.execute("CREATE SCHEMA IF NOT EXISTS gold")
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS gold CASCADE")
    from etl_orchestrator.db.models import metadata

    metadata.drop_all(op.get_bind())
