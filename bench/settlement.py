"""结算核销 at scale (issue 16): how long the issuing bureau takes to review one settlement
application of 5,000 lines and to pay it, and how long the 资金拨付表 of 50,000 approved, unpaid
lines takes to build and to export (xlsx and csv). Target: each under 5 s.

    python bench/settlement.py                      # SQLite (a temporary file)
    python bench/settlement.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

The database given is emptied and rebuilt.

1. One institution, one class of two sessions, 5,000 trainees who each checked in to both
   sessions, passed the exam and used a voucher there: every line is eligible. The institution's
   application (`settlement.apply`) is timed, then `settlement.review` approving every code.
2. `settlement.pay` of that settlement by a second bureau clerk (reviewer and cashier must
   differ), one line returned by the bank ("账号有误"): 4,999 vouchers settled, 4,999 notices.
3. 50,000 approved, unpaid lines in another city (500 institutions × one settlement of 100 lines,
   loaded with bulk INSERTs, not through the services): `disbursement.build`, `xlsx_bytes` and
   `csv_bytes`, each timed on its own.

Statements sent to the database during each step are counted by a `before_cursor_execute`
listener on the engine (`--no-count` times without it)."""
import argparse
import sys
import tempfile
import time
import unicodedata
from datetime import time as clock
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, func, insert, select  # noqa: E402

from h5app import create_app  # noqa: E402
from h5app.codes import random_code  # noqa: E402
from h5app.extensions import db  # noqa: E402
from h5app.models import (  # noqa: E402
    CheckIn, ClassSession, ExamResult, Institution, Notification, PayeeAccount, Person, Region, Settlement,
    SettlementLine, Site, StaffUser, TrainingClass, Voucher, VoucherTemplate,
)
from h5app.policies import ensure_policies  # noqa: E402
from h5app.timeutil import local_at, local_today, utcnow  # noqa: E402
from h5app.vouchers import audit, disbursement, settlement  # noqa: E402

BATCH = 10_000
TARGET = 5.0
CITY, CITY_NAME, DISTRICT = "330600", "绍兴市", "330602"  # the one big settlement
OTHER, OTHER_NAME, OTHER_DISTRICT = "330100", "杭州市", "330102"  # the 50,000 lines of the 拨付表


def bulk(model, rows: list[dict]) -> None:
    for start in range(0, len(rows), BATCH):
        db.session.execute(insert(model), rows[start:start + BATCH])


def people(count: int, first: int, region_code: str, now) -> list[int]:
    bulk(Person, [{"name": "学员", "id_number": f"{i:018d}", "groups": [], "region_code": region_code,
                   "insurance_months": 60, "verified_via": "bench", "qr_code": f"P{i:015d}", "job_consent": False,
                   "created_at": now} for i in range(first, first + count)])
    return db.session.scalars(select(Person.id).where(Person.id_number >= f"{first:018d}",
                                                      Person.id_number < f"{first + count:018d}")
                              .order_by(Person.id)).all()


def template(name: str, region_code: str, policy_id: int) -> VoucherTemplate:
    today = local_today()
    return VoucherTemplate(name=name, voucher_type="就业技能培训券", region_code=region_code, policy_id=policy_id,
                           status="active", function_mode="face_value", distribution_mode="general",
                           face_value_fen=150000, claim_starts_on=today - timedelta(days=60),
                           claim_ends_on=today + timedelta(days=30), valid_days=180)


def institution(n: int, region_code: str) -> Institution:
    row = Institution(code=f"B{n:06d}", name=f"bench school {n}", region_code=region_code, type="other")
    row.sites.append(Site(name="本部", lat=30.0, lng=120.58, radius_m=300))
    return row


def payee(inst: Institution, n: int) -> dict:
    return {"institution_id": inst.id, "account_name": inst.name, "bank_name": "中国工商银行绍兴越城支行",
            "account_number": f"1211{n:015d}", "status": "active", "entered_by": "bench", "created_at": utcnow()}


def training_class(inst: Institution, name: str) -> TrainingClass:
    """Two four-hour sessions, already held (a class applies for settlement once it has run)."""
    start = local_today() - timedelta(days=12)
    row = TrainingClass(institution_id=inst.id, course_name=name, occupation="电工", level="四级",
                        project_type="employment_skills", price_fen=300000, hours=8, starts_on=start,
                        ends_on=start + timedelta(days=10), status="open")
    for n in range(2):
        day = start + timedelta(days=n)
        row.sessions.append(ClassSession(title=f"第{n + 1}次课", starts_at=local_at(day, clock(8)),
                                         ends_at=local_at(day, clock(12)), hours=4, qr_code=random_code("S")))
    return row


def used_vouchers(template_id: int, training_class: TrainingClass, person_ids: list[int], now) -> None:
    used = now - timedelta(days=11)
    bulk(Voucher, [{"code": random_code(), "template_id": template_id, "person_id": pid, "status": "used",
                    "offered_at": used - timedelta(days=5), "claimed_at": used - timedelta(days=5),
                    "expires_at": used + timedelta(days=170), "used_at": used, "class_id": training_class.id,
                    "institution_id": training_class.institution_id, "created_at": used - timedelta(days=5)}
                   for pid in person_ids])


def load_review(trainees: int) -> dict:
    """Scenario 1 and 2: one institution, one class with `trainees` eligible used vouchers; two
    bureau clerks."""
    policy = ensure_policies(db.session)["default"]
    db.session.add(Region(code=CITY, name=CITY_NAME, policy_id=policy.id))
    db.session.add(Region(code=OTHER, name=OTHER_NAME, policy_id=policy.id))
    now = utcnow()
    tmpl = template("bench", CITY, policy.id)
    inst = institution(1, DISTRICT)
    db.session.add_all([tmpl, inst])
    db.session.flush()
    db.session.execute(insert(PayeeAccount), [payee(inst, 1)])
    cls = training_class(inst, "bench")
    clerks = [StaffUser(username=f"bench_clerk{n}", name=f"经办{n}", role="bureau", region_code=CITY,
                        password_hash="!") for n in range(2)]
    db.session.add_all([cls, *clerks])
    db.session.flush()
    person_ids = people(trainees, 0, DISTRICT, now)
    used_vouchers(tmpl.id, cls, person_ids, now)
    bulk(CheckIn, [{"session_id": s.id, "person_id": pid, "method": "scan", "created_at": s.starts_at}
                   for s in cls.sessions for pid in person_ids])
    bulk(ExamResult, [{"class_id": cls.id, "person_id": pid, "passed": True, "score": 90, "created_at": now}
                      for pid in person_ids])
    db.session.commit()
    return {"class": cls.id, "clerks": [c.id for c in clerks]}


def load_disbursement(institutions: int, lines_each: int) -> None:
    """Scenario 3: `institutions` × one reviewed settlement of `lines_each` approved, unpaid lines,
    in another city than scenario 1's."""
    policy_id = ensure_policies(db.session)["default"].id
    now = utcnow()
    tmpl = template("bench sheet", OTHER, policy_id)
    schools = [institution(1000 + n, OTHER_DISTRICT) for n in range(institutions)]
    db.session.add_all([tmpl, *schools])
    db.session.flush()
    db.session.execute(insert(PayeeAccount), [payee(inst, 1000 + n) for n, inst in enumerate(schools)])
    classes = [TrainingClass(institution_id=inst.id, course_name="bench sheet", occupation="电工",
                             project_type="employment_skills", price_fen=300000, hours=8,
                             starts_on=local_today() - timedelta(days=30), ends_on=local_today() - timedelta(days=20),
                             status="completed") for inst in schools]
    db.session.add_all(classes)
    db.session.flush()
    person_ids = people(institutions * lines_each, 10_000_000, OTHER_DISTRICT, now)
    used = now - timedelta(days=25)
    vouchers = []
    for n, cls in enumerate(classes):
        for pid in person_ids[n * lines_each:(n + 1) * lines_each]:
            vouchers.append({"code": random_code(), "template_id": tmpl.id, "person_id": pid, "status": "used",
                             "offered_at": used, "claimed_at": used, "expires_at": used + timedelta(days=180),
                             "used_at": used, "class_id": cls.id, "institution_id": cls.institution_id,
                             "created_at": used})
    bulk(Voucher, vouchers)
    reviewer = db.session.scalar(select(StaffUser.id).where(StaffUser.username == "bench_clerk0"))
    db.session.execute(insert(Settlement), [
        {"institution_id": cls.institution_id, "class_id": cls.id, "region_code": OTHER, "status": "reviewed",
         "submitted_at": now, "reviewed_at": now, "reviewed_by_id": reviewer, "created_at": now} for cls in classes])
    settlement_of = dict(db.session.execute(select(Settlement.class_id, Settlement.id)
                                            .where(Settlement.region_code == OTHER)).all())
    voucher_rows = db.session.execute(select(Voucher.id, Voucher.class_id).where(Voucher.template_id == tmpl.id)
                                      .order_by(Voucher.id)).all()
    bulk(SettlementLine, [{"settlement_id": settlement_of[class_id], "voucher_id": voucher_id, "eligible": True,
                           "attendance_rate": 1, "exam_passed": True, "amount_fen": 150000, "decision": "approved",
                           "approved_amount_fen": 150000, "decided_by": f"staff:{reviewer}"}
                          for voucher_id, class_id in voucher_rows])
    db.session.commit()


def pad(text: str, width: int) -> str:
    """`text` left-aligned in `width` terminal columns (a Chinese character takes two)."""
    wide = sum(unicodedata.east_asian_width(c) in "WF" for c in text)
    return text + " " * max(width - len(text) - wide, 0)


class Steps:
    """Each step's wall-clock seconds, this process's CPU seconds (on a busy machine the wall
    clock also counts waiting for a CPU) and, when counting, the statements it sent."""

    def __init__(self, engine=None):
        self.engine, self.rows = engine, []

    def run(self, name: str, call, counted: bool = True):
        statements = None
        started, cpu = time.perf_counter(), time.process_time()
        if counted and self.engine is not None:
            event.listen(self.engine, "before_cursor_execute", self._count)
            self._statements = 0
            try:
                value = call()
            finally:
                event.remove(self.engine, "before_cursor_execute", self._count)
            statements = self._statements
        else:
            value = call()
        self.rows.append((name, time.perf_counter() - started, time.process_time() - cpu, statements))
        return value

    def _count(self, *_args, **_kwargs):
        self._statements += 1

    def print(self) -> None:
        print(f"{'step':<44}{'seconds':>9}{'CPU s':>8}{'statements':>12}   target")
        for name, seconds, cpu, statements in self.rows:
            verdict = "< 5 s" + ("" if seconds < TARGET else "  OVER")
            shown = f"{statements:>12,}" if statements is not None else f"{'':>12}"
            print(f"{pad(name, 44)}{seconds:>9.2f}{cpu:>8.2f}{shown}   {verdict}")


def settle_class(steps: Steps, class_id: int, clerk_ids: list[int], lines: int):
    """Apply, review (approve every code) and pay one class's settlement from a fresh session."""
    db.session.remove()
    cls = db.session.get(TrainingClass, class_id)
    officer = audit.Actor("staff", None, "bench 核券", institution_id=cls.institution_id)
    reviewer, cashier = (audit.Actor.for_staff(db.session.get(StaffUser, i)) for i in clerk_ids)
    now = utcnow()
    application = steps.run(f"apply: build the {lines:,}-line application",
                            lambda: settlement.apply(db.session, cls, officer, now=now))
    codes = [line.voucher.code for line in application.lines]
    steps.run(f"review: approve {len(codes):,} lines",
              lambda: settlement.review(db.session, application, reviewer, approve=codes, now=now))
    batch = steps.run(f"pay: {len(codes) - 1:,} paid, 1 failed",
                      lambda: settlement.pay(db.session, application, cashier, reference="HD20261206000001",
                                             failed=[(codes[0], "账号有误")], now=now))
    return len(codes), batch.paid_lines, batch.failed_lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", "--postgres", dest="database_url",
                        help="default: a temporary SQLite file")
    parser.add_argument("--lines", type=int, default=5_000, help="lines of the settlement reviewed and paid")
    parser.add_argument("--institutions", type=int, default=500, help="settlements on the 拨付表, one each")
    parser.add_argument("--lines-each", type=int, default=100, help="approved unpaid lines per settlement")
    parser.add_argument("--no-count", action="store_true", help="time without counting statements")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url or f"sqlite:///{tmp}/bench.sqlite3",
                          "SECRET_KEY": "bench-secret-key-0123456789abcdef", "RATELIMIT_ENABLED": False})
        with app.app_context():
            started = time.perf_counter()
            db.drop_all()
            db.create_all()
            ids = load_review(args.lines)
            loaded_review = time.perf_counter() - started
            started = time.perf_counter()
            load_disbursement(args.institutions, args.lines_each)
            loaded_sheet = time.perf_counter() - started
            if db.engine.dialect.name == "postgresql":
                # A production database has planner statistics (autovacuum); a bulk-loaded one has none yet.
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.exec_driver_sql("VACUUM ANALYZE")
            print(f"database: {db.engine.dialect.name}; loaded one class of {args.lines:,} eligible used vouchers "
                  f"in {loaded_review:.1f}s, {args.institutions * args.lines_each:,} approved unpaid lines "
                  f"({args.institutions:,} settlements) in {loaded_sheet:.1f}s")

            steps = Steps(None if args.no_count else db.engine)
            lines, paid, failed = settle_class(steps, ids["class"], ids["clerks"], args.lines)
            db.session.remove()
            sheet = steps.run(f"拨付表 build ({args.institutions * args.lines_each:,} lines)", lambda: disbursement.build(
                db.session, region_code=OTHER, region_prefix=OTHER[:4], unpaid_only=True), counted=False)
            xlsx = steps.run("拨付表 xlsx_bytes", lambda: disbursement.xlsx_bytes(sheet), counted=False)
            csv = steps.run("拨付表 csv_bytes", lambda: disbursement.csv_bytes(sheet), counted=False)
            settled = db.session.scalar(select(func.count(Voucher.id)).where(Voucher.status == "settled"))
            notices = db.session.scalar(select(func.count(Notification.id)))
            print(f"settlement of {lines:,} lines: paid {paid:,}, failed {failed:,}; "
                  f"{settled:,} vouchers settled, {notices:,} notices")
            print(f"资金拨付表: {len(sheet.entries):,} entries, {sum(len(e.codes) for e in sheet.entries):,} lines, "
                  f"total ¥{sheet.total_fen / 100:,.2f}; xlsx {len(xlsx):,} bytes, csv {len(csv):,} bytes")
            steps.print()
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
