"""补签: the check-in of a lesson missed a trainee who was there (phone flat, no signal, the scan gun
down); the institution asks for a correction with a reason and evidence — the paper sign-in sheet
— and the bureau of the class's region approves or refuses it. An approval records the attendance
(a check-in of method "correction"), so it counts toward the 打卡率, the sheets and the exports
like any other; every step is audited."""
import re

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..identity import id_number_error, mask_name, normalize_id_number
from ..models import AttendanceCorrection, CheckIn, ClassSession, Enrolment, Person, SettlementLine, Voucher
from ..models.attendance import CORRECTION_APPROVED, CORRECTION_PENDING, CORRECTION_REFUSED
from ..models.classes import CLASS_CLOSED, CLASS_COMPLETED, CLASS_OPEN, ENROLLED
from ..models.settlement import LINE_REJECTED
from ..timeutil import to_local, utcnow
from . import audit
from .errors import (
    AlreadyCheckedIn, ClassIsOnline, ClassNotOpen, CorrectionPending, CorrectionReviewed, NotEnrolled, OutOfScope,
    OutsideSessionTime, SettlementError, ValidationFailed,
)
from .notify import notify
from .transactions import service

REASON_MIN, REASON_MAX = 4, 500
URL_SHAPE = re.compile(r"^https?://[^\s<>\"']{3,490}$", re.IGNORECASE)
# A class whose lessons can have been attended: not a draft, one waiting for 开班审核 or cancelled.
ATTENDED_STATUSES = (CLASS_OPEN, CLASS_CLOSED, CLASS_COMPLETED)


def reason_problem(reason: str | None, *, required: bool = True) -> str | None:
    text = (reason or "").strip()
    if not text:
        return "请填写原因" if required else None
    if len(text) < REASON_MIN:
        return f"原因请至少写{REASON_MIN}个字，说明具体情况"
    if len(text) > REASON_MAX:
        return f"原因请在{REASON_MAX}字以内"
    return None


def lesson_label(class_session: ClassSession) -> str:
    return f"{class_session.title or '课次'}（{to_local(class_session.starts_at):%m月%d日 %H:%M}）"


def enrolled_person(session, class_session: ClassSession, id_number: str) -> Person:
    """The trainee of `id_number` enrolled in the lesson's class, or the error saying why not."""
    number = normalize_id_number(id_number)
    problem = id_number_error(number)
    if problem:
        raise ValidationFailed(problem, fields={"id_number": problem})
    person = session.scalar(select(Person).join(Enrolment, Enrolment.person_id == Person.id).where(
        Person.id_number == number, Enrolment.class_id == class_session.class_id, Enrolment.status == ENROLLED))
    if person is None:
        raise NotEnrolled("该学员未报名本班期，不能申请补签")
    return person


@service
def request_correction(session, class_session: ClassSession, person: Person, reason: str, actor: audit.Actor,
                       *, evidence_file: str | None = None, evidence_url: str | None = None,
                       now=None) -> AttendanceCorrection:
    """The institution asks that `person` be counted present at `class_session`."""
    now = now or utcnow()
    training_class = class_session.training_class
    if not actor.for_institution(training_class.institution_id):
        raise OutOfScope("只能为本机构班期的学员申请补签")
    problems = {}
    if reason_problem(reason):
        problems["reason"] = reason_problem(reason)
    evidence_url = (evidence_url or "").strip() or None
    if evidence_url and not URL_SHAPE.match(evidence_url):
        problems["evidence_url"] = "佐证材料链接应为 http:// 或 https:// 开头的网址"
    if problems:
        raise ValidationFailed(next(iter(problems.values())), fields=problems)
    if training_class.is_online:
        raise ClassIsOnline("线上班期的学习时长由线上培训平台报送，无需补签")
    if training_class.status not in ATTENDED_STATUSES:
        raise ClassNotOpen(f"班期“{training_class.course_name}”{training_class.status_label}，不能申请补签")
    if now < class_session.starts_at:
        raise OutsideSessionTime(f"{lesson_label(class_session)}尚未开始，不能申请补签")
    enrolled = session.scalar(select(Enrolment.id).where(
        Enrolment.class_id == training_class.id, Enrolment.person_id == person.id, Enrolment.status == ENROLLED))
    if enrolled is None:
        raise NotEnrolled("该学员未报名本班期，不能申请补签")
    if session.scalar(select(CheckIn.id).where(CheckIn.session_id == class_session.id,
                                               CheckIn.person_id == person.id)) is not None:
        raise AlreadyCheckedIn(f"{mask_name(person.name)}在{lesson_label(class_session)}已有签到记录，无需补签")
    applied = session.scalar(select(SettlementLine.settlement_id).join(Voucher, Voucher.id == SettlementLine.voucher_id).where(
        Voucher.class_id == training_class.id, Voucher.person_id == person.id, SettlementLine.decision != LINE_REJECTED))
    if applied is not None:  # its attendance was judged when applied for; a later 补签 would change nothing
        raise SettlementError(f"{mask_name(person.name)}的培训券已申请结算（结算申请 {applied}），不能再申请补签；"
                              "如该行被人社部门驳回，可补签后重新申请")
    pending = CorrectionPending(f"{mask_name(person.name)}在{lesson_label(class_session)}已有一份待审核的补签申请，"
                                f"请等待人社部门审核")
    if session.scalar(select(AttendanceCorrection.id).where(
            AttendanceCorrection.session_id == class_session.id, AttendanceCorrection.person_id == person.id,
            AttendanceCorrection.status == CORRECTION_PENDING)) is not None:
        raise pending
    correction = AttendanceCorrection(
        session_id=class_session.id, class_id=training_class.id, person_id=person.id,
        institution_id=training_class.institution_id, region_code=training_class.institution.region_code,
        reason=reason.strip(), evidence_file=evidence_file, evidence_url=evidence_url, status=CORRECTION_PENDING,
        requested_by=actor.label[:64], created_at=now)
    session.add(correction)
    try:
        session.flush()
    except IntegrityError:  # the same request sent twice at once: the other one is waiting
        raise pending from None
    audit.record(session, actor, "attendance.correction.request", person_id=person.id,
                 institution_id=training_class.institution_id, region_code=correction.region_code, at=now,
                 reason=correction.reason,
                 details={"correction_id": correction.id, "class_id": training_class.id,
                          "session_id": class_session.id, "evidence": bool(evidence_file or evidence_url)})
    session.commit()
    return correction


@service
def review_correction(session, correction: AttendanceCorrection, approve: bool, reason: str | None,
                      actor: audit.Actor, *, now=None) -> AttendanceCorrection:
    """The bureau of the class's region decides. Approving records the attendance; refusing needs
    a reason the institution can act on."""
    now = now or utcnow()
    if not actor.in_region(correction.region_code):
        raise OutOfScope("只能审核本地区培训机构的补签申请")
    problem = reason_problem(reason, required=not approve)
    if problem:
        raise ValidationFailed(problem if approve else f"不予通过须写明原因：{problem}", fields={"reason": problem})
    if not correction.is_pending:
        raise CorrectionReviewed(f"该补签申请已审核（{correction.status_label}），不能再次审核")
    status = CORRECTION_APPROVED if approve else CORRECTION_REFUSED
    reason = (reason or "").strip() or None
    # Guarded: of two clerks deciding at once, one decides.
    moved = session.execute(
        update(AttendanceCorrection)
        .where(AttendanceCorrection.id == correction.id, AttendanceCorrection.status == CORRECTION_PENDING)
        .values(status=status, reviewed_by=actor.label[:64], review_reason=reason, reviewed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        session.rollback()
        session.refresh(correction)
        raise CorrectionReviewed(f"该补签申请已由他人审核（{correction.status_label}）")
    class_session = correction.class_session
    if approve:
        check_in = session.scalar(select(CheckIn).where(
            CheckIn.session_id == correction.session_id, CheckIn.person_id == correction.person_id))
        if check_in is None:  # (a check-in made since the request stands as it is)
            check_in = CheckIn(session_id=correction.session_id, person_id=correction.person_id, method="correction",
                               recorded_by_id=actor.id if actor.type == "staff" else None, created_at=now)
            session.add(check_in)
            session.flush()
        session.execute(update(AttendanceCorrection).where(AttendanceCorrection.id == correction.id)
                        .values(check_in_id=check_in.id).execution_options(synchronize_session=False))
        notify(session, correction.person_id, "attendance_corrected", "补签已通过",
               f"您在“{class_session.training_class.course_name}”{lesson_label(class_session)}的补签已由人社部门审核通过，"
               f"计入打卡率。",
               link=f"/worker/classes/{correction.class_id}")
    audit.record(session, actor, f"attendance.correction.{'approve' if approve else 'refuse'}",
                 person_id=correction.person_id, institution_id=correction.institution_id,
                 region_code=correction.region_code, at=now, reason=reason,
                 details={"correction_id": correction.id, "class_id": correction.class_id,
                          "session_id": correction.session_id})
    session.commit()
    session.refresh(correction)
    return correction
