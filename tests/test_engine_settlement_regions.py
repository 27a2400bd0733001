"""结算 under each region's policy: Wuxi's credential directed vouchers settle with the
class and its automatic use keeps the verify rules; Shaoxing pays the worker for certificate
training with a general voucher; in Chongqing the face value is only a reference."""
from datetime import date, time, timedelta

import pytest
from sqlalchemy import select

from h5app.models import AuditEvent, Notification, Settlement, Voucher
from h5app.models.classes import CLASS_COMPLETED, CLASS_OPEN
from h5app.models.settlement import LINE_PENDING, S_SUBMITTED
from h5app.models.vouchers import CLAIMED, CREDENTIAL, DIRECTED, FACE_VALUE, SETTLED, USED
from h5app.timeutil import local_at
from h5app.vouchers import issuance, settlement
from h5app.vouchers.errors import SettlementError, ValidationFailed
from tests import factories as f

from .settlement_support import (
    NOW, WINDOW, bureau_pair, chongqing_application, count, lines_state, make_class, make_template, officer,
    shaoxing_certificate_case,
)
from .settlement_support import course, submitted  # noqa: F401  (fixtures: a class with a submitted application)


# --- Wuxi: credential directed vouchers settle with the class ------------------------------------

def wuxi_directed_class(session, function_mode=CREDENTIAL, policy_code="wuxi", attended=(5, 5)):
    f.region("320200", "无锡市", policy_code)
    values = dict(region_code="320200", function_mode=function_mode)
    if function_mode == FACE_VALUE:
        values.update(face_value_fen=120000)
    template = f.directed_template(policy_code=policy_code, **WINDOW, **values)
    cls = make_class(f.institution(region_code="320211"), status=CLASS_OPEN, completed_at=None)  # 结业 is the test
    workers = [f.person(region_code="320211") for _ in attended]
    for worker, sessions in zip(workers, attended, strict=True):
        f.enrol(cls, worker)
        for class_session in cls.sessions[:sessions]:
            f.check_in(class_session, worker)
        f.exam_result(cls, worker, True)
    session.commit()
    issuance.issue_directed(session, template, cls, f.bureau_actor("320200"), now=NOW - timedelta(days=5))
    return template, cls, workers


def test_wuxi_credential_directed_vouchers_are_used_and_applied_for_when_the_class_completes(session):
    _template, cls, workers = wuxi_directed_class(session, attended=(5, 2))
    done = NOW + timedelta(days=10)

    app = settlement.complete_class(session, cls, officer(cls), now=done)

    assert cls.status == CLASS_COMPLETED
    vouchers = session.scalars(select(Voucher).order_by(Voucher.id)).all()
    assert all((v.status, v.used_at, v.class_id) == (USED, done, cls.id) for v in vouchers)
    for voucher in vouchers:
        [event] = f.audit_events(voucher_id=voucher.id, action="voucher.verify")
        assert (event.from_status, event.to_status, event.actor_type) == (CLAIMED, USED, "system")
        assert event.reason == "定向抵用券随班期结业自动使用"
    assert (app.status, app.institution_id, app.region_code) == (S_SUBMITTED, cls.institution_id, "320200")
    assert sorted((line.eligible, line.amount_fen) for line in app.lines) == [(False, 0), (True, 80000)]


def test_wuxi_automatic_settlement_ends_with_settled_vouchers_after_payment(session):
    _template, cls, workers = wuxi_directed_class(session)
    app = settlement.complete_class(session, cls, officer(cls), now=NOW + timedelta(days=10))
    reviewer, cashier = bureau_pair("320200")
    session.commit()

    codes = [line.voucher.code for line in app.lines]
    settlement.review(session, app, reviewer, approve=codes, now=NOW + timedelta(days=11))
    settlement.pay(session, app, cashier, reference="HD-TEST-1", now=NOW + timedelta(days=12))

    assert count(session, Voucher, Voucher.status == SETTLED) == 2
    assert session.get(Settlement, app.id).approved_total_fen == 160000


@pytest.mark.parametrize("function_mode, policy_code", [(CREDENTIAL, "default"), (FACE_VALUE, "wuxi")])
def test_other_directed_vouchers_wait_for_the_institution(session, function_mode, policy_code):
    _template, cls, _workers = wuxi_directed_class(session, function_mode=function_mode, policy_code=policy_code)

    assert settlement.complete_class(session, cls, officer(cls), now=NOW + timedelta(days=10)) is None

    assert count(session, Voucher, Voucher.status == CLAIMED) == 2
    assert count(session, Settlement) == 0


# --- Shaoxing: the worker is paid for certificate training with a general voucher -----------------

def test_shaoxing_general_certificate_voucher_is_paid_to_the_worker_by_matching_records(session):
    voucher, cls = shaoxing_certificate_case(session)
    cert = f.certificate(voucher.person, occupation="电工", issued_on=date(2022, 6, 1))
    session.commit()

    [app] = settlement.match_worker_subsidies(session, "330600", f.bureau_actor(), now=NOW + timedelta(days=30))

    assert (app.person_id, app.institution_id, app.class_id, app.status) == (
        voucher.person_id, None, cls.id, S_SUBMITTED)
    [line] = app.lines
    assert (line.voucher_id, line.eligible, line.amount_fen) == (voucher.id, True, 150000)
    assert cert.number in line.reason
    [event] = f.audit_events(action="settlement.match")
    assert event.details["certificate"] == cert.number

    reviewer, cashier = bureau_pair()
    f.payee_account(person_id=voucher.person_id, account_name=voucher.person.name)
    session.commit()
    settlement.review(session, app, reviewer, approve=[voucher.code], now=NOW + timedelta(days=31))
    settlement.pay(session, app, cashier, reference="HD-TEST-1", now=NOW + timedelta(days=32))
    assert session.get(Voucher, voucher.id).status == SETTLED
    [notice] = session.scalars(select(Notification).where(Notification.kind == "settled")).all()
    assert notice.person_id == voucher.person_id


def test_matching_twice_pays_nobody_twice(session):
    voucher, _cls = shaoxing_certificate_case(session)
    f.certificate(voucher.person, issued_on=date(2022, 6, 1))
    session.commit()
    settlement.match_worker_subsidies(session, "330600", f.bureau_actor(), now=NOW)

    assert settlement.match_worker_subsidies(session, "330600", f.bureau_actor(), now=NOW) == []
    assert count(session, Settlement) == 1


@pytest.mark.parametrize("case, certificate, region", [
    ({}, None, "330600"),                                                        # no certificate yet
    ({}, dict(occupation="焊工"), "330600"),                                     # certificate of another trade
    ({}, dict(issued_on=date(2022, 5, 1)), "330600"),                            # certificate from before
    (dict(project_type="employment_skills"), {}, "330600"),                     # not certificate training
    (dict(distribution=DIRECTED), {}, "330600"),                                # directed: the institution is paid
    (dict(policy_code="default"), {}, "330600"),                                # not Shaoxing's policy
    ({}, {}, "320200"),                                                          # another region's bureau
    (dict(used_at=local_at(date(2022, 5, 10), time(7))), dict(issued_on=date(2022, 5, 9)), "330600"),
    (dict(ends_on=date(2022, 11, 30)), dict(issued_on=date(2022, 12, 5)), "330600"),  # beyond 180 days
    # verified ahead of the class (starts 05-10), a certificate got before it began: not from it
    (dict(used_at=local_at(date(2022, 5, 3), time(9))), dict(issued_on=date(2022, 5, 5)), "330600"),
])
def test_no_worker_subsidy_without_a_matching_certificate_and_used_general_voucher(session, case, certificate, region):
    voucher, _cls = shaoxing_certificate_case(session, **case)
    if certificate is not None:
        f.certificate(voucher.person, **{"occupation": "电工", "issued_on": date(2022, 6, 1), **certificate})
    session.commit()

    assert settlement.match_worker_subsidies(session, region, f.bureau_actor(region), now=NOW) == []
    assert count(session, Settlement) == 0


def test_institution_cannot_apply_for_a_voucher_whose_subsidy_goes_to_the_worker(session):
    voucher, cls = shaoxing_certificate_case(session)

    with pytest.raises(ValidationFailed) as caught:
        settlement.apply(session, cls, officer(cls), codes=[voucher.code], now=NOW)
    assert "劳动者" in caught.value.details["rows"][0]["message"]
    with pytest.raises(SettlementError):
        settlement.apply(session, cls, officer(cls), now=NOW)
    assert count(session, Settlement) == 0


# --- Chongqing: the face value is only a reference -----------------------------------------------

def test_chongqing_institution_is_paid_the_amount_the_bureau_approved(session):
    voucher, app = chongqing_application(session)
    reviewer, cashier = bureau_pair("500000")
    session.commit()
    assert app.lines[0].amount_fen == 100000  # the face value, as a reference

    settlement.review(session, app, reviewer, approve=[voucher.code], amounts={voucher.code: 86000}, now=NOW)
    settlement.pay(session, app, cashier, reference="HD-TEST-1", now=NOW)

    session.expire_all()
    app = session.get(Settlement, app.id)
    line = app.lines[0]
    assert (line.amount_fen, line.reference_fen, line.approved_amount_fen, line.paid_amount_fen) == (
        100000, 100000, 86000, 86000)
    assert app.approved_total_fen == 86000
    [event] = f.audit_events(action="voucher.settle")
    assert event.details["amount_fen"] == 86000


@pytest.mark.parametrize("amount", [-1, "abc", None])
def test_chongqing_approved_amount_must_be_a_sum_of_money(session, amount):
    voucher, app = chongqing_application(session)
    reviewer, _ = bureau_pair("500000")
    session.commit()

    with pytest.raises(ValidationFailed):
        settlement.review(session, app, reviewer, approve=[voucher.code], amounts={voucher.code: amount}, now=NOW)

    assert lines_state(session, app) == [(voucher.id, LINE_PENDING, None, 100000)]


def test_amount_cannot_be_adjusted_where_the_face_value_is_paid(session, submitted):
    app, good = submitted["app"], submitted["good"]
    reviewer, _ = bureau_pair()
    session.commit()
    before = lines_state(session, app)

    with pytest.raises(ValidationFailed) as caught:
        settlement.review(session, app, reviewer, approve=[good.code], amounts={good.code: 99000}, now=NOW)
    assert "不能调整" in caught.value.details["rows"][0]["message"]

    assert lines_state(session, app) == before
    assert session.get(Settlement, app.id).status == S_SUBMITTED
    assert count(session, AuditEvent, AuditEvent.action == "settlement.review") == 0


# --- Wuxi automatic use keeps the verify rules -----------------------------------------------------

def test_wuxi_automatic_use_does_not_happen_for_a_suspended_institution(session):
    _template, cls, _workers = wuxi_directed_class(session)
    cls.institution.status = "suspended"
    session.commit()

    assert settlement.complete_class(session, cls, officer(cls), now=NOW + timedelta(days=10)) is None
    assert count(session, Voucher, Voucher.status == USED) == 0


def test_wuxi_automatic_use_respects_once_per_occupation_per_year(session):
    template, cls, workers = wuxi_directed_class(session, attended=(5,))
    earlier = make_class(cls.institution, occupation=cls.occupation)
    f.voucher(make_template("wuxi", region_code="320200"), workers[0], USED, used_at=NOW - timedelta(days=30),
              class_id=earlier.id, institution_id=cls.institution_id)
    session.commit()

    assert settlement.complete_class(session, cls, officer(cls), now=NOW + timedelta(days=10)) is None
    [held] = session.scalars(select(Voucher).where(Voucher.template_id == template.id)).all()
    assert held.status == CLAIMED
    [refusal] = f.audit_events(voucher_id=held.id, action="voucher.auto_use_refused")
    assert "同一职业" in refusal.reason


def test_adjusted_amount_keyed_by_a_lower_case_code_applies(session):
    voucher, app = chongqing_application(session)
    reviewer, _ = bureau_pair("500000")
    session.commit()

    settlement.review(session, app, reviewer, approve=[voucher.code], amounts={voucher.code.lower(): 70000}, now=NOW)

    assert app.lines[0].approved_amount_fen == 70000
