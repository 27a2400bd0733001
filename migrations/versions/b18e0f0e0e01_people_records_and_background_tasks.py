"""People records (人员信息, issue 18): the regions each policy reads and the record's as-of date and
source on `people`, the history of accepted changes, and background tasks with progress

Revision ID: b18e0f0e0e01
Revises: 491e7788debe
Create Date: 2026-12-07 07:20:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b18e0f0e0e01'
down_revision = '491e7788debe'
branch_labels = None
depends_on = None

# As h5app/policies.py has them on 2026-12-07 (a migration does not import the app's code).
ELIGIBILITY_REGION_FIELDS = {
    'wuxi': ['hukou_region_code', 'residence_region_code', 'employment_region_code'],
    'shaoxing': ['insurance_region_code'],
    'chongqing': ['hukou_region_code', 'residence_region_code', 'employment_region_code'],
    'shandong': ['employment_region_code', 'insurance_region_code'],
}

REGION_FIELDS = ('hukou_region_code', 'residence_region_code', 'employment_region_code',
                 'insurance_region_code', 'unemployment_registered_region_code')


def upgrade():
    with op.batch_alter_table('people', schema=None) as batch_op:
        for name in REGION_FIELDS:
            batch_op.add_column(sa.Column(name, sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column('record_as_of', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('record_source', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('record_dates', sa.JSON(), nullable=True))
        batch_op.create_index('ix_people_insurance_region_code', ['insurance_region_code'], unique=False)

    # Which record fields place a person in a general template's region, per policy (h5app/policies.py).
    with op.batch_alter_table('policies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('eligibility_region_fields', sa.JSON(), nullable=True))
    policies = sa.table('policies', sa.column('code', sa.String), sa.column('eligibility_region_fields', sa.JSON))
    for code, fields in ELIGIBILITY_REGION_FIELDS.items():
        op.execute(policies.update().where(policies.c.code == code).values(eligibility_region_fields=fields))

    op.create_table(
        'person_record_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=40), nullable=False),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('changes', sa.JSON(), nullable=False),
        sa.Column('origin', sa.String(length=120), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['people.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_person_record_changes_person_id', 'person_record_changes', ['person_id'], unique=False)

    op.create_table(
        'background_tasks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('region_code', sa.String(length=6), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('total', sa.Integer(), nullable=True),
        sa.Column('processed', sa.Integer(), nullable=False),
        sa.Column('succeeded', sa.Integer(), nullable=False),
        sa.Column('rejected', sa.Integer(), nullable=False),
        sa.Column('result', sa.JSON(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('heartbeat_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['staff_users.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_background_tasks_kind', 'background_tasks', ['kind'], unique=False)
    op.create_index('ix_background_tasks_region_code', 'background_tasks', ['region_code'], unique=False)


def downgrade():
    op.drop_index('ix_background_tasks_region_code', table_name='background_tasks')
    op.drop_index('ix_background_tasks_kind', table_name='background_tasks')
    op.drop_table('background_tasks')
    op.drop_index('ix_person_record_changes_person_id', table_name='person_record_changes')
    op.drop_table('person_record_changes')
    with op.batch_alter_table('policies', schema=None) as batch_op:
        batch_op.drop_column('eligibility_region_fields')
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_index('ix_people_insurance_region_code')
        batch_op.drop_column('record_dates')
        batch_op.drop_column('record_source')
        batch_op.drop_column('record_as_of')
        for name in reversed(REGION_FIELDS):
            batch_op.drop_column(name)
