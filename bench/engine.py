"""Engine throughput: verifications and claims per second through the service layer, each beside
the bare guarded UPDATE it is built around, on the same database in the same run.

    python bench/engine.py                                  # SQLite (a temporary file)
    python bench/engine.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

The database given is emptied and rebuilt. 100,000 claimed vouchers are loaded first, so every
look-up runs against a realistically sized table."""
import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text, update  # noqa: E402
from sqlalchemy.orm import joinedload  # noqa: E402

from h5app import create_app  # noqa: E402
from h5app.codes import random_code  # noqa: E402
from h5app.extensions import db  # noqa: E402
from h5app.models import (  # noqa: E402
    ClassSession, Institution, Person, Site, TrainingClass, Voucher, VoucherTemplate,
)
from h5app.policies import ensure_policies  # noqa: E402
from h5app.timeutil import local_today, utcnow  # noqa: E402
from h5app.vouchers import app_qr_secret, audit, qrtoken  # noqa: E402
from h5app.vouchers import claim as claim_service  # noqa: E402
from h5app.vouchers import verify as verify_service  # noqa: E402


def build_app(url: str):
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-secret-key-0123456789abcdef",
                       "RATELIMIT_ENABLED": False})


def load(n_vouchers: int, n_claimers: int):
    """n claimed vouchers of one template (one per person), plus people who have not claimed."""
    db.drop_all()
    db.create_all()
    policy = ensure_policies(db.session)["default"]
    today = local_today()
    common = dict(region_code="330600", policy_id=policy.id, status="active", function_mode="face_value",
                  face_value_fen=100000, claim_starts_on=today - timedelta(days=1),
                  claim_ends_on=today + timedelta(days=30), valid_days=90)
    held = VoucherTemplate(name="bench held", voucher_type="A", distribution_mode="general",
                           stock=None, claimed_count=n_vouchers, **common)
    open_ = VoucherTemplate(name="bench open", voucher_type="B", distribution_mode="general", stock=n_claimers * 4,
                            **common)
    institution = Institution(code="B000001", name="bench school", region_code="330602", type="other")
    institution.sites.append(Site(name="main", lat=30.0, lng=120.5, radius_m=300))
    db.session.add_all([held, open_, institution])
    db.session.flush()
    training_class = TrainingClass(institution_id=institution.id, course_name="bench", occupation="电工",
                                   project_type="employment_skills", hours=8, starts_on=today,
                                   ends_on=today + timedelta(days=5), status="open")
    training_class.sessions.append(ClassSession(starts_at=utcnow(), ends_at=utcnow() + timedelta(hours=4), hours=4))
    db.session.add(training_class)
    db.session.commit()
    now = utcnow()
    people = [{"name": "测试", "id_number": f"{i:018d}", "phone": None, "groups": [], "region_code": "330602",
               "insurance_months": 60, "verified_via": "bench", "qr_code": f"P{i:015d}", "job_consent": False,
               "created_at": now} for i in range(n_vouchers + n_claimers)]
    for start in range(0, len(people), 10_000):
        db.session.execute(insert(Person), people[start:start + 10_000])
    ids = db.session.execute(text("SELECT id FROM people ORDER BY id")).scalars().all()
    vouchers = [{"code": random_code(), "template_id": held.id, "person_id": pid, "status": "claimed",
                 "claimed_at": now, "expires_at": now + timedelta(days=90), "created_at": now}
                for pid in ids[:n_vouchers]]
    for start in range(0, len(vouchers), 10_000):
        db.session.execute(insert(Voucher), vouchers[start:start + 10_000])
    db.session.commit()
    return training_class.id, open_.id, ids[n_vouchers:]


def bench_verify(class_id: int, codes: list[str]) -> float:
    """Only the service call is timed (it reads the class itself, as every caller lets it)."""
    secret = app_qr_secret()
    actor = audit.Actor("staff", None, "bench")
    tokens = [qrtoken.sign(secret, qrtoken.KIND_VOUCHER, c) for c in codes]
    spent = 0.0
    for token in tokens:
        started = time.perf_counter()
        result = verify_service.verify(db.session, qr=token, class_id=class_id, actor=actor, qr_secret=secret)
        spent += time.perf_counter() - started
        assert result.result == "verified"
    return spent


def bench_bare_verify(class_id: int, codes: list[str]) -> float:
    now = utcnow()
    started = time.perf_counter()
    for code in codes:
        result = db.session.execute(
            update(Voucher).where(Voucher.code == code, Voucher.status == "claimed")
            .values(status="used", used_at=now, class_id=class_id)
            .execution_options(synchronize_session=False)
        )
        assert result.rowcount == 1
        db.session.commit()
    return time.perf_counter() - started


def bench_claim(template_id: int, person_ids: list[int]) -> float:
    """Only the service call is timed: the person (the signed-in user) and the template are
    loaded first, as a request handler does."""
    spent = 0.0
    for pid in person_ids:
        person = db.session.get(Person, pid)
        template = db.session.get(VoucherTemplate, template_id, options=[joinedload(VoucherTemplate.policy)],
                                  populate_existing=True)
        started = time.perf_counter()
        claim_service.claim(db.session, person, template)
        spent += time.perf_counter() - started
    return spent


def bench_bare_claim(template_id: int, person_ids: list[int]) -> float:
    started = time.perf_counter()
    for _ in person_ids:
        result = db.session.execute(
            update(VoucherTemplate)
            .where(VoucherTemplate.id == template_id,
                   (VoucherTemplate.stock.is_(None)) | (VoucherTemplate.claimed_count < VoucherTemplate.stock))
            .values(claimed_count=VoucherTemplate.claimed_count + 1)
            .execution_options(synchronize_session=False)
        )
        assert result.rowcount == 1
        db.session.commit()
    return time.perf_counter() - started


def interleaved(rounds: int, service, bare, service_items: list, bare_items: list) -> tuple[float, float]:
    """Rates of `service` and `bare`, measured in alternating rounds so that drift in the
    machine's speed (other load, PostgreSQL checkpoints) falls on both alike."""
    spent = {"service": 0.0, "bare": 0.0}
    size = len(service_items) // rounds
    for r in range(rounds):
        spent["service"] += service(service_items[r * size:(r + 1) * size])
        spent["bare"] += bare(bare_items[r * size:(r + 1) * size])
    n = size * rounds
    return n / spent["service"], n / spent["bare"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--vouchers", type=int, default=100_000)
    parser.add_argument("--ops", type=int, default=2_000, help="operations timed per measurement")
    parser.add_argument("--rounds", type=int, default=8, help="alternating service/bare rounds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        app = build_app(url)
        with app.app_context():
            started = time.perf_counter()
            class_id, open_id, claimers = load(args.vouchers, args.ops * 2)
            print(f"database: {db.engine.dialect.name}; loaded {args.vouchers:,} claimed vouchers "
                  f"in {time.perf_counter() - started:.1f}s")
            codes = db.session.execute(text("SELECT code FROM vouchers ORDER BY id")).scalars().all()
            service_codes, bare_codes = codes[: args.ops], codes[args.ops: args.ops * 2]
            rows = [
                ("verify", *interleaved(args.rounds, lambda items: bench_verify(class_id, items),
                                        lambda items: bench_bare_verify(class_id, items), service_codes, bare_codes)),
                ("claim", *interleaved(args.rounds, lambda items: bench_claim(open_id, items),
                                       lambda items: bench_bare_claim(open_id, items), claimers[: args.ops],
                                       claimers[args.ops: args.ops * 2])),
            ]
            print(f"{'operation':<10}{'service/s':>12}{'bare UPDATE/s':>16}{'ratio':>8}   (target ratio ≥ 0.5)")
            for name, service, bare in rows:
                print(f"{name:<10}{service:>12,.0f}{bare:>16,.0f}{service / bare:>8.2f}")
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
