"""已驳回 (rejected): a settlement whose every line was rejected is closed as rejected, not as paid.
Such settlements recorded as paid before — nothing approved, nothing paid — are set to rejected.
The status column is a plain string: no schema change.

Revision ID: f21b7c8d9e02
Revises: f21a0b3c4d01
Create Date: 2026-12-08 09:10:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f21b7c8d9e02'
down_revision = 'f21a0b3c4d01'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        "UPDATE settlements SET status = 'rejected' WHERE status = 'paid' AND NOT EXISTS ("
        "SELECT 1 FROM settlement_lines l WHERE l.settlement_id = settlements.id AND l.decision <> 'rejected')")


def downgrade():
    op.execute("UPDATE settlements SET status = 'paid' WHERE status = 'rejected'")
