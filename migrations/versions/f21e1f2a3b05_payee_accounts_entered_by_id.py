"""payee_accounts.entered_by_id: the staff member who entered an account. A bureau clerk's change of
an institution's account in force waits for another staff member's confirmation (four eyes), and
the confirmation is refused to the one who entered it.

Revision ID: f21e1f2a3b05
Revises: f21d0e1f2a04
Create Date: 2026-12-07 19:40:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f21e1f2a3b05'
down_revision = 'f21d0e1f2a04'
branch_labels = None
depends_on = None


def upgrade():
    # A nullable column without a default: SQLite adds it in place (no copy of the table).
    with op.batch_alter_table('payee_accounts') as batch_op:
        batch_op.add_column(sa.Column('entered_by_id', sa.Integer(), nullable=True))


def downgrade():
    # In place (SQLite ≥ 3.35 drops a column itself): batch mode would copy the table, and dropping
    # the old one fails while settlement lines point at its rows (foreign keys are enforced).
    op.drop_column('payee_accounts', 'entered_by_id')
