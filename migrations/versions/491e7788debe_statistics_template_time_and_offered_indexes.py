"""查询统计 reads only its own region: vouchers' event times indexed behind the template
(template_id, created/claimed/used/settled_at) instead of alone, an open template's offered vouchers
counted from a partial (template_id, status) index where status = 'offered', and the monthly roll-up
read by (template_id, month) instead of month

Revision ID: 491e7788debe
Revises: 2793b87c0e8a
Create Date: 2026-12-07 04:44:01.906464

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '491e7788debe'
down_revision = '2793b87c0e8a'
branch_labels = None
depends_on = None

EVENTS = ('claimed_at', 'used_at', 'settled_at')  # partial: only vouchers that reached the state


def _where(condition):
    return dict(sqlite_where=sa.text(condition), postgresql_where=sa.text(condition))


def upgrade():
    with op.batch_alter_table('voucher_monthly_stats', schema=None) as batch_op:
        batch_op.drop_index('ix_voucher_monthly_stats_month')
        batch_op.create_index('ix_voucher_monthly_stats_template_month', ['template_id', 'month'], unique=False)

    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.drop_index('ix_vouchers_created_at')
        batch_op.create_index('ix_vouchers_template_created_at', ['template_id', 'created_at'], unique=False)
        for column in EVENTS:
            batch_op.drop_index(f'ix_vouchers_{column}', **_where(f'{column} IS NOT NULL'))
            batch_op.create_index(f'ix_vouchers_template_{column}', ['template_id', column], unique=False,
                                  **_where(f'{column} IS NOT NULL'))
        batch_op.create_index('ix_vouchers_template_status_offered', ['template_id', 'status'], unique=False,
                              **_where("status = 'offered'"))


def downgrade():
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.drop_index('ix_vouchers_template_status_offered', **_where("status = 'offered'"))
        for column in EVENTS:
            batch_op.drop_index(f'ix_vouchers_template_{column}', **_where(f'{column} IS NOT NULL'))
            batch_op.create_index(f'ix_vouchers_{column}', [column], unique=False, **_where(f'{column} IS NOT NULL'))
        batch_op.drop_index('ix_vouchers_template_created_at')
        batch_op.create_index('ix_vouchers_created_at', ['created_at'], unique=False)

    with op.batch_alter_table('voucher_monthly_stats', schema=None) as batch_op:
        batch_op.drop_index('ix_voucher_monthly_stats_template_month')
        batch_op.create_index('ix_voucher_monthly_stats_month', ['month'], unique=False)
