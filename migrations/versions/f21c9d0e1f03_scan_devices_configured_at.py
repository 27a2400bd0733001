"""scan_devices.configured_at: when the gun's use (mode, class, lesson) was last set. A scan the
bridge read before that moment and delivered after it (queued during an outage) is not judged under
the new use. Existing guns start from their registration time.

Revision ID: f21c9d0e1f03
Revises: f21b7c8d9e02
Create Date: 2026-12-07 16:30:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f21c9d0e1f03'
down_revision = 'f21b7c8d9e02'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('scan_devices') as batch_op:
        batch_op.add_column(sa.Column('configured_at', sa.DateTime(), nullable=True))
    op.execute("UPDATE scan_devices SET configured_at = created_at")


def downgrade():
    # In place (SQLite ≥ 3.35 drops a column itself): batch mode would copy the table, and dropping
    # the old one fails while other tables' rows point at it (foreign keys are enforced).
    op.drop_column('scan_devices', 'configured_at')
