"""Per-object scope checks of the API, in one place: an institution key sees its own classes and
the vouchers used there, a bureau key its region, a channel key the people who signed in through
it. Anything else is 404 — its existence is not the caller's to learn."""
from functools import cache

from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import ClassSession, Institution, Person, Settlement, TrainingClass, Voucher, region_covers
from ..models.integration import SCOPE_BUREAU, SCOPE_CHANNEL, SCOPE_INSTITUTION
from .errors import ApiError, not_found
from .keys import Caller


def bureau_covers(caller: Caller, region_code: str | None) -> bool:
    return caller.scope == SCOPE_BUREAU and region_covers(caller.code, region_code)


@cache
def _class_query():
    # Built once: building the statement costs more than running it on the verification hot path.
    return (select(TrainingClass).options(joinedload(TrainingClass.institution))
            .where(TrainingClass.id == bindparam("class_id")))


def own_class(caller: Caller, class_id: int) -> TrainingClass:
    training_class = db.session.scalar(_class_query(), {"class_id": class_id})
    if training_class is None or training_class.institution_id != caller.institution_id:
        raise not_found("班期不存在")
    return training_class


def bureau_class(caller: Caller, class_id: int) -> TrainingClass:
    training_class = db.session.get(TrainingClass, class_id)
    if training_class is None or not bureau_covers(caller, training_class.institution.region_code):
        raise not_found("班期不存在")
    return training_class


def bureau_institution(caller: Caller, code: str) -> Institution:
    institution = db.session.scalar(select(Institution).where(Institution.code == code.strip()))
    if institution is None or not bureau_covers(caller, institution.region_code):
        raise not_found("培训机构不存在")
    return institution


def own_session(caller: Caller, session_id: int) -> ClassSession:
    class_session = db.session.get(ClassSession, session_id)
    if class_session is None or class_session.training_class.institution_id != caller.institution_id:
        raise not_found("课次不存在")
    return class_session


def visible_voucher(caller: Caller, code: str) -> Voucher:
    voucher = db.session.scalar(select(Voucher).where(Voucher.code == code.strip().upper()))
    if voucher is not None:
        if caller.scope == SCOPE_BUREAU and region_covers(caller.code, voucher.template.region_code):
            return voucher
        if caller.scope == SCOPE_INSTITUTION and voucher.institution_id == caller.institution_id:
            return voucher
    raise ApiError(404, "VOUCHER_NOT_FOUND", "未找到该培训券")  # API.md: an unknown code anywhere


def visible_person(caller: Caller, person: Person | None) -> bool:
    """A channel: the people who signed in through it; a bureau: the people whose 所在地区 it covers."""
    if person is None:
        return False
    if caller.scope == SCOPE_CHANNEL:
        return person.channel_code == caller.code
    return bureau_covers(caller, person.region_code)


def visible_settlement(caller: Caller, settlement_id: int) -> Settlement:
    settlement = db.session.get(Settlement, settlement_id)
    if settlement is not None:
        if caller.scope == SCOPE_BUREAU and region_covers(caller.code, settlement.region_code):
            return settlement
        if caller.scope == SCOPE_INSTITUTION and settlement.institution_id == caller.institution_id:
            return settlement
    raise not_found("结算申请不存在")


def caller_institution(caller: Caller) -> Institution:
    return db.session.get(Institution, caller.institution_id)
