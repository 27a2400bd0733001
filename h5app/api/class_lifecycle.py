"""取消班期, 退班 and 签退 through the API (issue 19, API.md "Classes"): the same services as the
pages (vouchers/cancellation.py, vouchers/checkout.py), with the same refusals as domain codes."""
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from ..extensions import db
from ..models.integration import SCOPE_BUREAU, SCOPE_INSTITUTION
from ..timeutil import iso_local
from ..vouchers import app_qr_secret, cancellation, checkout, presence
from . import serializers
from .blueprint import bp
from .registry import endpoint
from .schemas import Id, IdNumber, In, Iso, PersonOut, QrText, VoucherOut
from .scope import bureau_class, own_class, own_session

Reason = Annotated[str, Field(min_length=1, max_length=500, description="原因，劳动者会在消息中看到")]


class CancellationIn(In):
    reason: Reason


class ReturnedVoucher(BaseModel):
    code: str
    status: Literal["claimed"]
    expires_at: Iso | None = Field(description="顺延后的有效期")
    held_days: int = Field(description="被本班期占用的天数，有效期按此顺延")


class CancellationOut(BaseModel):
    class_id: int
    status: Literal["cancelled"]
    cancelled_at: Iso
    reason: str
    by: Literal["institution", "bureau"]
    vouchers_returned: list[ReturnedVoucher]
    enrolments_ended: int


class WithdrawalIn(In):
    id_number: IdNumber
    reason: Reason


class WithdrawalOut(BaseModel):
    class_id: int
    trainee: PersonOut
    voucher: VoucherOut | None = Field(description="退回的培训券（已恢复为 claimed）；未用券报名的学员为 null")
    held_days: int


class CheckoutIn(In):
    session_id: Id
    qr: QrText


class CheckoutOut(BaseModel):
    result: Literal["checked_out", "already_checked_out"]
    session_id: int
    class_id: int
    trainee: PersonOut
    checked_in_at: Iso
    checked_out_at: Iso
    minutes_present: int = Field(description="签到至签退在本次课时间内的分钟数")
    counts_time_present: bool = Field(description="本地区政策是否按在场时长计算打卡率")
    hours_credited: float = Field(description="本次课计入打卡率的课时")


@endpoint(bp, "POST", "/classes/{id}/cancellation", scopes=(SCOPE_INSTITUTION, SCOPE_BUREAU),
          summary="取消班期：已使用的培训券退回为 claimed（有效期按占用天数顺延），报名结束，通知学员",
          body=CancellationIn, response=CancellationOut, tag="classes", int_params=("id",))
def cancel_class(caller, body, id):
    # An institution's own class (and only before its first lesson starts); a bureau's region's, any time.
    training_class = bureau_class(caller, id) if caller.scope == SCOPE_BUREAU else own_class(caller, id)
    done = cancellation.cancel_class(db.session, training_class, body.reason, caller.actor)
    return {"class_id": training_class.id, "status": training_class.status,
            "cancelled_at": iso_local(training_class.cancelled_at), "reason": training_class.cancel_reason,
            "by": "bureau" if done.by_bureau else "institution", "enrolments_ended": done.enrolments_ended,
            "vouchers_returned": [{"code": v.code, "status": v.status, "expires_at": iso_local(v.expires_at),
                                   "held_days": done.held_days[v.id]} for v in done.returned]}


@endpoint(bp, "POST", "/classes/{id}/withdrawals", scopes=(SCOPE_INSTITUTION,),
          summary="退班：学员未参加任何课次时，培训券退回为 claimed；已参加培训的拒绝（ALREADY_ATTENDING）",
          body=WithdrawalIn, response=WithdrawalOut, status=201, tag="classes", int_params=("id",))
def withdraw(caller, body, id):
    training_class = own_class(caller, id)
    done = cancellation.withdraw(db.session, training_class, body.id_number, body.reason, caller.actor)
    return {"class_id": training_class.id, "trainee": serializers.person(done.person),
            "voucher": serializers.voucher(done.voucher) if done.voucher is not None else None,
            "held_days": done.held_days}


@endpoint(bp, "POST", "/checkouts", scopes=(SCOPE_INSTITUTION,), summary="培训签退（扫码）",
          body=CheckoutIn, response=CheckoutOut, tag="classes")
def scan_check_out(caller, body):
    lesson = own_session(caller, body.session_id)
    done = checkout.scan_check_out(db.session, lesson, body.qr, caller.actor, app_qr_secret())
    by_time = presence.counts_time_present(db.session, lesson.training_class)
    return {"result": done.result, "session_id": lesson.id, "class_id": lesson.class_id,
            "trainee": serializers.person(done.person), "checked_in_at": iso_local(done.check_in.created_at),
            "checked_out_at": iso_local(done.check_in.checked_out_at), "minutes_present": done.minutes_present,
            "counts_time_present": by_time,
            "hours_credited": float(round(presence.credited(done.check_in, lesson, by_time), 2))}
