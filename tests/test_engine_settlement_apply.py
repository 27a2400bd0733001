"""The 结算 application (PRODUCT.md §4): an institution applies for its own class, one line per
voucher used there, for the whole class or listed codes; a bad code refuses the lot; a voucher is
in one open application at a time, and a rejected line frees it; none before the class is
completed (结业)."""
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from h5app.models import Settlement, SettlementLine
from h5app.models.settlement import LINE_PENDING, S_SUBMITTED
from h5app.vouchers import settlement
from h5app.vouchers.errors import ClassNotFinished, OutOfScope, SettlementError, ValidationFailed, VoucherNotFound
from tests import factories as f
from tests.settlement_support import NOW, bureau_pair, count, line_of, make_class, officer
from tests.settlement_support import course, running  # noqa: F401  (fixtures: a class with trainees, one running)


def test_application_has_one_line_per_voucher_used_in_the_class(session, course):
    cls, good, weak = course["cls"], course["good"], course["weak"]

    app = settlement.apply(session, cls, officer(cls), now=NOW)

    assert (app.status, app.submitted_at, app.institution_id, app.region_code) == (
        S_SUBMITTED, NOW, cls.institution_id, "330600")
    assert sorted(line.voucher_id for line in app.lines) == sorted([good.id, weak.id])
    good_line, weak_line = line_of(app, good), line_of(app, weak)
    assert (good_line.eligible, good_line.amount_fen, good_line.exam_passed) == (True, 150000, True)
    assert good_line.attendance_rate == Decimal("1")
    assert (weak_line.eligible, weak_line.amount_fen, weak_line.reason) == (False, 0, "打卡率40.0%，低于60%")
    assert all(line.decision == LINE_PENDING for line in app.lines)
    [event] = f.audit_events(action="settlement.submit")
    assert event.details == {"settlement_id": app.id, "lines": 2}


def test_application_from_listed_codes_refuses_every_bad_code_and_creates_nothing(session, course):
    cls, good = course["cls"], course["good"]
    codes = [good.code, "ZZZZZZZZZZZZZZZZ", course["elsewhere"].code, course["unused"].code, good.code.lower()]

    with pytest.raises(VoucherNotFound) as caught:  # unknown here: 404, with every bad row
        settlement.apply(session, cls, officer(cls), codes=codes, now=NOW)

    assert [(r["index"], r["message"]) for r in caught.value.details["rows"]] == [
        (2, "该券未在本班期验券使用"),
        (3, "该券未在本班期验券使用"),
        (4, "该券未在本班期验券使用"),
        (5, "券码重复"),
    ]
    assert count(session, Settlement) == 0 and count(session, SettlementLine) == 0


def test_application_from_listed_codes_takes_only_those(session, course):
    cls, good = course["cls"], course["good"]

    app = settlement.apply(session, cls, officer(cls), codes=[f" {good.code.lower()} "], now=NOW)

    assert [line.voucher_id for line in app.lines] == [good.id]


def test_a_voucher_cannot_be_in_two_open_applications(session, course):
    cls, good = course["cls"], course["good"]
    settlement.apply(session, cls, officer(cls), now=NOW)

    with pytest.raises(ValidationFailed) as caught:
        settlement.apply(session, cls, officer(cls), codes=[good.code], now=NOW)
    assert caught.value.details["rows"][0]["message"] == "该券已在其他结算申请中"
    with pytest.raises(SettlementError):  # nothing left for a whole-class application either
        settlement.apply(session, cls, officer(cls), now=NOW + timedelta(days=1))
    assert count(session, Settlement) == 1 and count(session, SettlementLine) == 2


def test_a_rejected_line_frees_the_voucher_for_a_new_application(session, course):
    cls, weak = course["cls"], course["weak"]
    reviewer, _ = bureau_pair()
    session.commit()
    first = settlement.apply(session, cls, officer(cls), codes=[weak.code], now=NOW)
    settlement.review(session, first, reviewer, reject=[(weak.code, "打卡不足")], now=NOW)
    for class_session in cls.sessions[2:]:  # the trainee makes up the missed sessions
        f.check_in(class_session, weak.person)
    session.commit()

    second = settlement.apply(session, cls, officer(cls), codes=[weak.code], now=NOW + timedelta(days=1))

    assert line_of(second, weak).eligible


def test_institution_can_apply_only_for_its_own_class(session, course):
    cls = course["cls"]
    stranger = f.institution_actor(f.institution())
    session.commit()

    with pytest.raises(OutOfScope):
        settlement.apply(session, cls, stranger, now=NOW)
    assert count(session, Settlement) == 0


def test_class_without_used_vouchers_has_nothing_to_apply_for(session):
    cls = make_class()
    session.commit()

    with pytest.raises(SettlementError):
        settlement.apply(session, cls, officer(cls), now=NOW)


def test_the_service_refuses_an_application_before_the_class_is_completed(session, running):
    cls, _voucher, _officer = running
    with pytest.raises(ClassNotFinished) as refused:
        settlement.apply(session, cls, f.institution_actor(cls.institution))
    assert refused.value.message.startswith("班期结业后才能申请结算")
    assert session.scalar(select(func.count(Settlement.id))) == 0
