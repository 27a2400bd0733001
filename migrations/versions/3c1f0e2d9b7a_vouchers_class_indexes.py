"""vouchers: drop ix_vouchers_class_id (the unique (class_id, person_id) index answers every class_id
look-up, and each verification wrote both); index directed vouchers by bound_class_id (a class's
trainee list scanned the whole table for them)

Revision ID: 3c1f0e2d9b7a
Revises: a68cd605b6e2
Create Date: 2026-11-23 19:40:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '3c1f0e2d9b7a'
down_revision = 'a68cd605b6e2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vouchers_class_id'))
        batch_op.create_index('ix_vouchers_bound_class_id', ['bound_class_id'], unique=False,
                              sqlite_where=sa.text('bound_class_id IS NOT NULL'),
                              postgresql_where=sa.text('bound_class_id IS NOT NULL'))


def downgrade():
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.drop_index('ix_vouchers_bound_class_id')
        batch_op.create_index(batch_op.f('ix_vouchers_class_id'), ['class_id'], unique=False)
