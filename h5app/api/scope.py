"""The API's thin wrapper of h5app/access.py: who the caller is stands for whom the predicates ask
about — an institution key for its institution, a bureau key for its region, a channel key for
the people who signed in through it. A refusal is 404 — its existence is not the caller's to learn."""
from functools import cache

from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from .. import access
from ..extensions import db
from ..models import (
    AttendanceCorrection, ClassSession, Institution, Person, Settlement, TrainingClass, Voucher, VoucherTemplate,
)
from ..models.integration import SCOPE_BUREAU, SCOPE_CHANNEL, SCOPE_INSTITUTION
from .errors import ApiError, not_found
from .keys import Caller


def bureau_covers(caller: Caller, region_code: str | None) -> bool:
    return caller.scope == SCOPE_BUREAU and access.region_holds_code(caller.code, region_code)


def _owns(caller: Caller, obj) -> bool:
    return caller.scope == SCOPE_INSTITUTION and access.institution_owns(caller.institution_id, obj)


def _bureau_holds(caller: Caller, obj) -> bool:
    return caller.scope == SCOPE_BUREAU and access.region_holds(caller.code, obj)


@cache
def _class_query():
    # Built once: building the statement costs more than running it on the verification hot path.
    return (select(TrainingClass).options(joinedload(TrainingClass.institution))
            .where(TrainingClass.id == bindparam("class_id")))


def own_class(caller: Caller, class_id: int) -> TrainingClass:
    training_class = db.session.scalar(_class_query(), {"class_id": class_id})
    if not access.institution_owns(caller.institution_id, training_class):
        raise not_found("班期不存在")
    return training_class


def bureau_class(caller: Caller, class_id: int) -> TrainingClass:
    training_class = db.session.get(TrainingClass, class_id)
    if not _bureau_holds(caller, training_class):
        raise not_found("班期不存在")
    return training_class


def bureau_template(caller: Caller, template_id: int) -> VoucherTemplate:
    template = db.session.get(VoucherTemplate, template_id)
    if template is None or not bureau_covers(caller, template.region_code):
        raise not_found("券模板不存在")
    return template


def bureau_institution(caller: Caller, code: str) -> Institution:
    institution = db.session.scalar(select(Institution).where(Institution.code == code.strip()))
    if not _bureau_holds(caller, institution):
        raise not_found("培训机构不存在")
    return institution


def own_session(caller: Caller, session_id: int) -> ClassSession:
    class_session = db.session.get(ClassSession, session_id)
    if not access.institution_owns(caller.institution_id, class_session):
        raise not_found("课次不存在")
    return class_session


def visible_voucher(caller: Caller, code: str) -> Voucher:
    voucher = db.session.scalar(select(Voucher).where(Voucher.code == code.strip().upper()))
    if voucher is not None and (bureau_covers(caller, voucher.template.region_code) or _owns(caller, voucher)):
        return voucher
    raise ApiError(404, "VOUCHER_NOT_FOUND", "未找到该培训券")  # API.md: an unknown code anywhere


def visible_person(caller: Caller, person: Person | None) -> bool:
    """Who may see a person, in every answer that names one (their record, their vouchers, a
    certificate added for them, their payee account): a bureau when any region of the person's
    record is in its region — the rule of the bureau's own pages (access.person_in_region), so a
    record that another region's bureau moves (a newer 常住地) does not hide the person from a
    region that still holds them; a channel, the people who signed in through it."""
    if person is None:
        return False
    if caller.scope == SCOPE_BUREAU:
        return access.person_in_region(person, caller.code)
    return caller.scope == SCOPE_CHANNEL and access.channel_signed_in(caller.code, person)


def visible_settlement(caller: Caller, settlement_id: int) -> Settlement:
    settlement = db.session.get(Settlement, settlement_id)
    if _bureau_holds(caller, settlement) or _owns(caller, settlement):
        return settlement
    raise not_found("结算申请不存在")


def visible_correction(caller: Caller, correction_id: int) -> AttendanceCorrection:
    """The institution that asked, or a bureau covering the class's region; anyone else 404."""
    correction = db.session.get(AttendanceCorrection, correction_id)
    if _owns(caller, correction) or _bureau_holds(caller, correction):
        return correction
    raise not_found("补签申请不存在")


def caller_institution(caller: Caller) -> Institution:
    return db.session.get(Institution, caller.institution_id)
