"""The committed Alembic migrations build the schema from empty, on SQLite and PostgreSQL, and
their head matches the models exactly (no change left for autogenerate to find); rows written before
a migration come out of it as the code now reads them."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import MetaData, inspect, select

from h5app.extensions import db
from h5app.models import AuditEvent, Settlement
from h5app.models.settlement import LINE_APPROVED, LINE_REJECTED, S_PAID, S_REJECTED
from h5app.timeutil import utcnow

from .migration_support import empty_database


@pytest.fixture
def migrated_app(make_app, tmp_path):
    with empty_database(tmp_path) as url:
        app = make_app(SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade()
            yield app
            db.session.remove()
            db.engine.dispose()


def test_upgrade_from_empty_creates_every_model_table(migrated_app):
    tables = set(inspect(db.engine).get_table_names())
    assert set(db.metadata.tables) <= tables


def test_migration_head_matches_the_models(migrated_app):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations disagree; run `flask db migrate`: {diff}"


def test_downgrade_to_base_and_upgrade_again(migrated_app):
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade()
    assert "vouchers" in inspect(db.engine).get_table_names()


def test_the_migrations_place_old_audit_rows_and_close_old_all_rejected_settlements_as_rejected(make_app, tmp_path):
    """The rows are written as the old head's tables have them (reflected, not today's models): a
    later migration's new column must not break a test of an earlier one."""
    with empty_database(tmp_path) as url:
        app = make_app(SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision="e17d1d7e9c02")  # the head before these fixes
            old_tables = MetaData()
            old_tables.reflect(bind=db.engine)
            t = old_tables.tables
            now = utcnow()

            def add(table: str, **values) -> int:
                return db.session.execute(t[table].insert().values(**values)).inserted_primary_key[0]

            policy = add("policies", code="default", name="通用规则", attendance_threshold=0.6, exam_required=True,
                         auto_settle_directed_credential=False, pays_worker_for_general_certificate=False,
                         face_value_is_reference=False)
            add("regions", code="330600", name="绍兴市", policy_id=policy)
            add("regions", code="330603", name="柯桥区", parent_code="330600", policy_id=policy)
            school = add("institutions", code="3306031", name="柯桥职业培训学校", region_code="330603", type="school",
                         status="active", created_at=now)
            worker = add("people", id_number="330603199001011234", name="王建国", groups=[], insurance_months=0,
                         region_code="330603", qr_code="Q" * 16, job_consent=False, session_epoch=0, created_at=now)
            template = add("voucher_templates", name="柯桥培训券", voucher_type="就业技能培训券", region_code="330600",
                           policy_id=policy, status="active", function_mode="face_value", distribution_mode="general",
                           face_value_fen=100000, claim_starts_on=now.date(), claim_ends_on=now.date(), valid_days=90,
                           claimed_count=0, eligible_groups=[], project_types=[], audience="open", created_at=now)
            cls = add("classes", institution_id=school, course_name="电工培训", occupation="电工",
                      project_type="employment_skills", price_fen=100000, hours=20, starts_on=now.date(),
                      ends_on=now.date(), status="completed", created_at=now)
            voucher = add("vouchers", code="ABCDEFGHJKLMNPQR", template_id=template, person_id=worker, status="used",
                          class_id=cls, institution_id=school, created_at=now)
            old = dict(at=now, actor_type="staff", actor_label="旧记录", details={})
            for action, columns in (("staff.login", {"institution_id": school}),
                                    ("person.sso_login", {"person_id": worker}),
                                    ("targets.import", {})):
                add("audit_events", action=action, region_code=None, **old, **columns)
            for decision in (LINE_REJECTED, LINE_APPROVED):
                settlement = add("settlements", institution_id=school, class_id=cls, region_code="330600",
                                 status=S_PAID, created_at=now)
                add("settlement_lines", settlement_id=settlement, voucher_id=voucher, eligible=True, attendance_rate=1,
                    amount_fen=1000, decision=decision)
            db.session.commit()

            upgrade()

            placed = dict(db.session.execute(select(AuditEvent.action, AuditEvent.region_code)).all())
            statuses = db.session.scalars(select(Settlement.status).order_by(Settlement.id)).all()
            db.session.remove()
            db.engine.dispose()
    assert placed == {"staff.login": "330603", "person.sso_login": "330603", "targets.import": None}
    assert statuses == [S_REJECTED, S_PAID]
