"""audit events: drop the unused action index (nothing filters by action; every audited change paid for it)

Revision ID: a68cd605b6e2
Revises: 051e51e7da49
Create Date: 2026-11-23 17:41:42.610311

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a68cd605b6e2'
down_revision = '051e51e7da49'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_action'))


def downgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_action'), ['action'], unique=False)
