"""作废 (PRODUCT.md §4): the bureau revokes claimed and offered vouchers with a reason, audited and
told to the worker; any other state, an unknown code or another region's is refused by row; a
revoked voucher can no longer be verified."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from h5app.models import AuditEvent, Notification
from h5app.models.vouchers import CLAIMED, EXPIRED, OFFERED, REVOKED, SETTLED, USED
from h5app.vouchers import app_qr_secret, lifecycle, verify
from h5app.vouchers.errors import DomainError, ValidationFailed
from tests import factories as f
from tests.voucher_support import NOW, WINDOW, count, make_voucher, stored


def test_revoke_cancels_claimed_and_offered_vouchers_with_audit_and_notice(session):
    claimed, offered = make_voucher(CLAIMED), make_voucher(OFFERED, offered_at=NOW - timedelta(days=2))
    session.commit()
    codes = [claimed.code, offered.code]

    report = lifecycle.revoke(session, codes, "  资格复核不符  ", f.bureau_actor(), now=NOW)

    assert report.done == codes and report.rejected == []
    for voucher, before in ((claimed, CLAIMED), (offered, OFFERED)):
        row = stored(session, voucher.id)
        assert (row.status, row.revoked_at, row.revoke_reason) == (REVOKED, NOW, "资格复核不符")
        [event] = f.audit_events(voucher_id=voucher.id)
        assert (event.action, event.from_status, event.to_status, event.reason) == (
            "voucher.revoke", before, REVOKED, "资格复核不符")
        assert event.actor_label == "测试经办"
        [notice] = session.scalars(select(Notification).where(Notification.voucher_id == voucher.id)).all()
        assert (notice.kind, notice.person_id) == ("revoked", voucher.person_id)
        assert "资格复核不符" in notice.body


@pytest.mark.parametrize("status, values, label, code", [
    (USED, dict(used_at=NOW - timedelta(days=1)), "已使用", "VOUCHER_ALREADY_USED"),
    (SETTLED, dict(settled_at=NOW - timedelta(days=1)), "已核销", "VOUCHER_SETTLED"),
    (EXPIRED, {}, "已失效", "VOUCHER_EXPIRED"),
    (REVOKED, dict(revoked_at=NOW - timedelta(days=1)), "已作废", "VOUCHER_REVOKED"),
    (CLAIMED, dict(expires_at=NOW - timedelta(days=1)), "已失效", "VOUCHER_EXPIRED"),  # overdue, not yet swept
])
def test_revoke_refuses_vouchers_that_are_not_claimed_or_offered(session, status, values, label, code):
    voucher = make_voucher(status, **values)
    session.commit()

    report = lifecycle.revoke(session, [voucher.code], "资格复核不符", f.bureau_actor(), now=NOW)

    assert report.done == []
    [rejected] = report.rejected
    assert (rejected["code"], rejected["error"]) == (voucher.code, code)  # API.md's domain codes
    assert f"“{label}”" in rejected["message"]
    assert stored(session, voucher.id).status == status
    assert count(session, AuditEvent) == 0 and count(session, Notification) == 0


def test_revoke_reports_unknown_and_out_of_region_codes_as_not_found(session):
    f.region("320200", "无锡市", "wuxi")
    wuxi = make_voucher(CLAIMED, template=f.template("wuxi", region_code="320200", **WINDOW))
    mine = make_voucher(CLAIMED)
    session.commit()

    report = lifecycle.revoke(session, ["ZZZZZZZZZZZZZZZZ", wuxi.code, mine.code], "核查", f.bureau_actor("330600"),
                              now=NOW)

    assert report.done == [mine.code]
    assert [(r["code"], r["error"]) for r in report.rejected] == [
        ("ZZZZZZZZZZZZZZZZ", "VOUCHER_NOT_FOUND"), (wuxi.code, "VOUCHER_NOT_FOUND"),
    ]
    assert stored(session, wuxi.id).status == CLAIMED


def test_revoke_normalises_codes_and_handles_each_once(session):
    voucher = make_voucher(CLAIMED)
    session.commit()
    code = voucher.code

    report = lifecycle.revoke(session, [code, f" {code.lower()} ", f"{code[:8]}-{code[8:]}", ""], "核查",
                              f.bureau_actor(), now=NOW)

    assert report.done == [code] and report.rejected == []
    assert len(f.audit_events(voucher_id=voucher.id)) == 1


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_revoke_needs_a_reason_and_changes_nothing_without_one(session, reason):
    voucher = make_voucher(CLAIMED)
    session.commit()

    with pytest.raises(ValidationFailed) as caught:
        lifecycle.revoke(session, [voucher.code], reason, f.bureau_actor(), now=NOW)

    assert caught.value.details["fields"] == {"reason": "请填写作废原因"}
    assert stored(session, voucher.id).status == CLAIMED
    assert count(session, AuditEvent) == 0


@pytest.mark.parametrize("reason, said", [("a", "作废原因请写清楚，至少2个字"), ("长" * 501, "作废原因请在500字以内")])
def test_a_reason_that_says_nothing_or_too_much_is_refused(session, reason, said):
    """The reason is pushed into the worker's 消息: "a" tells them nothing, 20,000 characters flood it."""
    voucher = make_voucher(CLAIMED)
    session.commit()

    with pytest.raises(ValidationFailed) as caught:
        lifecycle.revoke(session, [voucher.code], reason, f.bureau_actor(), now=NOW)

    assert caught.value.details["fields"] == {"reason": said}
    assert stored(session, voucher.id).status == CLAIMED


def test_revoked_voucher_can_no_longer_be_verified(session):
    voucher = make_voucher(CLAIMED)
    cls = f.training_class()
    session.commit()
    lifecycle.revoke(session, [voucher.code], "冒领", f.bureau_actor(), now=NOW)

    with pytest.raises(DomainError) as caught:
        verify.verify(session, qr=f.qr_for(voucher, f.epoch(NOW)), class_id=cls.id,
                      actor=f.institution_actor(cls.institution), qr_secret=app_qr_secret(),
                      now=NOW, now_ts=f.epoch(NOW))
    assert caught.value.code == "VOUCHER_REVOKED"


def test_revoking_thirty_codes_costs_the_statements_of_three(session):
    """作废 is set-based (10,000 codes must fit in one request): the vouchers are read a thousand
    codes a statement, moved, audited and told in a few more, however many there are."""
    from tests.page_support import statements

    template = f.template(**WINDOW)
    few = [make_voucher(CLAIMED, template).code for _ in range(3)]
    many = [make_voucher(CLAIMED, template).code for _ in range(30)]
    session.commit()
    costs = []
    for codes in (few, many):
        with statements() as seen:
            report = lifecycle.revoke(session, codes, "资格复核不符", f.bureau_actor(), now=NOW)
        assert report.done == codes
        costs.append(len(seen))
    assert costs[0] == costs[1]
    assert count(session, AuditEvent, AuditEvent.action == "voucher.revoke") == 33
