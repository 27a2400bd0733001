"""验券 checks 1–3 (PRODUCT.md §4): the QR's signature and its 60 seconds of freshness, a voucher
that exists, presented by its owner.
The other checks, the yearly limits, their order and the statements a verification costs are in
the test_engine_verify_*.py modules beside this one."""
import pytest
from sqlalchemy import func, select

from h5app.models import AuditEvent
from h5app.vouchers import app_qr_secret, qrtoken, verify
from h5app.vouchers.errors import DomainError
from tests import factories as f
from tests.verify_support import NOW, TS, _tampered, assert_refused, claimed_voucher, run_verify, snapshot

# --- 1. the QR: signature and freshness ----------------------------------------------------------

@pytest.mark.parametrize("make_qr, message", [
    (lambda v: _tampered(f.qr_for(v, TS)), None),
    (lambda v: qrtoken.sign(b"another-secret" * 3, qrtoken.KIND_VOUCHER, v.code, TS), None),
    (lambda v: v.code, None),  # the static code alone is never accepted at the front desk
    (lambda v: "NOT-A-QR-CODE", None),
    (lambda v: f.qr_for(v, TS + 30), None),  # minted in the future
    (lambda v: qrtoken.sign(app_qr_secret(), qrtoken.KIND_PERSON, v.code, TS), "这不是培训券二维码"),
])
def test_forged_or_foreign_qr_is_refused_as_qr_invalid(session, make_qr, message):
    voucher = claimed_voucher()
    cls = f.training_class()
    session.commit()

    error = assert_refused(session, "QR_INVALID", voucher, cls, qr=make_qr(voucher))

    assert message is None or error.message.startswith(message)


@pytest.mark.parametrize("age, accepted", [(0, True), (29, True), (59, True), (60, False), (61, False), (600, False)])
def test_qr_is_accepted_for_60_seconds_then_refused_as_qr_expired(session, age, accepted):
    voucher = claimed_voucher()
    cls = f.training_class()
    session.commit()
    qr = f.qr_for(voucher, TS)  # minted at the start of a 30 s step

    kwargs = dict(qr=qr, class_id=cls.id, actor=f.institution_actor(cls.institution),
                  qr_secret=app_qr_secret(), now=NOW, now_ts=TS + age)
    if accepted:
        assert verify.verify(session, **kwargs).result == verify.VERIFIED
    else:
        before = snapshot(session, voucher.id)
        with pytest.raises(DomainError) as caught:
            verify.verify(session, **kwargs)
        assert caught.value.code == "QR_EXPIRED"
        assert "60秒" in caught.value.message
        assert snapshot(session, voucher.id) == before


# --- 2. exists, 3. belongs to the presented person ------------------------------------------------

def test_genuine_qr_of_unknown_voucher_is_refused_as_not_found(session):
    cls = f.training_class()
    session.commit()
    qr = qrtoken.sign(app_qr_secret(), qrtoken.KIND_VOUCHER, "ABCDEFGH23456789", TS)
    audits = session.scalar(select(func.count(AuditEvent.id)))

    with pytest.raises(DomainError) as caught:
        verify.verify(session, qr=qr, class_id=cls.id, actor=f.institution_actor(cls.institution),
                      qr_secret=app_qr_secret(), now=NOW, now_ts=TS)

    assert (caught.value.code, caught.value.status) == ("VOUCHER_NOT_FOUND", 404)
    assert session.scalar(select(func.count(AuditEvent.id))) == audits


def test_voucher_presented_by_someone_else_is_refused_as_person_mismatch(session):
    voucher = claimed_voucher()
    stranger = f.person(name="李四")
    cls = f.training_class()
    session.commit()

    error = assert_refused(session, "PERSON_MISMATCH", voucher, cls, id_number=stranger.id_number)

    assert error.message == "该培训券不属于出示人，培训券限本人使用"


@pytest.mark.parametrize("form", [lambda n: n, lambda n: f"  {n[:6]} {n[6:]} ", lambda n: n.lower()])
def test_voucher_presented_with_the_owners_id_number_is_accepted(session, form):
    voucher = claimed_voucher()
    cls = f.training_class()
    session.commit()

    result = run_verify(session, voucher, cls, id_number=form(voucher.person.id_number))

    assert result.result == verify.VERIFIED
