"""Who earns a subsidy and how much (PRODUCT.md §4): the 打卡率 (checked-in hours over the class's
hours), the attendance threshold, a passed exam, the amount from face value and catalogue standard,
and Shaoxing's 180 days from activation. The application, review and payment are in
test_engine_settlement_apply.py, …_review.py and …_payment.py."""
from datetime import date, timedelta
from decimal import Decimal

import pytest

from h5app.models import ClassSession
from h5app.models.vouchers import CREDENTIAL, FACE_VALUE
from h5app.policies import ensure_policies
from h5app.vouchers import subsidy
from tests import factories as f
from tests.settlement_support import NOW, make_class, make_template, trainee

# --- attendance rate -----------------------------------------------------------------------------

@pytest.mark.parametrize("attended, rate", [(0, "0"), (1, "0.2"), (3, "0.6"), (5, "1")])
def test_attendance_rate_is_checked_in_hours_over_total_hours(session, attended, rate):
    cls = make_class()
    voucher = trainee(cls, make_template(), attended=attended)
    session.commit()

    assert subsidy.attendance_rate(session, cls, voucher.person_id) == Decimal(rate)


def test_attendance_rate_weighs_sessions_by_their_hours(session):
    cls = make_class(sessions=0)
    short = ClassSession(class_id=cls.id, title="短课", starts_at=NOW, ends_at=NOW + timedelta(hours=2), hours=2)
    long = ClassSession(class_id=cls.id, title="长课", starts_at=NOW, ends_at=NOW + timedelta(hours=6), hours=6)
    session.add_all([short, long])
    session.flush()
    worker = f.person()
    f.check_in(long, worker)
    session.commit()

    assert subsidy.attendance_rate(session, cls, worker.id) == Decimal("0.75")


def test_attendance_of_another_class_does_not_count(session):
    cls, other = make_class(), make_class()
    worker = f.person()
    for class_session in other.sessions:
        f.check_in(class_session, worker)
    session.commit()

    assert subsidy.attendance_rate(session, cls, worker.id) == 0


# --- subsidy eligibility -------------------------------------------------------------------------

@pytest.mark.parametrize("attended, eligible, reason", [
    (2, False, "打卡率40.0%，低于60%"),
    (3, True, None),   # exactly 60%
    (5, True, None),
])
def test_shaoxing_subsidy_needs_60_percent_attendance(session, attended, eligible, reason):
    cls = make_class()
    voucher = trainee(cls, make_template("shaoxing"), attended=attended)
    session.commit()

    result = subsidy.assess(session, voucher, cls)

    assert (result.eligible, result.reason) == (eligible, reason)
    assert result.amount_fen == (150000 if eligible else 0)


def test_attendance_threshold_is_policy_data(session):
    ensure_policies(session)["shaoxing"].attendance_threshold = 0.8
    cls = make_class()
    voucher = trainee(cls, make_template("shaoxing"), attended=3)
    session.commit()

    result = subsidy.assess(session, voucher, cls)

    assert not result.eligible and result.reason == "打卡率60.0%，低于80%"


@pytest.mark.parametrize("passed, eligible, reason", [
    (None, False, "尚无考核结果"),
    (False, False, "考核未通过"),
    (True, True, None),
])
def test_subsidy_needs_a_passed_exam(session, passed, eligible, reason):
    cls = make_class()
    voucher = trainee(cls, make_template(), passed=passed)
    session.commit()

    result = subsidy.assess(session, voucher, cls)

    assert (result.eligible, result.exam_passed, result.reason) == (eligible, passed, reason)


def test_policy_without_exam_requirement_pays_without_a_result(session):
    ensure_policies(session)["default"].exam_required = False
    cls = make_class()
    voucher = trainee(cls, make_template(), passed=None)
    session.commit()

    assert subsidy.assess(session, voucher, cls).eligible


@pytest.mark.parametrize("function_mode, face_value, standard, amount, eligible", [
    (FACE_VALUE, 150000, None, 150000, True),     # face value
    (FACE_VALUE, 150000, 120000, 120000, True),   # capped by the catalogue standard
    (FACE_VALUE, 100000, 120000, 100000, True),   # a standard above the face value does not raise it
    (CREDENTIAL, None, 80000, 80000, True),       # a credential voucher is worth the standard
    (CREDENTIAL, None, None, 0, False),           # ... and nothing without one
])
def test_subsidy_amount(session, function_mode, face_value, standard, amount, eligible):
    cls = make_class()
    template = make_template(function_mode=function_mode, face_value_fen=face_value, standard_fen=standard)
    voucher = trainee(cls, template)
    session.commit()

    result = subsidy.assess(session, voucher, cls)

    assert (result.eligible, result.amount_fen) == (eligible, amount)


@pytest.mark.parametrize("days_after_activation, eligible", [(179, True), (181, False)])
def test_shaoxing_training_must_finish_within_180_days_of_activation(session, days_after_activation, eligible):
    cls = make_class(ends_on=date(2022, 5, 10) + timedelta(days=days_after_activation))
    voucher = trainee(cls, make_template("shaoxing"), used_at=NOW)
    session.commit()

    result = subsidy.assess(session, voucher, cls)

    assert result.eligible == eligible
    assert eligible or result.reason == "培训未在激活后180天有效期内完成"


def test_voucher_used_elsewhere_is_not_eligible_here(session):
    cls, other = make_class(), make_class()
    voucher = trainee(other, make_template())
    session.commit()

    result = subsidy.assess(session, voucher, cls)

    assert not result.eligible and "该培训券未在本班期使用" in result.reason
