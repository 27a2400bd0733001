"""Every audit row carries its region: rows written without one (sign-ins, enrolments, exam results,
check-ins, payee settings …) get their institution's region, else their person's. The clerk's 审计日志
filters on region_code alone (an index range) and no longer shows every region's rows of no region.

Revision ID: f21a0b3c4d01
Revises: e17d1d7e9c02
Create Date: 2026-12-07 13:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f21a0b3c4d01'
down_revision = 'e17d1d7e9c02'
branch_labels = None
depends_on = None


def upgrade():
    # Only rows of no region, found through ix_audit_events_region_code; one primary-key look-up each.
    op.execute(
        "UPDATE audit_events SET region_code = (SELECT i.region_code FROM institutions i "
        "WHERE i.id = audit_events.institution_id) "
        "WHERE region_code IS NULL AND institution_id IS NOT NULL")
    op.execute(
        "UPDATE audit_events SET region_code = (SELECT p.region_code FROM people p "
        "WHERE p.id = audit_events.person_id) "
        "WHERE region_code IS NULL AND person_id IS NOT NULL")


def downgrade():
    pass  # which rows were placed here is not recorded; a region on them does no harm
