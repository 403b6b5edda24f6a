"""Initial schema (development form: built from the models; frozen before release).

Revision ID: 0001
Revises:
"""
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


# Every change of an execution is announced on channel ``etl_execution`` (delivered on commit), so any
# API replica can stream the progress of a run that another replica or a worker changed.
NOTIFY_EXECUTION_CHANGES = """
CREATE OR REPLACE FUNCTION etl_notify_execution() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('etl_execution', json_build_object(
    'id', NEW.id, 'org_id', NEW.org_id, 'status', NEW.status, 'layer', NEW.layer)::text);
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER etl_executions_notify AFTER INSERT OR UPDATE ON etl_executions
  FOR EACH ROW EXECUTE FUNCTION etl_notify_execution();
"""


def upgrade() -> None:
    from etl_orchestrator.db.models import metadata

    op.execute("CREATE SCHEMA IF NOT EXISTS gold")
    metadata.create_all(op.get_bind())
    op.execute(NOTIFY_EXECUTION_CHANGES)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS etl_executions_notify ON etl_executions")
    op.execute("DROP FUNCTION IF EXISTS etl_notify_execution()")
    op.execute("DROP SCHEMA IF EXISTS gold CASCADE")
    from etl_orchestrator.db.models import metadata

    metadata.drop_all(op.get_bind())
