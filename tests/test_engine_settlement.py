"""Subsidy eligibility and 结算核销 (PRODUCT.md §4): attendance and exam, amounts, the application,
review by the issuing bureau, payment by someone else. The regional ways of paying (Wuxi automatic,
Shaoxing to the worker, Chongqing at the approved amount) are in test_engine_settlement_regions.py."""
import itertools
from datetime import date, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from h5app.models import ClassSession, Notification, Settlement, SettlementLine, StaffUser, Voucher
from h5app.models.settlement import LINE_APPROVED, LINE_PENDING, LINE_REJECTED, S_PAID, S_REVIEWED, S_SUBMITTED
from h5app.models.vouchers import CLAIMED, CREDENTIAL, FACE_VALUE, SETTLED, USED
from h5app.policies import ensure_policies
from h5app.timeutil import local_at
from h5app.vouchers import app_qr_secret, audit, settlement, subsidy, verify
from h5app.vouchers.errors import (
    DomainError, DutySegregation, OutOfScope, SettlementError, ValidationFailed,
)
from tests import factories as f

NOW = local_at(date(2022, 5, 10), time(10))
WINDOW = dict(claim_starts_on=date(2022, 5, 1), claim_ends_on=date(2022, 6, 30))
CLASS_DATES = dict(starts_on=date(2022, 5, 10), ends_on=date(2022, 5, 20))


def count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def make_template(policy_code="default", **values):
    return f.template(policy_code, **{**WINDOW, **values})


def make_class(inst=None, sessions=5, **values):
    """Five sessions of 4 hours: 20 hours in all."""
    return f.training_class(inst, sessions=sessions, **{**CLASS_DATES, **values})


def trainee(cls, template, *, attended=5, passed=True, used_at=NOW, owner=None):
    """A worker whose voucher was used at `cls`, with `attended` sessions checked in and an exam
    result (`passed=None`: none on record)."""
    owner = owner or f.person()
    voucher = f.voucher(template, owner, USED, claimed_at=used_at - timedelta(days=1), used_at=used_at,
                        class_id=cls.id, institution_id=cls.institution_id)
    for class_session in cls.sessions[:attended]:
        f.check_in(class_session, owner)
    if passed is not None:
        f.exam_result(cls, owner, passed)
    return voucher


def officer(cls):
    return f.institution_actor(cls.institution)


_clerks = itertools.count(1)


def bureau_pair(region_code="330600"):
    """Two bureau clerks (real staff rows, never signing in): one reviews, the other pays."""
    actors = []
    for _ in range(2):
        n = next(_clerks)
        clerk = StaffUser(username=f"clerk{n}", name=f"经办{n}", role="bureau", region_code=region_code,
                          password_hash="!")
        f.db.session.add(clerk)
        f.db.session.flush()
        actors.append(audit.Actor.for_staff(clerk))
    return tuple(actors)



def line_of(app, voucher):
    return next(line for line in app.lines if line.voucher_id == voucher.id)


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


# --- the application -----------------------------------------------------------------------------

@pytest.fixture
def course(session):
    """A class with: one trainee who qualifies, one who does not, one voucher used at another
    class and one claimed voucher never used."""
    template = make_template()
    cls, other = make_class(), make_class()
    good = trainee(cls, template)
    weak = trainee(cls, template, attended=2)
    elsewhere = trainee(other, template)
    unused = f.voucher(template, f.person(), CLAIMED, claimed_at=NOW, expires_at=NOW + timedelta(days=30))
    session.commit()
    return dict(cls=cls, good=good, weak=weak, elsewhere=elsewhere, unused=unused, template=template)


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

    with pytest.raises(ValidationFailed) as caught:
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


# --- review --------------------------------------------------------------------------------------

@pytest.fixture
def submitted(session, course):
    app = settlement.apply(session, course["cls"], officer(course["cls"]), now=NOW)
    return dict(course, app=app)


def lines_state(session, app):
    session.expire_all()
    return sorted((line.voucher_id, line.decision, line.decision_reason, line.amount_fen)
                  for line in session.get(Settlement, app.id).lines)


def test_review_approves_eligible_and_rejects_with_reason(session, submitted):
    app, good, weak = submitted["app"], submitted["good"], submitted["weak"]
    reviewer, _ = bureau_pair()
    session.commit()

    settlement.review(session, app, reviewer, approve=[good.code], reject=[(weak.code, "打卡率不足")], now=NOW)

    session.expire_all()
    app = session.get(Settlement, app.id)
    assert (app.status, app.reviewed_at, app.reviewed_by_id) == (S_REVIEWED, NOW, reviewer.id)
    assert (line_of(app, good).decision, line_of(app, good).amount_fen) == (LINE_APPROVED, 150000)
    weak_line = line_of(app, weak)
    assert (weak_line.decision, weak_line.decision_reason, weak_line.amount_fen) == (LINE_REJECTED, "打卡率不足", 0)
    assert app.approved_total_fen == 150000
    assert len(f.audit_events(action="settlement.review")) == 1


def test_review_cannot_approve_an_ineligible_line(session, submitted):
    app, good, weak = submitted["app"], submitted["good"], submitted["weak"]
    reviewer, _ = bureau_pair()
    session.commit()
    before = lines_state(session, app)

    with pytest.raises(ValidationFailed) as caught:
        settlement.review(session, session.get(Settlement, app.id), reviewer, approve=[good.code, weak.code], now=NOW)

    [row] = caught.value.details["rows"]
    assert (row["voucher_code"], row["code"], row["message"]) == (
        weak.code, "NOT_ELIGIBLE", "不符合补贴条件：打卡率40.0%，低于60%")
    assert lines_state(session, app) == before  # the good line was not approved either


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_rejecting_a_line_needs_a_reason(session, submitted, reason):
    app, weak = submitted["app"], submitted["weak"]
    reviewer, _ = bureau_pair()
    session.commit()
    before = lines_state(session, app)

    with pytest.raises(ValidationFailed) as caught:
        settlement.review(session, app, reviewer, reject=[(weak.code, reason)], now=NOW)

    assert caught.value.details["rows"][0]["message"] == "请填写驳回原因"
    assert lines_state(session, app) == before


def test_review_refuses_codes_outside_the_application_and_lines_decided_before(session, submitted):
    app, good = submitted["app"], submitted["good"]
    reviewer, _ = bureau_pair()
    session.commit()
    settlement.review(session, app, reviewer, approve=[good.code], now=NOW)

    with pytest.raises(ValidationFailed) as caught:
        settlement.review(session, app, reviewer, approve=[good.code, submitted["elsewhere"].code], now=NOW)

    assert [r["message"] for r in caught.value.details["rows"]] == ["该行已审核", "该券不在本结算申请中"]


def test_partly_reviewed_application_is_not_ready_for_payment(session, submitted):
    app, good = submitted["app"], submitted["good"]
    reviewer, cashier = bureau_pair()
    session.commit()

    settlement.review(session, app, reviewer, approve=[good.code], now=NOW)

    assert session.get(Settlement, app.id).status == S_SUBMITTED
    with pytest.raises(SettlementError):
        settlement.pay(session, app, cashier, reference="HD-TEST-1", now=NOW)
    assert session.get(Voucher, good.id).status == USED


def test_only_the_issuing_bureau_reviews(session, submitted):
    app, good = submitted["app"], submitted["good"]
    session.commit()

    with pytest.raises(OutOfScope):
        settlement.review(session, app, f.bureau_actor("320200"), approve=[good.code], now=NOW)

    assert lines_state(session, app)[0][1] == LINE_PENDING


def test_a_district_bureau_does_not_review_the_citys_vouchers(session, submitted):
    app, good = submitted["app"], submitted["good"]
    session.commit()

    with pytest.raises(OutOfScope):
        settlement.review(session, app, f.bureau_actor("330602"), approve=[good.code], now=NOW)


# --- payment -------------------------------------------------------------------------------------

@pytest.fixture
def reviewed(session, submitted):
    reviewer, cashier = bureau_pair()
    session.commit()
    settlement.review(session, submitted["app"], reviewer, approve=[submitted["good"].code],
                      reject=[(submitted["weak"].code, "打卡率不足")], now=NOW)
    return dict(submitted, reviewer=reviewer, cashier=cashier)


def test_reviewer_cannot_also_pay(session, reviewed):
    app = reviewed["app"]

    with pytest.raises(DutySegregation) as caught:
        settlement.pay(session, app, reviewed["reviewer"], reference="HD-TEST-1", now=NOW + timedelta(days=1))

    assert (caught.value.code, caught.value.status) == ("SEGREGATION_OF_DUTIES", 403)
    session.rollback()
    assert session.get(Settlement, app.id).status == S_REVIEWED
    assert session.get(Voucher, reviewed["good"].id).status == USED


def test_payment_settles_approved_vouchers_audits_and_tells_the_worker(session, reviewed):
    app, good, weak, cashier = reviewed["app"], reviewed["good"], reviewed["weak"], reviewed["cashier"]
    paid_at = NOW + timedelta(days=1)

    settlement.pay(session, app, cashier, reference="HD-TEST-1", now=paid_at)

    session.expire_all()
    app = session.get(Settlement, app.id)
    assert (app.status, app.paid_at, app.paid_by_id) == (S_PAID, paid_at, cashier.id)
    settled = session.get(Voucher, good.id)
    assert (settled.status, settled.settled_at) == (SETTLED, paid_at)
    [event] = f.audit_events(voucher_id=good.id, action="voucher.settle")
    assert (event.from_status, event.to_status, event.actor_id, event.at) == (USED, SETTLED, cashier.id, paid_at)
    assert event.details == {"settlement_id": app.id, "amount_fen": 150000, "batch_id": app.batches[0].id,
                             "reference": "HD-TEST-1"}
    [notice] = session.scalars(select(Notification).where(Notification.kind == "settled")).all()
    assert (notice.person_id, notice.voucher_id) == (good.person_id, good.id)
    assert "¥1,500.00" in notice.body
    # The rejected line's voucher is untouched.
    assert session.get(Voucher, weak.id).status == USED
    assert f.audit_events(voucher_id=weak.id, action="voucher.settle") == []
    assert len(f.audit_events(action="settlement.pay")) == 1


def test_a_settled_code_is_dead(session, reviewed):
    good, cls = reviewed["good"], reviewed["cls"]
    settlement.pay(session, reviewed["app"], reviewed["cashier"], reference="HD-TEST-1", now=NOW)

    with pytest.raises(DomainError) as caught:
        verify.verify(session, qr=f.qr_for(good, f.epoch(NOW)), class_id=cls.id, actor=officer(cls),
                      qr_secret=app_qr_secret(), now=NOW, now_ts=f.epoch(NOW))
    assert caught.value.code == "VOUCHER_SETTLED"
    with pytest.raises(DomainError) as second:
        settlement.apply(session, cls, officer(cls), codes=[good.code], now=NOW)
    assert second.value.code == "VOUCHER_SETTLED"
    assert second.value.details["rows"][0]["voucher_code"] == good.code


def test_an_application_is_paid_once(session, reviewed):
    settlement.pay(session, reviewed["app"], reviewed["cashier"], reference="HD-TEST-1", now=NOW)

    with pytest.raises(DomainError) as caught:
        settlement.pay(session, reviewed["app"], reviewed["cashier"], reference="HD-TEST-2", now=NOW)
    assert caught.value.code == "VOUCHER_SETTLED"
    assert len(f.audit_events(action="voucher.settle")) == 1


def test_only_the_issuing_bureau_pays(session, reviewed):
    with pytest.raises(OutOfScope):
        settlement.pay(session, reviewed["app"], f.bureau_actor("320200"), reference="HD-TEST-1", now=NOW)
    assert session.get(Voucher, reviewed["good"].id).status == USED


# --- segregation of duties across partial reviews, and API keys -----------------------------------

def test_a_clerk_who_reviewed_part_of_an_application_cannot_pay_it(session, submitted):
    first, second = bureau_pair()
    session.commit()
    app = submitted["app"]
    settlement.review(session, app, first, approve=[submitted["good"].code], now=NOW)
    settlement.review(session, app, second, reject=[(submitted["weak"].code, "打卡率不足")], now=NOW)
    assert app.status == S_REVIEWED

    with pytest.raises(DutySegregation):
        settlement.pay(session, app, first, reference="HD-TEST-1", now=NOW)
    with pytest.raises(DutySegregation):
        settlement.pay(session, app, second, reference="HD-TEST-1", now=NOW)


def test_one_api_key_cannot_review_and_pay(session, submitted):
    key = audit.Actor("api_key", 7, "省平台", region_code="330600")
    app = submitted["app"]
    settlement.review(session, app, key, approve=[submitted["good"].code],
                      reject=[(submitted["weak"].code, "打卡率不足")], now=NOW)

    with pytest.raises(DutySegregation):
        settlement.pay(session, app, key, reference="HD-TEST-1", now=NOW)
    settlement.pay(session, app, audit.Actor("api_key", 8, "财务平台", region_code="330600"), reference="HD-1",
                   now=NOW)
    assert app.status == S_PAID
