"""People records at scale (issue 18): import 200,000 people from a generated CSV through the same
code as 人员信息导入 and `flask people import` (a background task, CHUNK rows per transaction), and
print rows/s and memory. Targets: import ≥ 5,000 rows/s; memory flat in the file's size (compare
--people 50000 with 200000: the peak should not grow with it).

    python bench/people.py                      # SQLite (a temporary file), 200,000 people
    python bench/people.py --people 50000 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
    python bench/people.py --tracemalloc        # the import's peak of Python allocations (slower run)

The database given is emptied and rebuilt. One function per phase: `generate_csv`, `phase_import`
(and the re-import of the same file, which must change nothing); `phase_issue` offers a Shaoxing
general template to the half of them it matches (insured in 越城区 for 36 months or more), through
the 发券 page's preview and background task (target: 100,000 offers under 20 s).
`--phases issue` runs the issuance alone, on people written by bulk INSERTs (`generate_people`)."""
import argparse
import csv
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select, text

from h5app import create_app
from h5app.extensions import db
from h5app.identity import id_check_char
from h5app.models import (
    AuditEvent,
    BackgroundTask,
    Notification,
    Person,
    PersonRecordChange,
    Region,
    StaffUser,
    Voucher,
    VoucherTemplate,
)
from h5app.people import importer
from h5app.policies import SHAOXING, ensure_policies
from h5app.tasks import run as run_task
from h5app.vouchers import audit, population

DISTRICTS = [("330602", "越城区"), ("330603", "柯桥区"), ("330604", "上虞区")]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def setup() -> None:
    db.drop_all()
    db.create_all()
    policy = ensure_policies(db.session)[SHAOXING]
    db.session.add(Region(code="330600", name="绍兴市", policy_id=policy.id))
    for code, name in DISTRICTS:
        db.session.add(Region(code=code, name=name, parent_code="330600", policy_id=policy.id))
    db.session.commit()


def generate_csv(path: Path, people: int, as_of: date) -> None:
    """`people` rows with valid ID numbers; every other one insured in 越城区 for 36–95 months (the
    half a Shaoxing general template reaches), the others 0–35 months or insured elsewhere."""
    born = date(1970, 1, 1)
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["身份证号", "姓名", "手机号", "户籍地", "常住地", "就业地", "参保地", "参保月数", "失业登记地",
                         "重点群体", "信息日期"])
        for i in range(people):
            day = born + timedelta(days=i // 1000)
            first17 = f"330602{day:%Y%m%d}{i % 1000:03d}"
            match = i % 2 == 0
            district = DISTRICTS[i % 3][0]
            writer.writerow([first17 + id_check_char(first17), "王建国", f"13{i:09d}", district, district,
                             "330602" if match else district, "330602" if match else DISTRICTS[1 + i % 2][0],
                             36 + i % 60 if match else i % 36, "", "失业人员" if i % 4 else "农村转移就业劳动者",
                             as_of.isoformat()])


def timed_run(app, task_id: int, trace: bool) -> tuple[float, float, float, float | None]:
    """Run the background task as the pool would; (seconds, CPU seconds, RSS before in MB, the
    Python heap's peak in MB when `trace`)."""
    if trace:
        tracemalloc.start()
    before = rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    run_task(app, task_id)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    if trace:
        tracemalloc.stop()
    return seconds, cpu, before, peak


def phase_import(app, path: Path, trace: bool) -> dict:
    """Import the file as the bureau's page does (prepare, then the task), timed."""
    prepared = importer.prepare(path, path.name)
    task = BackgroundTask(kind=importer.KIND, params=prepared.params(), region_code="330600", total=prepared.total)
    db.session.add(task)
    db.session.commit()
    task_id = task.id
    db.session.remove()
    seconds, cpu, before, peak = timed_run(app, task_id, trace)
    task = db.session.get(BackgroundTask, task_id)
    return {"status": task.status, "rows": task.processed, "seconds": seconds, "cpu": cpu,
            "rows_per_s": task.processed / seconds, "rss_before": before, "rss_after": rss_mb(),
            "traced_peak": peak, "result": task.result}


def generate_people(people: int, as_of: date) -> None:
    """The same people as `generate_csv`, written straight to the table with bulk INSERTs (for the
    issuance phase run alone, without the import)."""
    born, now = date(1970, 1, 1), datetime.now(UTC).replace(tzinfo=None)
    rows = []
    for i in range(people):
        day = born + timedelta(days=i // 1000)
        first17 = f"330602{day:%Y%m%d}{i % 1000:03d}"
        match = i % 2 == 0
        district = DISTRICTS[i % 3][0]
        insured = "330602" if match else DISTRICTS[1 + i % 2][0]
        rows.append(dict(
            id_number=first17 + id_check_char(first17), name="王建国", phone=f"13{i:09d}", hukou_region_code=district,
            residence_region_code=district, employment_region_code="330602" if match else district,
            insurance_region_code=insured, insurance_months=36 + i % 60 if match else i % 36,
            groups=["unemployed"] if i % 4 else ["rural_migrant"], region_code=district, record_as_of=as_of,
            record_source="import", verified_via="import", qr_code=f"P{i:015d}", job_consent=False, session_epoch=0,
            created_at=now))
        if len(rows) == 10_000:
            db.session.execute(insert(Person), rows)
            rows = []
    if rows:
        db.session.execute(insert(Person), rows)
    db.session.commit()


def phase_issue(app, trace: bool, analyze: bool = True) -> dict:
    """通用券 to the matching half, as the bureau's 发券 page does it: the live count (preview),
    then the background task that makes the offers (with audit rows and 消息), timed."""
    today = date.today()
    policy = ensure_policies(db.session)[SHAOXING]
    clerk = StaffUser(username="bench_clerk", name="bench", role="bureau", region_code="330600")
    clerk.set_password("Bench-password-2026")
    template = VoucherTemplate(name="绍兴市通用职业技能培训券", voucher_type="通用券", region_code="330600",
                               function_mode="face_value", distribution_mode="general", face_value_fen=150000,
                               claim_starts_on=today - timedelta(days=1), claim_ends_on=today + timedelta(days=60),
                               valid_days=90, audience="targeted", policy_id=policy.id, status="active")
    db.session.add_all([clerk, template])
    db.session.commit()
    if analyze and db.engine.dialect.name == "postgresql":
        # Statistics for the people just written, as autovacuum's analyze gives a live server within a
        # minute (off on the development server): with none the planner takes each chunk's keyset
        # query for a bitmap scan of the whole population.
        db.session.execute(text("ANALYZE people"))
        db.session.execute(text("ANALYZE vouchers"))
        db.session.commit()
    filters = population.Filters(region_code="330602")  # insured in 越城区 (Shaoxing reads where insured)
    actor = audit.Actor.for_staff(clerk)
    started = time.perf_counter()
    shown = population.preview(db.session, template, filters, actor)
    preview_seconds = time.perf_counter() - started
    db.session.rollback()
    task = BackgroundTask(kind="population_issue", region_code="330600", created_by_id=clerk.id, total=shown.count,
                          params={"template_id": template.id, "filters": filters.to_params(),
                                  "expected": shown.count})
    db.session.add(task)
    db.session.commit()
    task_id, template_id = task.id, template.id
    db.session.remove()
    seconds, cpu, before, peak = timed_run(app, task_id, trace)
    task = db.session.get(BackgroundTask, task_id)
    made = db.session.scalar(select(func.count(Voucher.id)).where(Voucher.template_id == template_id))
    told = db.session.scalar(select(func.count(Notification.id)).where(Notification.kind == population.NOTICE_KIND))
    audited = db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "voucher.offer"))
    return {"status": task.status, "count": shown.count, "preview_seconds": preview_seconds, "seconds": seconds,
            "cpu": cpu, "rss_before": before, "rss_after": rss_mb(), "traced_peak": peak, "result": task.result,
            "vouchers": made, "notices": told, "audited": audited}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--people", type=int, default=200_000)
    parser.add_argument("--tracemalloc", action="store_true", help="trace Python allocations (slower)")
    parser.add_argument("--phases", default="import,issue",
                        help="comma-separated: import (the CSV through 人员信息导入), issue (通用券 to the matching "
                             "half; without import the people are written by bulk INSERTs)")
    parser.add_argument("--no-analyze", action="store_true",
                        help="PostgreSQL: issue without ANALYZE of the new people first (no statistics)")
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url or f"sqlite:///{tmp}/bench.sqlite3",
                          "SECRET_KEY": "bench-secret-key-0123456789abcdef", "RATELIMIT_ENABLED": False,
                          "IMPORT_DIR": tmp})
        with app.app_context():
            setup()
            if "import" in phases:
                run_import(app, Path(tmp), args)
            if "issue" in phases:
                run_issue(app, args, imported="import" in phases)
            db.session.remove()
            db.engine.dispose()


def run_import(app, tmp: Path, args) -> None:
    path = tmp / "people.csv"
    started = time.perf_counter()
    generate_csv(path, args.people, date.today() - timedelta(days=1))
    size = path.stat().st_size
    print(f"database: {db.engine.dialect.name}; generated {args.people:,} rows "
          f"({size / 2**20:.1f} MB) in {time.perf_counter() - started:.1f}s; RSS {rss_mb():.0f} MB")
    copy = tmp / "again.csv"
    copy.write_bytes(path.read_bytes())  # the task deletes its upload when done
    for label, file in (("import", path), ("re-import (same file)", copy)):
        figures = phase_import(app, file, args.tracemalloc)
        result = figures["result"]
        traced = f"; traced peak {figures['traced_peak']:.1f} MB" if figures["traced_peak"] is not None else ""
        print(f"{label}: {figures['rows']:,} rows in {figures['seconds']:.1f}s (CPU {figures['cpu']:.1f}s) "
              f"= {figures['rows_per_s']:,.0f} rows/s — target ≥ 5,000; created {result.get('created', 0):,}, "
              f"updated {result.get('updated', 0):,}, unchanged {result.get('unchanged', 0):,}, "
              f"rejected {result.get('rejected', 0):,}; max RSS {figures['rss_before']:.0f} → "
              f"{figures['rss_after']:.0f} MB{traced}")
    people = db.session.scalar(select(func.count(Person.id)))
    changes = db.session.scalar(select(func.count(PersonRecordChange.id)))
    print(f"people {people:,}; history rows {changes:,} (the re-import wrote none)")


def run_issue(app, args, imported: bool) -> None:
    if not imported:
        started = time.perf_counter()
        generate_people(args.people, date.today() - timedelta(days=1))
        print(f"database: {db.engine.dialect.name}; wrote {args.people:,} people by bulk INSERTs in "
              f"{time.perf_counter() - started:.1f}s; RSS {rss_mb():.0f} MB")
    figures = phase_issue(app, args.tracemalloc, analyze=not args.no_analyze)
    result = figures["result"]
    traced = f"; traced peak {figures['traced_peak']:.1f} MB" if figures["traced_peak"] is not None else ""
    print(f"population preview (the live count): {figures['count']:,} people in {figures['preview_seconds']:.2f}s")
    print(f"population issuance: {result.get('offered', 0):,} offers ({figures['vouchers']:,} vouchers, "
          f"{figures['audited']:,} audit rows, {figures['notices']:,} notices; task {figures['status']}"
          f"{', refused: ' + result['refused'] if result.get('refused') else ''}) in {figures['seconds']:.1f}s "
          f"(CPU {figures['cpu']:.1f}s) — target < 20 s; max RSS {figures['rss_before']:.0f} → "
          f"{figures['rss_after']:.0f} MB{traced}")


if __name__ == "__main__":
    main()
