"""policies.training_by_valid_until: where the policy says so (Chongqing, seed 004 §二(四)), a voucher
is used only for a class that ends by its template's use deadline. The Chongqing preset says so.

Revision ID: f21d0e1f2a04
Revises: f21c9d0e1f03
Create Date: 2026-12-07 16:40:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f21d0e1f2a04'
down_revision = 'f21c9d0e1f03'
branch_labels = None
depends_on = None


def upgrade():
    # The default as a plain literal: SQLite then adds the column in place. An SQL expression
    # (sa.false()) makes Alembic copy the table, and dropping the old one fails once regions and
    # templates point at its rows (foreign keys are enforced, h5app/database.py).
    with op.batch_alter_table('policies') as batch_op:
        batch_op.add_column(sa.Column('training_by_valid_until', sa.Boolean(), server_default='0', nullable=False))
    op.execute("UPDATE policies SET training_by_valid_until = true WHERE code = 'chongqing'")


def downgrade():
    # In place (SQLite ≥ 3.35 drops a column itself): batch mode would copy the table, and dropping
    # the old one fails while other tables' rows point at it (foreign keys are enforced).
    op.drop_column('policies', 'training_by_valid_until')
