"""What one verification (verify.py) reads, in one statement: the class with its institution and —
by code — the voucher with its owner, template and policy, and the owner's enrolment in the class.
Read afresh (populate_existing): the checks judge what the database holds, not what the session
remembers. The class row is read with a KEY SHARE lock (PostgreSQL; SQLite's BEGIN IMMEDIATE already
serialises writers): a cancellation locks it FOR UPDATE, so a verification either commits before the
cancellation looks for the class's vouchers, or reads the class as cancelled (cancellation.py)."""
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import contains_eager, joinedload

from ..models import Enrolment, Institution, TrainingClass, Voucher, VoucherTemplate


@dataclass(frozen=True, slots=True)
class Reading:
    training_class: TrainingClass
    institution: Institution
    voucher: Voucher | None  # None: no voucher has this code
    enrolment: Enrolment | None  # the owner's enrolment in the class, if any

    @property
    def enrolment_status(self) -> str | None:
        return self.enrolment.status if self.enrolment is not None else None


def _statement():
    return (
        select(TrainingClass, Voucher, Enrolment)
        .join(TrainingClass.institution)
        .outerjoin(Voucher, Voucher.code == bindparam("code"))
        .outerjoin(Enrolment, and_(Enrolment.class_id == TrainingClass.id, Enrolment.person_id == Voucher.person_id))
        .options(contains_eager(TrainingClass.institution),
                 joinedload(Voucher.template).joinedload(VoucherTemplate.policy), joinedload(Voucher.person))
        .where(TrainingClass.id == bindparam("class_id"))
        .with_for_update(read=True, key_share=True, of=TrainingClass)
        .execution_options(populate_existing=True)
    )


# Built once, with bound parameters: a Select is immutable, and building this one (joins, eager
# loads) cost a fifth of a verification's CPU when it was built anew for every scan.
STATEMENT = _statement()


def read(session, class_id: int, code: str) -> Reading | None:
    """None when the class does not exist."""
    row = session.execute(STATEMENT, {"class_id": class_id, "code": code}).first()
    if row is None:
        return None
    training_class, voucher, enrolment = row
    return Reading(training_class, training_class.institution, voucher, enrolment)
