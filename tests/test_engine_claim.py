"""领券 (PRODUCT.md §4): eligibility, claim window, stock, one claim per person, offers, validity,
and expiry that is right without any job having run."""
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from h5app.models import AuditEvent, Voucher, VoucherTemplate
from h5app.models.vouchers import CLAIMED, DIRECTED, EXPIRED, OFFERED, TEMPLATE_CLOSED, TEMPLATE_DRAFT, USED
from h5app.timeutil import end_of_local_day, local_at
from h5app.vouchers import app_qr_secret, claim, issuance, verify
from h5app.vouchers.errors import (
    AlreadyClaimed, ClaimClosed, NotEligible, OutOfStock, VoucherExpired, YearlyLimitReached,
)
from tests import factories as f

NOW = local_at(date(2022, 5, 10), time(10))  # 10:00 in Beijing, 02:00 UTC
WINDOW = dict(claim_starts_on=date(2022, 5, 1), claim_ends_on=date(2022, 6, 30))


def make_template(policy_code="default", **values):
    return f.template(policy_code, **{**WINDOW, **values})


def voucher_count(session, template=None):
    query = select(func.count(Voucher.id))
    if template is not None:
        query = query.where(Voucher.template_id == template.id)
    return session.scalar(query)


def audit_count(session):
    return session.scalar(select(func.count(AuditEvent.id)))


def claimed_count(session, template):
    session.expire_all()
    return session.get(VoucherTemplate, template.id).claimed_count


def assert_refused(session, error_class, person, template, now=NOW):
    """The claim is refused with `error_class` and writes nothing at all."""
    audits_before = audit_count(session)
    count_before = claimed_count(session, template)
    with pytest.raises(error_class) as caught:
        claim.claim(session, person, template, now=now)
    assert session.scalar(select(func.count(Voucher.id)).where(
        Voucher.person_id == person.id, Voucher.template_id == template.id, Voucher.status == CLAIMED,
    )) == 0
    assert audit_count(session) == audits_before
    assert claimed_count(session, template) == count_before
    return caught.value


# --- a successful claim -------------------------------------------------------------------------

def test_claim_creates_claimed_voucher_and_audits_it(session):
    template = make_template()
    worker = f.person()
    session.commit()

    voucher = claim.claim(session, worker, template, now=NOW)

    assert voucher.status == CLAIMED
    assert voucher.person_id == worker.id
    assert voucher.claimed_at == NOW
    assert len(voucher.code) == 16
    assert claimed_count(session, template) == 1
    [event] = f.audit_events(voucher_id=voucher.id)
    assert (event.action, event.from_status, event.to_status) == ("voucher.claim", None, CLAIMED)
    assert (event.actor_type, event.actor_id, event.at) == ("person", worker.id, NOW)
    assert event.person_id == worker.id and event.region_code == "330600"


def test_claim_lists_every_problem_not_only_the_first(session):
    template = make_template(eligible_groups=["graduate"])
    worker = f.person(verified_via=None, region_code="320211", groups=["unemployed"])
    session.commit()

    error = assert_refused(session, NotEligible, worker, template)

    reasons = error.details["reasons"]
    assert len(reasons) == 3
    assert "实名认证" in reasons[0]
    assert "该券限绍兴市的劳动者领取，您登记的所在地区为320211" in reasons[1]
    assert "该券面向高校毕业生，您登记的身份为失业人员" in reasons[2]


# --- eligibility: identity, region, groups, insurance ----------------------------------------------

def test_claim_requires_real_name_identity(session):
    template = make_template()
    worker = f.person(verified_via=None)
    session.commit()

    error = assert_refused(session, NotEligible, worker, template)

    assert error.code == "NOT_ELIGIBLE"
    assert error.message == "领券前需完成实名认证（姓名和身份证号）"


@pytest.mark.parametrize("person_region, allowed", [
    ("330602", True),   # a district of the template's city
    ("330600", True),   # the city itself
    ("330100", False),  # another city of the province
    ("320211", False),  # another province
    (None, False),      # no region on record
])
def test_claim_is_limited_to_the_template_region(session, person_region, allowed):
    template = make_template()
    worker = f.person(region_code=person_region)
    session.commit()

    if allowed:
        assert claim.claim(session, worker, template, now=NOW).status == CLAIMED
    else:
        error = assert_refused(session, NotEligible, worker, template)
        assert error.message.startswith("该券限绍兴市的劳动者领取")


@pytest.mark.parametrize("eligible_groups, person_groups, allowed", [
    ([], [], True),
    (["unemployed", "graduate"], ["graduate"], True),
    (["unemployed"], ["veteran", "unemployed"], True),
    (["graduate"], ["unemployed"], False),
    (["graduate"], [], False),
])
def test_claim_checks_priority_groups(session, eligible_groups, person_groups, allowed):
    template = make_template(eligible_groups=eligible_groups)
    worker = f.person(groups=person_groups)
    session.commit()

    if allowed:
        assert claim.claim(session, worker, template, now=NOW).status == CLAIMED
    else:
        error = assert_refused(session, NotEligible, worker, template)
        assert error.message.startswith("该券面向高校毕业生")


@pytest.mark.parametrize("months, allowed", [(20, False), (35, False), (36, True), (120, True)])
def test_shaoxing_general_voucher_needs_36_months_of_local_insurance(session, months, allowed):
    template = make_template("shaoxing")
    worker = f.person(insurance_months=months)
    session.commit()

    if allowed:
        assert claim.claim(session, worker, template, now=NOW).status == CLAIMED
    else:
        error = assert_refused(session, NotEligible, worker, template)
        assert error.message == f"需在本地缴纳失业保险满36个月，您目前为{months}个月"


def test_template_insurance_minimum_applies_under_any_policy(session):
    template = make_template("default", min_insurance_months=12)
    short, enough = f.person(insurance_months=6), f.person(insurance_months=12)
    session.commit()

    error = assert_refused(session, NotEligible, short, template)
    assert error.message == "需在本地缴纳失业保险满12个月，您目前为6个月"
    assert claim.claim(session, enough, template, now=NOW).status == CLAIMED


def test_default_policy_general_voucher_has_no_insurance_minimum(session):
    template = make_template("default")
    worker = f.person(insurance_months=0)
    session.commit()

    assert claim.claim(session, worker, template, now=NOW).status == CLAIMED


# --- claim window, template status and distribution ---------------------------------------------

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


# --- stock and one claim per person -------------------------------------------------------------

def test_claims_stop_with_out_of_stock_when_stock_runs_out(session):
    template = make_template(stock=2)
    first, second, third = f.person(), f.person(), f.person()
    session.commit()

    claim.claim(session, first, template, now=NOW)
    claim.claim(session, second, template, now=NOW)
    error = assert_refused(session, OutOfStock, third, template)

    assert error.code == "OUT_OF_STOCK"
    assert claimed_count(session, template) == 2
    assert voucher_count(session, template) == 2


def test_offered_voucher_cannot_be_claimed_once_stock_is_gone(session):
    template = make_template(audience="targeted", stock=1)
    early, late = f.person(), f.person()
    session.commit()
    issuance.issue_general(session, template, f.bureau_actor(), people=[early, late], now=NOW)

    claim.claim(session, early, template, now=NOW)
    assert_refused(session, OutOfStock, late, template)

    late_voucher = session.scalar(select(Voucher).where(Voucher.person_id == late.id))
    assert late_voucher.status == OFFERED
    assert claimed_count(session, template) == 1


def test_unlimited_stock_never_runs_out(session):
    template = make_template(stock=None)
    workers = [f.person() for _ in range(3)]
    session.commit()

    for worker in workers:
        claim.claim(session, worker, template, now=NOW)

    assert claimed_count(session, template) == 3


def assert_refused_keeping_one(session, worker, template):
    """A further claim is refused with ALREADY_CLAIMED; still one voucher, one unit of stock."""
    audits_before = audit_count(session)
    with pytest.raises(AlreadyClaimed) as caught:
        claim.claim(session, worker, template, now=NOW + timedelta(hours=1))
    assert voucher_count(session, template) == 1
    assert claimed_count(session, template) == 1
    assert audit_count(session) == audits_before
    return caught.value


def test_second_claim_of_same_template_is_refused_as_already_claimed(session):
    template = make_template()
    worker = f.person()
    session.commit()
    claim.claim(session, worker, template, now=NOW)

    error = assert_refused_keeping_one(session, worker, template)

    assert error.code == "ALREADY_CLAIMED"


def test_claim_refused_after_the_voucher_was_used(session):
    template = make_template()
    worker = f.person()
    session.commit()
    voucher = claim.claim(session, worker, template, now=NOW)
    cls = f.training_class()
    verify.verify(session, qr=f.qr_for(voucher, f.epoch(NOW)), class_id=cls.id,
                  actor=f.institution_actor(cls.institution), qr_secret=app_qr_secret(), now=NOW, now_ts=f.epoch(NOW))
    assert voucher.status == USED

    assert_refused_keeping_one(session, worker, template)


# --- validity ----------------------------------------------------------------------------------

@pytest.mark.parametrize("policy_code, values, claimed_at, deadline", [
    # A fixed deadline: the whole of that local day.
    ("default", dict(valid_until=date(2022, 11, 30), valid_days=None), NOW,
     datetime(2022, 11, 30, 15, 59, 59, 999999)),
    # N days after claim, counted from the local day of the claim (05-11 04:00 in Beijing).
    ("default", dict(valid_days=30), datetime(2022, 5, 10, 20, 0), end_of_local_day(date(2022, 6, 10))),
    # Both set: whichever comes first.
    ("default", dict(valid_until=date(2022, 5, 20), valid_days=30), NOW, end_of_local_day(date(2022, 5, 20))),
    # Shaoxing: activate (verify) within 90 days of claim, even when the template allows longer.
    ("shaoxing", dict(valid_days=365), NOW, end_of_local_day(date(2022, 8, 8))),
    # No deadline at all.
    ("default", dict(valid_days=None), NOW, None),
])
def test_claim_sets_the_use_deadline(session, policy_code, values, claimed_at, deadline):
    template = make_template(policy_code, **values)
    worker = f.person()
    session.commit()

    voucher = claim.claim(session, worker, template, now=claimed_at)

    assert voucher.expires_at == deadline


def test_expiry_is_right_without_any_job_having_run(session):
    template = make_template(valid_days=30)
    worker = f.person()
    session.commit()
    voucher = claim.claim(session, worker, template, now=NOW)
    deadline = end_of_local_day(date(2022, 6, 9))
    assert voucher.expires_at == deadline

    assert voucher.effective_status(deadline) == CLAIMED
    assert voucher.effective_status(deadline + timedelta(microseconds=1)) == EXPIRED
    assert voucher.status == CLAIMED  # nothing recorded: the state is derived

    late = deadline + timedelta(minutes=1)
    cls = f.training_class()
    with pytest.raises(VoucherExpired) as caught:
        verify.verify(session, qr=f.qr_for(voucher, f.epoch(late)), class_id=cls.id,
                      actor=f.institution_actor(cls.institution), qr_secret=app_qr_secret(), now=late,
                      now_ts=f.epoch(late))
    assert caught.value.code == "VOUCHER_EXPIRED"


def test_offered_voucher_lapses_when_the_claim_window_closes(session):
    template = make_template(audience="targeted")
    worker = f.person()
    session.commit()

    offered = issuance.issue_general(session, template, f.bureau_actor(), people=[worker], now=NOW).done[0]

    assert offered.expires_at == end_of_local_day(date(2022, 6, 30))
    assert offered.effective_status(local_at(date(2022, 7, 1), time(0))) == EXPIRED


# --- Chongqing: one claim per voucher type per year ------------------------------------------------

def chongqing_template(**values):
    f.region("500000", "重庆市", "chongqing")
    defaults = dict(region_code="500000", valid_until=date(2022, 11, 30), valid_days=None,
                    claim_starts_on=date(2021, 1, 1), claim_ends_on=date(2022, 11, 30))
    return f.template("chongqing", **{**defaults, **values})


def test_chongqing_allows_one_claim_per_voucher_type_per_year(session):
    first = chongqing_template(name="渝快办就业技能券A")
    second = chongqing_template(name="渝快办就业技能券B")
    worker = f.person(region_code="500103")
    session.commit()
    claim.claim(session, worker, first, now=NOW)

    error = assert_refused(session, YearlyLimitReached, worker, second)

    assert error.code == "YEARLY_LIMIT_REACHED"
    assert "就业技能培训券" in error.message


def test_chongqing_claims_of_different_voucher_types_are_independent(session):
    skills = chongqing_template(voucher_type="就业技能培训券")
    startup = chongqing_template(voucher_type="创业培训券")
    worker = f.person(region_code="500103")
    session.commit()

    claim.claim(session, worker, skills, now=NOW)

    assert claim.claim(session, worker, startup, now=NOW).status == CLAIMED


def test_chongqing_claim_of_previous_year_does_not_count(session):
    last_year = chongqing_template(name="2021年度券")
    this_year = chongqing_template(name="2022年度券")
    worker = f.person(region_code="500103")
    session.commit()
    claim.claim(session, worker, last_year, now=local_at(date(2021, 12, 31), time(23, 0)))

    assert claim.claim(session, worker, this_year, now=local_at(date(2022, 1, 1), time(8))).status == CLAIMED


def test_chongqing_voucher_has_the_fixed_deadline(session):
    template = chongqing_template()
    worker = f.person(region_code="500103")
    session.commit()

    voucher = claim.claim(session, worker, template, now=NOW)

    assert voucher.expires_at == end_of_local_day(date(2022, 11, 30))
    assert voucher.effective_status(local_at(date(2022, 11, 30), time(23, 59))) == CLAIMED
    assert voucher.effective_status(local_at(date(2022, 12, 1), time(0, 0))) == EXPIRED


def test_other_policies_have_no_yearly_claim_limit_per_type(session):
    first = make_template(name="券A")
    second = make_template(name="券B")
    worker = f.person()
    session.commit()

    claim.claim(session, worker, first, now=NOW)

    assert claim.claim(session, worker, second, now=NOW).status == CLAIMED
