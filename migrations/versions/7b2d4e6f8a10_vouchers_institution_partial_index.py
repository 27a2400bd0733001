"""vouchers: index institution_id only where it is set (used and settled vouchers): issuing writes
no entry, and a verification adds one without first removing the voucher's NULL entry

Revision ID: 7b2d4e6f8a10
Revises: 3c1f0e2d9b7a
Create Date: 2026-12-06 14:40:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '7b2d4e6f8a10'
down_revision = '3c1f0e2d9b7a'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.drop_index('ix_vouchers_institution_id')
        batch_op.create_index('ix_vouchers_institution_id', ['institution_id'], unique=False,
                              sqlite_where=sa.text('institution_id IS NOT NULL'),
                              postgresql_where=sa.text('institution_id IS NOT NULL'))


def downgrade():
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.drop_index('ix_vouchers_institution_id')
        batch_op.create_index('ix_vouchers_institution_id', ['institution_id'], unique=False)
