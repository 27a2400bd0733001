"""Small builders for test data: each makes one valid object, any field overridable."""
import itertools
from datetime import UTC, date, datetime, time, timedelta

from h5app.codes import random_code
from h5app.extensions import db
from h5app.identity import id_check_char
from h5app.models import (
    AuditEvent, Certificate, Channel, CheckIn, ClassSession, Enrolment, ExamResult, Institution, PayeeAccount, Person,
    Region,
    Site, StaffUser, TrainingClass, Voucher, VoucherTemplate,
)
from h5app.models.classes import CLASS_OPEN
from h5app.models.settlement import ACCOUNT_ACTIVE
from h5app.models.vouchers import CLAIMED, CREDENTIAL, DIRECTED, FACE_VALUE, GENERAL, TEMPLATE_ACTIVE
from h5app.policies import ensure_policies
from h5app.timeutil import local_at, local_today
from h5app.vouchers import app_qr_secret, audit, qrtoken

_seq = itertools.count(1)
PASSWORD = "Correct-horse-42"


def valid_id_number(region: str = "330602", born: str = "19850101", serial: int | None = None) -> str:
    serial = next(_seq) % 1000 if serial is None else serial
    first17 = f"{region}{born}{serial:03d}"
    return first17 + id_check_char(first17)


def policy(code: str = "default"):
    return ensure_policies(db.session)[code]


def region(code: str = "330600", name: str = "绍兴市", policy_code: str = "default", parent: str | None = None):
    existing = db.session.query(Region).filter_by(code=code).one_or_none()
    if existing:
        return existing
    row = Region(code=code, name=name, parent_code=parent, policy_id=policy(policy_code).id)
    db.session.add(row)
    db.session.flush()
    return row


def person(**values) -> Person:
    n = next(_seq)
    defaults = dict(name="王建国", id_number=valid_id_number(), phone=f"139{n:08d}", groups=["unemployed"],
                    region_code="330602", insurance_months=48, verified_via="sso:test")
    row = Person(**{**defaults, **values})
    db.session.add(row)
    db.session.flush()
    return row


def institution(payee: bool = True, **values) -> Institution:
    """An institution with a site and, unless `payee=False`, a payee account in force."""
    n = next(_seq)
    defaults = dict(code=f"I{n:06d}", name=f"测试培训学校{n}", region_code="330602", type="private_school",
                    address="越城区测试路1号", phone="0575-88000000")
    row = Institution(**{**defaults, **values})
    row.sites.append(Site(name="本部", lat=30.0, lng=120.58, radius_m=300))
    db.session.add(row)
    db.session.flush()
    if payee:
        payee_account(institution_id=row.id, account_name=row.name, account_number=f"1211{n:015d}")
    return row


CARD_NUMBER = "6222021001115550003"  # passes the Luhn check


def payee_account(**values) -> PayeeAccount:
    """An account in force (status active) for an institution or a person."""
    defaults = dict(account_name="王建国", bank_name="中国工商银行绍兴越城支行", account_number=CARD_NUMBER,
                    status=ACCOUNT_ACTIVE, entered_by="测试")
    row = PayeeAccount(**{**defaults, **values})
    db.session.add(row)
    db.session.flush()
    return row


def training_class(inst: Institution | None = None, sessions: int = 2, **values) -> TrainingClass:
    inst = inst or institution()
    today = local_today()
    defaults = dict(institution_id=inst.id, course_name="电工培训", occupation="电工", level="四级",
                    project_type="employment_skills", price_fen=300000, hours=sessions * 4,
                    starts_on=today, ends_on=today + timedelta(days=10), status=CLASS_OPEN)
    row = TrainingClass(**{**defaults, **values})
    row.institution = inst
    row.sites = list(inst.sites)
    for n in range(sessions):
        day = row.starts_on + timedelta(days=n)
        row.sessions.append(ClassSession(title=f"第{n + 1}次课", starts_at=local_at(day, time(8)),
                                         ends_at=local_at(day, time(12)), hours=4, site_id=inst.sites[0].id))
    db.session.add(row)
    db.session.flush()
    return row


def template(policy_code: str = "default", **values) -> VoucherTemplate:
    today = local_today()
    region("330600", "绍兴市", policy_code)
    defaults = dict(name="就业技能培训券", voucher_type="就业技能培训券", region_code="330600",
                    function_mode=FACE_VALUE, distribution_mode=GENERAL, face_value_fen=150000,
                    standard_fen=None, project_types=[], claim_starts_on=today - timedelta(days=10),
                    claim_ends_on=today + timedelta(days=30), valid_days=90, stock=100,
                    policy_id=policy(policy_code).id, status=TEMPLATE_ACTIVE)
    row = VoucherTemplate(**{**defaults, **values})
    db.session.add(row)
    db.session.flush()
    return row


def lapsed_template(kind: str = "claim_ended") -> VoucherTemplate:
    """A template no offer may go out of any more: its claim window ended yesterday, or
    (`use_deadline_passed`) its fixed use deadline passed yesterday."""
    today = local_today()
    if kind == "claim_ended":
        return template(claim_starts_on=today - timedelta(days=40), claim_ends_on=today - timedelta(days=1))
    return template(claim_starts_on=today - timedelta(days=40), claim_ends_on=today + timedelta(days=30),
                    valid_until=today - timedelta(days=1))


# Each kind of lapsed_template, and the words that begin to say why it cannot be issued.
LAPSED = [("claim_ended", "领取时间已于"), ("use_deadline_passed", "使用期限已于")]


def directed_template(**values) -> VoucherTemplate:
    return template(**{"distribution_mode": DIRECTED, "function_mode": CREDENTIAL, "face_value_fen": None,
                       "standard_fen": 80000, "name": "定向抵用券", **values})


def staff(role: str = "bureau", password: str = PASSWORD, **values) -> StaffUser:
    n = next(_seq)
    defaults = dict(username=f"{role}{n}", name=f"{role}{n}", role=role)
    if role == "bureau":
        defaults["region_code"] = "330600"
        region("330600")
    row = StaffUser(**{**defaults, **values})
    if role != "bureau" and row.institution_id is None:
        row.institution_id = institution().id
    row.set_password(password)
    db.session.add(row)
    db.session.flush()
    return row


def channel(code: str = "zhrs", secret: str = "channel-secret-for-tests") -> Channel:
    row = Channel(code=code, name="智慧人社", secret=secret)
    db.session.add(row)
    db.session.flush()
    return row


def bureau_actor(region_code: str = "330600") -> audit.Actor:
    return audit.Actor("staff", None, "测试经办", region_code=region_code)


def institution_actor(inst: Institution) -> audit.Actor:
    return audit.Actor("staff", None, "测试核券", institution_id=inst.id)


def qr_for(voucher, now_ts: float | None = None) -> str:
    return qrtoken.sign(app_qr_secret(), qrtoken.KIND_VOUCHER, voucher.code, now_ts)


def days_ago(n: int) -> date:
    return local_today() - timedelta(days=n)


def voucher(tmpl: VoucherTemplate, owner: Person, status: str = CLAIMED, **values) -> Voucher:
    """A voucher row put straight into any state (for tests of what the engine does with it)."""
    row = Voucher(**{"code": random_code(), "template_id": tmpl.id, "person_id": owner.id, "status": status,
                     **values})
    db.session.add(row)
    db.session.flush()
    return row


def enrol(cls: TrainingClass, who: Person, **values) -> Enrolment:
    row = Enrolment(**{"class_id": cls.id, "person_id": who.id, "source": "roster", **values})
    db.session.add(row)
    db.session.flush()
    return row


def check_in(class_session: ClassSession, who: Person, **values) -> CheckIn:
    """Present for the whole lesson: in at its start, out (签退) at its end, so it counts the lesson
    whether or not the region's policy counts time present."""
    row = CheckIn(**{"session_id": class_session.id, "person_id": who.id, "method": "scan",
                     "created_at": class_session.starts_at, "checked_out_at": class_session.ends_at,
                     "checkout_method": "scan", **values})
    db.session.add(row)
    db.session.flush()
    return row


def desk_lesson(*, started: timedelta, ends_in: timedelta, hours: float) -> tuple[ClassSession, Person, StaffUser]:
    """A lesson that began `started` ago and ends in `ends_in`, of a new class with one enrolled worker
    (陈小燕), and a verifier at its institution's desk: (lesson, worker, verifier), committed."""
    now = utcnow_plus()
    cls = training_class(sessions=0)
    lesson = ClassSession(class_id=cls.id, title="第1次课", starts_at=now - started, ends_at=now + ends_in, hours=hours)
    db.session.add(lesson)
    worker = person(name="陈小燕")
    enrol(cls, worker)
    verifier = staff("verifier", institution_id=cls.institution_id)
    db.session.commit()
    return lesson, worker, verifier


def missed_lesson_class(*, days_ago: tuple[int, int] = (3, 2), officer_name: str | None = None,
                        clerk_name: str | None = None):
    """The 补签 scene: 越城区's school with a class of two past lessons (4 h each, `days_ago` days back),
    陈小燕 enrolled and checked in at the first only, the school's officer and 绍兴市's clerk:
    (school, class, lessons, trainee, officer, clerk), flushed."""
    region("330600", "绍兴市")
    region("330602", "越城区", parent="330600")
    school = institution(name="越城区电工培训学校", region_code="330602")
    cls = training_class(school, sessions=0, course_name="低压电工作业培训")
    now = utcnow_plus()
    lessons = []
    for n, days in enumerate(days_ago, start=1):
        lesson = ClassSession(class_id=cls.id, title=f"第{n}次课", starts_at=now - timedelta(days=days),
                              ends_at=now - timedelta(days=days) + timedelta(hours=4), hours=4)
        db.session.add(lesson)
        lessons.append(lesson)
    db.session.flush()
    trainee = person(name="陈小燕", region_code="330602")
    enrol(cls, trainee)
    check_in(lessons[0], trainee)
    officer = staff("officer", institution_id=school.id, **({"name": officer_name} if officer_name else {}))
    clerk = staff("bureau", region_code="330600", **({"name": clerk_name} if clerk_name else {}))
    return school, cls, lessons, trainee, officer, clerk


def exam_result(cls: TrainingClass, who: Person, passed: bool = True) -> ExamResult:
    row = ExamResult(class_id=cls.id, person_id=who.id, passed=passed)
    db.session.add(row)
    db.session.flush()
    return row


def certificate(who: Person, **values) -> Certificate:
    n = next(_seq)
    defaults = dict(person_id=who.id, number=f"CERT{n:08d}", name="电工四级证书", occupation="电工", level="四级",
                    issued_on=local_today(), issuer="绍兴市职业技能鉴定中心")
    row = Certificate(**{**defaults, **values})
    db.session.add(row)
    db.session.flush()
    return row


def utcnow_plus(**delta) -> datetime:
    from h5app.timeutil import utcnow

    return utcnow() + timedelta(**delta)


def earlier_this_year(**delta) -> datetime:
    """Naive UTC, `delta` before now but never before the current local (Beijing) year began: what a
    yearly limit counts as this year's, even in the first hours of 1 January."""
    from h5app.timeutil import local_year_bounds, utcnow

    now = utcnow()
    return max(now - timedelta(**delta), local_year_bounds(local_today(now).year)[0])


def epoch(moment: datetime) -> float:
    """Unix seconds of a naive-UTC datetime: the now_ts that matches a `now=`."""
    return moment.replace(tzinfo=UTC).timestamp()


def audit_events(**where) -> list[AuditEvent]:
    """Audit rows matching column=value filters, oldest first."""
    return db.session.query(AuditEvent).filter_by(**where).order_by(AuditEvent.id).all()
