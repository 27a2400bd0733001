"""补签 and 线上培训: attendance corrections with evidence for the bureau to decide, a class's
delivery (offline / online), and the study minutes an online platform reports for a lesson

Revision ID: c19c0a77e4d0
Revises: c19b0ca4ce15
Create Date: 2026-12-08 09:00:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c19c0a77e4d0'
down_revision = 'c19b0ca4ce15'
branch_labels = None
depends_on = None

PENDING = "status = 'pending'"


def upgrade():
    with op.batch_alter_table('classes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery', sa.String(length=16), server_default='offline', nullable=False))

    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.add_column(sa.Column('study_minutes', sa.Integer(), nullable=True))

    op.create_table(
        'attendance_corrections',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('class_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('institution_id', sa.Integer(), nullable=False),
        sa.Column('region_code', sa.String(length=12), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('evidence_file', sa.String(length=64), nullable=True),
        sa.Column('evidence_url', sa.String(length=500), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('requested_by', sa.String(length=64), nullable=False),
        sa.Column('reviewed_by', sa.String(length=64), nullable=True),
        sa.Column('review_reason', sa.Text(), nullable=True),
        sa.Column('reviewed_at', sa.DateTime(), nullable=True),
        sa.Column('check_in_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['check_in_id'], ['check_ins.id'], ),
        sa.ForeignKeyConstraint(['class_id'], ['classes.id'], ),
        sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], ),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], ),
        sa.ForeignKeyConstraint(['session_id'], ['class_sessions.id'], ),
        sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('attendance_corrections', schema=None) as batch_op:
        batch_op.create_index('ix_attendance_corrections_class_id', ['class_id'], unique=False)
        batch_op.create_index('ix_attendance_corrections_institution_id', ['institution_id'], unique=False)
        batch_op.create_index('ix_attendance_corrections_person_id', ['person_id'], unique=False)
        batch_op.create_index('ix_attendance_corrections_region_status', ['region_code', 'status'], unique=False)
        batch_op.create_index('ix_attendance_corrections_pending', ['session_id', 'person_id'], unique=True,
                              sqlite_where=sa.text(PENDING), postgresql_where=sa.text(PENDING))


def downgrade():
    with op.batch_alter_table('attendance_corrections', schema=None) as batch_op:
        batch_op.drop_index('ix_attendance_corrections_pending', sqlite_where=sa.text(PENDING),
                            postgresql_where=sa.text(PENDING))
        batch_op.drop_index('ix_attendance_corrections_region_status')
        batch_op.drop_index('ix_attendance_corrections_person_id')
        batch_op.drop_index('ix_attendance_corrections_institution_id')
        batch_op.drop_index('ix_attendance_corrections_class_id')
    op.drop_table('attendance_corrections')

    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.drop_column('study_minutes')

    with op.batch_alter_table('classes', schema=None) as batch_op:
        batch_op.drop_column('delivery')
