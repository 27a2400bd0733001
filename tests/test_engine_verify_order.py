"""验券: the checks run in the documented order (PRODUCT.md §4) — the first failing one decides the
error, fixing it reveals the next, and a repeat at the same class is answered before later checks."""
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from h5app.models import Voucher
from h5app.models.classes import CLASS_CLOSED, CLASS_OPEN
from h5app.models.institutions import ACTIVE, SUSPENDED
from h5app.models.vouchers import REVOKED, SETTLED, USED
from h5app.vouchers import errors, verify
from tests import factories as f

from .verify_support import (
    NOW, TS, _tampered, assert_refused, claimed_voucher, make_template, run_verify, used_voucher,
)


# --- the order of the checks ---------------------------------------------------------------------

VERIFY_ERRORS = [
    errors.QrInvalid, errors.QrExpired, errors.VoucherNotFound, errors.PersonMismatch, errors.VoucherNotClaimed,
    errors.VoucherAlreadyUsed, errors.VoucherSettled, errors.VoucherRevoked, errors.VoucherExpired,
    errors.NotApplicable, errors.ClassNotOpen, errors.InstitutionSuspended, errors.YearlyLimitReached,
]


def test_each_verify_check_has_its_own_code_and_chinese_message():
    codes = [error.code for error in VERIFY_ERRORS]
    assert len(set(codes)) == len(codes)
    for error in VERIFY_ERRORS:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in error.default_message), error.code
        assert error().to_dict() == {"code": error.code, "message": error.default_message}


def build(session, defects: set):
    """A voucher and a class with the listed defects, each one independent of the others."""
    inst = f.institution(status=SUSPENDED if "suspended" in defects else ACTIVE, suspended_reason="测试暂停")
    cls = f.training_class(inst, status=CLASS_CLOSED if "class_closed" in defects else CLASS_OPEN)
    owner = f.person()
    template = make_template("shaoxing", valid_days=365, occupation="焊工" if "not_applicable" in defects else None)
    if "yearly_limit" in defects:
        used_voucher(make_template("shaoxing", name="本年已激活"), owner, f.training_class())
    if "used_elsewhere" in defects or "settled" in defects:
        voucher = used_voucher(template, owner, f.training_class(),
                               status=SETTLED if "settled" in defects else USED)
    elif "revoked" in defects:
        voucher = claimed_voucher(template, owner, status=REVOKED, revoked_at=NOW)
    else:
        voucher = claimed_voucher(template, owner)
    if "expired" in defects:
        voucher.expires_at = NOW - timedelta(hours=1)
    session.commit()
    kwargs = {}
    if "qr_forged" in defects:
        kwargs["qr"] = _tampered(f.qr_for(voucher, TS))
    elif "qr_stale" in defects:
        kwargs["qr"] = f.qr_for(voucher, TS - 60)
    if "person_mismatch" in defects:
        kwargs["id_number"] = f.valid_id_number()
    return voucher, cls, kwargs


@pytest.mark.parametrize("defects, code", [
    ({"qr_forged", "person_mismatch", "used_elsewhere", "suspended"}, "QR_INVALID"),
    ({"qr_stale", "person_mismatch", "expired"}, "QR_EXPIRED"),
    ({"person_mismatch", "used_elsewhere", "not_applicable"}, "PERSON_MISMATCH"),
    ({"used_elsewhere", "not_applicable", "class_closed", "suspended", "yearly_limit"}, "VOUCHER_ALREADY_USED"),
    ({"settled", "not_applicable", "suspended"}, "VOUCHER_SETTLED"),
    ({"revoked", "expired", "suspended"}, "VOUCHER_REVOKED"),
    ({"expired", "suspended"}, "VOUCHER_EXPIRED"),
    ({"expired", "not_applicable", "class_closed", "yearly_limit"}, "VOUCHER_EXPIRED"),
    ({"not_applicable", "class_closed", "suspended", "yearly_limit"}, "NOT_APPLICABLE"),
    ({"class_closed", "suspended", "yearly_limit"}, "CLASS_NOT_OPEN"),
    ({"suspended", "yearly_limit"}, "INSTITUTION_SUSPENDED"),
    ({"yearly_limit"}, "YEARLY_LIMIT_REACHED"),
])
def test_the_first_failing_check_in_documented_order_decides_the_error(session, defects, code):
    voucher, cls, kwargs = build(session, defects)

    assert_refused(session, code, voucher, cls, **kwargs)


def test_fixing_each_problem_in_turn_reveals_the_next_check(session):
    """One voucher with every problem at once; mend them one by one and watch the checks go by."""
    voucher, cls, _ = build(session, {"expired", "not_applicable", "class_closed", "suspended", "yearly_limit"})
    template, inst = voucher.template, cls.institution
    stranger_id = f.valid_id_number()
    session.commit()

    def fix(change):
        change()
        session.commit()

    assert_refused(session, "QR_INVALID", voucher, cls, qr=_tampered(f.qr_for(voucher, TS)), id_number=stranger_id)
    assert_refused(session, "QR_EXPIRED", voucher, cls, qr=f.qr_for(voucher, TS - 90), id_number=stranger_id)
    assert_refused(session, "PERSON_MISMATCH", voucher, cls, id_number=stranger_id)
    assert_refused(session, "VOUCHER_EXPIRED", voucher, cls)
    fix(lambda: setattr(voucher, "expires_at", NOW + timedelta(days=1)))
    assert_refused(session, "NOT_APPLICABLE", voucher, cls)
    fix(lambda: setattr(template, "occupation", None))
    assert_refused(session, "CLASS_NOT_OPEN", voucher, cls)
    fix(lambda: setattr(cls, "status", CLASS_OPEN))
    assert_refused(session, "INSTITUTION_SUSPENDED", voucher, cls)
    fix(lambda: setattr(inst, "status", ACTIVE))
    assert_refused(session, "YEARLY_LIMIT_REACHED", voucher, cls)
    earlier = session.scalar(select(Voucher).where(Voucher.person_id == voucher.person_id, Voucher.id != voucher.id))
    fix(lambda: setattr(earlier, "used_at", datetime(2021, 6, 1)))

    assert run_verify(session, session.get(Voucher, voucher.id), cls).result == verify.VERIFIED


def test_already_verified_is_answered_before_later_checks(session):
    """A repeat scan at the same class is not a new use: a suspension since then does not turn it into an error."""
    voucher = claimed_voucher()
    cls = f.training_class()
    session.commit()
    run_verify(session, voucher, cls)
    cls.institution.status = SUSPENDED
    session.commit()

    assert run_verify(session, session.get(Voucher, voucher.id), cls).result == verify.ALREADY_VERIFIED
