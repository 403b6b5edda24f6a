"""The outbox announces its own inserts (``NOTIFY etl_outbox``): one round trip less per event written.

``enqueue_event`` used to send the NOTIFY as a statement of its own after each insert; a statement
trigger sends it with the insert instead. PostgreSQL still delivers it only when the transaction
commits, and folds the notifications of one transaction into one.

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE OR REPLACE FUNCTION etl_notify_outbox() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('etl_outbox', '');
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER event_outbox_notify AFTER INSERT ON event_outbox
  FOR EACH STATEMENT EXECUTE FUNCTION etl_notify_outbox();
""")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS event_outbox_notify ON event_outbox; DROP FUNCTION IF EXISTS etl_notify_outbox();")
