"""开班申请 and 开班审核 (issue 19): a policy may require the bureau's review of a new class; a class
carries its teaching plan, teachers with certificate numbers and when it was approved; the steps of
its review, and the changes made to its lessons after approval, are kept for the bureau

Revision ID: c19a0c1a55e5
Revises: b18e0f0e0e01
Create Date: 2026-12-07 09:30:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c19a0c1a55e5'
down_revision = 'b18e0f0e0e01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('policies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('class_review_required', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))

    with op.batch_alter_table('classes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('teaching_plan', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('approved_at', sa.DateTime(), nullable=True))

    op.create_table(
        'class_teachers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('class_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=30), nullable=False),
        sa.Column('certificate_number', sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(['class_id'], ['classes.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('class_teachers', schema=None) as batch_op:
        batch_op.create_index('ix_class_teachers_class_id', ['class_id'], unique=False)

    op.create_table(
        'class_reviews',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('class_id', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('actor_label', sa.String(length=80), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['actor_id'], ['staff_users.id'], ),
        sa.ForeignKeyConstraint(['class_id'], ['classes.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('class_reviews', schema=None) as batch_op:
        batch_op.create_index('ix_class_reviews_class_id', ['class_id'], unique=False)

    op.create_table(
        'class_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('class_id', sa.Integer(), nullable=False),
        sa.Column('lines', sa.JSON(), nullable=False),
        sa.Column('actor_label', sa.String(length=80), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('read_at', sa.DateTime(), nullable=True),
        sa.Column('read_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['class_id'], ['classes.id'], ),
        sa.ForeignKeyConstraint(['read_by_id'], ['staff_users.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('class_changes', schema=None) as batch_op:
        batch_op.create_index('ix_class_changes_class_id', ['class_id'], unique=False)


def downgrade():
    with op.batch_alter_table('class_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_class_changes_class_id')
    op.drop_table('class_changes')
    with op.batch_alter_table('class_reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_class_reviews_class_id')
    op.drop_table('class_reviews')
    with op.batch_alter_table('class_teachers', schema=None) as batch_op:
        batch_op.drop_index('ix_class_teachers_class_id')
    op.drop_table('class_teachers')

    with op.batch_alter_table('classes', schema=None) as batch_op:
        batch_op.drop_column('approved_at')
        batch_op.drop_column('teaching_plan')

    with op.batch_alter_table('policies', schema=None) as batch_op:
        batch_op.drop_column('class_review_required')
