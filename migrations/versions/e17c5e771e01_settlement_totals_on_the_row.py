"""Settlement totals on the settlement row: approved_total_fen and paid_total_fen, kept by review
and payment, so that a province's settlement list sums its settlements instead of every line
(bench/national.py: 196 ms at 20M vouchers). Existing rows are summed from their lines.

Revision ID: e17c5e771e01
Revises: c19c0a77e4d0
Create Date: 2026-12-07 08:20:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e17c5e771e01'
down_revision = 'c19c0a77e4d0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('settlements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approved_total_fen', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('paid_total_fen', sa.BigInteger(), server_default='0', nullable=False))
    op.execute(
        "UPDATE settlements SET "
        "approved_total_fen = COALESCE((SELECT SUM(CASE WHEN l.decision = 'approved' "
        "THEN COALESCE(l.approved_amount_fen, l.amount_fen) ELSE 0 END) "
        "FROM settlement_lines l WHERE l.settlement_id = settlements.id), 0), "
        "paid_total_fen = COALESCE((SELECT SUM(l.paid_amount_fen) "
        "FROM settlement_lines l WHERE l.settlement_id = settlements.id), 0)")


def downgrade():
    with op.batch_alter_table('settlements', schema=None) as batch_op:
        batch_op.drop_column('paid_total_fen')
        batch_op.drop_column('approved_total_fen')
