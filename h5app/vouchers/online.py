"""线上培训 (seeds 000 §四(三), 001 附件1 三(3), 003 §三(二), 004 §三(三)): an online class has no site.
The worker enrolled in it uses their voucher themselves, confirming with their identity ("在线上培训
前，用户直接经电子社保卡的身份认证扣减职业培训券") — the same checks, move and audit as a scan at
the front desk (verify.judge), by the worker. The online platform reports the minutes each trainee
studied a lesson; they count as attendance (subsidy.credited_hours)."""
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..codes import normalize_code
from ..identity import id_number_error, mask_id_number, normalize_id_number
from ..models import CheckIn, Enrolment, Person, TrainingClass
from ..models.classes import ENROLLED
from ..timeutil import utcnow
from . import audit
from .corrections import lesson_label
from .errors import (
    ClassNotFound, ClassNotOnline, ClassNotOpen, ConcurrentChange, NotEnrolled, OutOfScope, ValidationFailed,
    VoucherNotFound,
)
from .transactions import in_chunks, service
from .verification_read import read
from .verify import VerifyResult, judge

# How the worker proved it was them just now (audit details): a code sent to their bound phone, or a
# sign-in through their channel's e-SSC a few minutes ago.
PROOF_SMS, PROOF_SSO = "sms", "sso"
PROOFS = {PROOF_SMS: "短信验证码", PROOF_SSO: "渠道实名认证"}
MAX_MINUTES = 24 * 60  # one lesson's study, as reported: a day at most


@service
def use_online(session, person: Person, class_id: int, voucher_code: str, *, proof: str,
               now=None) -> VerifyResult:
    """The worker uses their voucher `voucher_code` for the online class they enrolled in, having
    just proved who they are (`proof`). Another person's voucher is VoucherNotFound: whose codes
    exist is not the worker's to learn."""
    now = now or utcnow()
    if proof not in PROOFS:
        raise ValueError(f"unknown identity proof {proof!r}")
    reading = read(session, class_id, normalize_code(voucher_code or ""))
    if reading is None or not reading.training_class.is_online:
        raise ClassNotFound()
    if reading.voucher is None or reading.voucher.person_id != person.id:
        raise VoucherNotFound("未找到您的这张培训券")
    if reading.enrolment_status != ENROLLED:
        raise NotEnrolled("请先报名该班期，再使用培训券")
    return judge(session, reading, audit.Actor.for_person(person), now,
                 details={"delivery": "online", "identity": proof})


@dataclass
class StudyRow:
    index: int  # 1-based, as the caller sent them
    code: str
    message: str
    field: str | None = None


def _row_problems(session, training_class: TrainingClass, records: list[dict], now):
    """(people by id number, sessions by id, every bad row)."""
    problems = []
    lessons = {s.id: s for s in training_class.sessions}
    numbers = {normalize_id_number(str(r.get("id_number") or "")) for r in records}
    people = {}
    for chunk in in_chunks(sorted(numbers)):
        people.update({p.id_number: p for p in session.scalars(select(Person).where(Person.id_number.in_(chunk)))})
    enrolled = set(session.scalars(select(Enrolment.person_id).where(
        Enrolment.class_id == training_class.id, Enrolment.status == ENROLLED)))
    seen = {}
    for index, record in enumerate(records, start=1):
        number = normalize_id_number(str(record.get("id_number") or ""))
        session_id, minutes = record.get("session_id"), record.get("minutes")
        bad = id_number_error(number)
        if bad:
            problems.append(StudyRow(index, "INVALID_ID_NUMBER", bad, "id_number"))
            continue
        person = people.get(number)
        if person is None or person.id not in enrolled:
            problems.append(StudyRow(index, "NOT_ENROLLED", f"{mask_id_number(number)}未报名该班期", "id_number"))
        if session_id not in lessons:
            problems.append(StudyRow(index, "SESSION_NOT_IN_CLASS", f"课次{session_id}不属于该班期", "session_id"))
        elif _positive(minutes) and now < lessons[session_id].starts_at:  # nobody has studied it yet
            problems.append(StudyRow(index, "SESSION_NOT_STARTED",
                                     f"{lesson_label(lessons[session_id])}尚未开始，不能报送学习时长", "session_id"))
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 0 <= minutes <= MAX_MINUTES:
            problems.append(StudyRow(index, "INVALID_MINUTES", f"学习时长应为0到{MAX_MINUTES}之间的整数分钟", "minutes"))
        key = (number, session_id)
        if key in seen:
            problems.append(StudyRow(index, "DUPLICATE_ROW", f"与第{seen[key]}条是同一学员的同一课次", "session_id"))
        seen.setdefault(key, index)
    return people, lessons, problems


def _positive(minutes) -> bool:
    """Minutes studied, as reported (0 of a lesson to come is no claim: nothing is written for it)."""
    return isinstance(minutes, int) and not isinstance(minutes, bool) and minutes > 0


@dataclass
class StudySaved:
    saved: int  # rows written or updated
    people: list[tuple[int, str, str]]  # (id, name, id_number) of everyone the report named, in its order


@service
def record_study(session, training_class: TrainingClass, records: list[dict], actor: audit.Actor,
                 *, now=None) -> StudySaved:
    """Store the study minutes the platform reports, one row per (trainee, lesson): the latest
    report of a lesson replaces the one before. All or nothing: any bad row and nothing changes
    (ValidationFailed with every bad row, each with its code)."""
    now = now or utcnow()
    if not actor.for_institution(training_class.institution_id):
        raise OutOfScope("只能报送本机构班期的学习记录")
    if not training_class.is_online:
        raise ClassNotOnline("该班期为线下培训，学习时长只适用于线上班期；线下请用签到")
    if not training_class.is_running:
        raise ClassNotOpen(f"班期“{training_class.course_name}”{training_class.status_label}，不能报送学习记录")
    if not records:
        raise ValidationFailed("没有学习记录", fields={"records": "至少一条"})
    people, lessons, problems = _row_problems(session, training_class, records, now)
    if problems:
        raise ValidationFailed(f"学习记录有{len(problems)}处错误，未保存任何记录", rows=problems)
    person_ids = sorted({people[normalize_id_number(str(r["id_number"]))].id for r in records})
    existing = {}
    for chunk in in_chunks(person_ids):
        existing.update({(c.session_id, c.person_id): c for c in session.scalars(select(CheckIn).where(
            CheckIn.session_id.in_(list(lessons)), CheckIn.person_id.in_(chunk)))})
    saved, rows = [], []
    for record in records:
        person = people[normalize_id_number(str(record["id_number"]))]
        key = (record["session_id"], person.id)
        row = existing.get(key)
        before = row.study_minutes if row is not None else None
        if row is None and record["minutes"] > 0:  # nothing studied yet: no attendance to record
            row = CheckIn(session_id=key[0], person_id=person.id, method="online", study_minutes=record["minutes"],
                          created_at=now)
            session.add(row)
            existing[key] = row
        elif row is not None and row.method == "online":
            row.study_minutes = record["minutes"]
        # else: attended in person (or an approved 补签): the whole lesson counts already
        if row is not None:
            saved.append(row)
        rows.append(audit.values(actor, "attendance.study", person_id=person.id,
                                 institution_id=training_class.institution_id, at=now,
                                 region_code=training_class.institution.region_code,
                                 details={"class_id": training_class.id, "session_id": key[0],
                                          "minutes": record["minutes"], "before": before}))
    try:
        session.flush()
    except IntegrityError:  # a check-in of the same trainee and lesson was written meanwhile
        raise ConcurrentChange() from None
    audit.record_many(session, rows)
    named = {}
    for record in records:  # read before the commit expires them
        person = people[normalize_id_number(str(record["id_number"]))]
        named.setdefault(person.id, (person.id, person.name, person.id_number))
    session.commit()
    return StudySaved(len(saved), list(named.values()))
