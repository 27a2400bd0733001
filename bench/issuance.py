"""Directed issuance at scale: 100,000 people on one class roster get their vouchers (auto-claimed,
audited, each notified) in one `issue_directed` call. Target: under 10 s on SQLite.

    python bench/issuance.py                       # SQLite (a temporary file)
    python bench/issuance.py --people 100000 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

The database given is emptied and rebuilt."""
import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select, text  # noqa: E402

from h5app import create_app  # noqa: E402
from h5app.extensions import db  # noqa: E402
from h5app.models import Enrolment, Institution, Notification, Person, Site, TrainingClass, Voucher, VoucherTemplate  # noqa: E402
from h5app.policies import ensure_policies  # noqa: E402
from h5app.timeutil import local_today, utcnow  # noqa: E402
from h5app.vouchers import audit, issuance  # noqa: E402


def load(people: int) -> tuple[int, int]:
    db.drop_all()
    db.create_all()
    policy = ensure_policies(db.session)["default"]
    today = local_today()
    template = VoucherTemplate(name="bench directed", voucher_type="D", region_code="330600", policy_id=policy.id,
                               status="active", function_mode="credential", distribution_mode="directed",
                               standard_fen=80000, claim_starts_on=today - timedelta(days=1),
                               claim_ends_on=today + timedelta(days=30), valid_days=90)
    institution = Institution(code="B000001", name="bench school", region_code="330602", type="other")
    institution.sites.append(Site(name="main", lat=30.0, lng=120.5, radius_m=300))
    db.session.add_all([template, institution])
    db.session.flush()
    training_class = TrainingClass(institution_id=institution.id, course_name="bench", occupation="电工",
                                   project_type="employment_skills", hours=8, starts_on=today,
                                   ends_on=today + timedelta(days=5), status="open")
    db.session.add(training_class)
    db.session.commit()
    now = utcnow()
    rows = [{"name": "学员", "id_number": f"{i:018d}", "groups": [], "region_code": "330602", "insurance_months": 0,
             "verified_via": "roster", "qr_code": f"P{i:015d}", "job_consent": False, "created_at": now}
            for i in range(people)]
    for start in range(0, people, 10_000):
        db.session.execute(insert(Person), rows[start:start + 10_000])
    ids = db.session.execute(text("SELECT id FROM people ORDER BY id")).scalars().all()
    for start in range(0, people, 10_000):
        db.session.execute(insert(Enrolment), [{"class_id": training_class.id, "person_id": pid, "source": "roster",
                                                "status": "enrolled", "created_at": now} for pid in ids[start:start + 10_000]])
    db.session.commit()
    return template.id, training_class.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--people", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url or f"sqlite:///{tmp}/bench.sqlite3",
                          "SECRET_KEY": "bench-secret-key-0123456789abcdef", "RATELIMIT_ENABLED": False})
        with app.app_context():
            template_id, class_id = load(args.people)
            db.session.remove()
            started = time.perf_counter()
            report = issuance.issue_directed(db.session, db.session.get(VoucherTemplate, template_id),
                                             db.session.get(TrainingClass, class_id), audit.Actor.system("bench"))
            seconds = time.perf_counter() - started
            vouchers = db.session.scalar(select(func.count(Voucher.id)))
            notices = db.session.scalar(select(func.count(Notification.id)))
            print(f"database: {db.engine.dialect.name}; issued {len(report.done):,} directed vouchers "
                  f"({vouchers:,} rows, {notices:,} notices) in {seconds:.2f}s — target < 10 s")
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
