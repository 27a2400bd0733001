"""When and how a template can be claimed (PRODUCT.md §4): inside its claim window in local time,
before its fixed use deadline, while active; a directed template never, a targeted one only by the
worker it was offered to."""
from datetime import date, time, timedelta

import pytest

from h5app.models.vouchers import CLAIMED, DIRECTED, OFFERED, TEMPLATE_CLOSED, TEMPLATE_DRAFT
from h5app.timeutil import end_of_local_day, local_at
from h5app.vouchers import claim, issuance
from h5app.vouchers.errors import ClaimClosed, NotEligible
from tests import factories as f
from tests.claim_support import NOW, WINDOW, assert_refused, claimed_count, make_template, voucher_count


@pytest.mark.parametrize("now, allowed, message", [
    (local_at(date(2022, 4, 30), time(23, 59)), False, "该券自2022年5月1日起开放领取"),
    (local_at(date(2022, 5, 1), time(0, 0)), True, None),
    (local_at(date(2022, 6, 30), time(23, 59)), True, None),
    (local_at(date(2022, 7, 1), time(0, 0)), False, "该券的领取时间已于2022年6月30日结束"),
])
def test_claim_only_inside_the_claim_window_in_local_time(session, now, allowed, message):
    template = make_template()
    worker = f.person()
    session.commit()

    if allowed:
        assert claim.claim(session, worker, template, now=now).status == CLAIMED
    else:
        error = assert_refused(session, ClaimClosed, worker, template, now=now)
        assert error.message == message


def test_claim_refused_once_the_fixed_use_deadline_has_passed(session):
    template = make_template(valid_until=date(2022, 5, 31), valid_days=None)
    worker = f.person()
    session.commit()

    error = assert_refused(session, ClaimClosed, worker, template, now=local_at(date(2022, 6, 1), time(9)))

    assert error.message == "该券的使用期限已于2022年5月31日截止"


@pytest.mark.parametrize("status", [TEMPLATE_CLOSED, TEMPLATE_DRAFT])
def test_claim_refused_when_template_is_not_active(session, status):
    template = make_template(status=status)
    worker = f.person()
    session.commit()

    error = assert_refused(session, ClaimClosed, worker, template)

    assert error.message == "该券已停止发放"


def test_directed_template_cannot_be_claimed(session):
    template = f.directed_template(**WINDOW)
    worker = f.person()
    session.commit()

    error = assert_refused(session, NotEligible, worker, template)

    assert template.distribution_mode == DIRECTED
    assert "定向券" in error.message


def test_targeted_template_cannot_be_claimed_without_an_offer(session):
    template = make_template(audience="targeted")
    worker = f.person()
    session.commit()

    error = assert_refused(session, NotEligible, worker, template)

    assert error.message == "该券仅向人社部门选定的人员发放，您不在本次发放范围内"


def test_targeted_template_is_claimed_by_moving_the_offered_voucher(session):
    template = make_template(audience="targeted", valid_days=30)
    worker = f.person()
    session.commit()
    offered = issuance.issue_general(session, template, f.bureau_actor(), people=[worker], now=NOW).done[0]
    offered_id, offered_code = offered.id, offered.code
    assert claimed_count(session, template) == 0  # an offer takes no stock

    later = NOW + timedelta(days=3)
    voucher = claim.claim(session, worker, template, now=later)

    assert (voucher.id, voucher.code) == (offered_id, offered_code)
    assert voucher.status == CLAIMED and voucher.claimed_at == later
    assert voucher.expires_at == end_of_local_day(date(2022, 5, 13) + timedelta(days=30))
    assert voucher_count(session, template) == 1
    assert claimed_count(session, template) == 1
    moves = f.audit_events(voucher_id=offered_id)
    assert [(e.action, e.from_status, e.to_status) for e in moves] == [
        ("voucher.offer", None, OFFERED), ("voucher.claim", OFFERED, CLAIMED),
    ]
    assert moves[1].actor_type == "person" and moves[1].at == later
