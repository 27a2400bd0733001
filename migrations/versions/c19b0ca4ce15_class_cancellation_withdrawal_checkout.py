"""取消班期, 退班 and 签退: when and why a class was cancelled, when and why an enrolment ended, a
check-in's check-out (time, method, distance), and whether a region's policy counts time present

Existing policies keep counting check-ins alone (false): a region turns time present on itself, so
the attendance of classes already running is not cut when this is deployed.

Revision ID: c19b0ca4ce15
Revises: c19a0c1a55e5
Create Date: 2026-12-08 10:00:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c19b0ca4ce15'
down_revision = 'c19a0c1a55e5'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('classes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('cancel_reason', sa.Text(), nullable=True))

    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ended_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('end_reason', sa.Text(), nullable=True))

    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checked_out_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('checkout_method', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('checkout_distance_m', sa.Float(), nullable=True))

    with op.batch_alter_table('policies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attendance_by_time_present', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('policies', schema=None) as batch_op:
        batch_op.drop_column('attendance_by_time_present')

    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.drop_column('checkout_distance_m')
        batch_op.drop_column('checkout_method')
        batch_op.drop_column('checked_out_at')

    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.drop_column('end_reason')
        batch_op.drop_column('ended_at')

    with op.batch_alter_table('classes', schema=None) as batch_op:
        batch_op.drop_column('cancel_reason')
        batch_op.drop_column('cancelled_at')
