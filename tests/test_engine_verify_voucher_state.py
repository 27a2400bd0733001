"""验券 checks 4–5 (PRODUCT.md §4): only a claimed, current voucher is verified — to the last
instant of its deadline, and within Shaoxing's 90 days and Chongqing's fixed deadline.
The other checks, the yearly limits, their order and the statements a verification costs are in
the test_engine_verify_*.py modules beside this one."""
from datetime import date, time, timedelta

import pytest

from h5app.models.vouchers import CLAIMED, EXPIRED, OFFERED, REVOKED, SETTLED, USED
from h5app.timeutil import end_of_local_day, local_at
from h5app.vouchers import claim, verify
from tests import factories as f
from tests.verify_support import NOW, assert_refused, claimed_voucher, make_template, run_verify, used_voucher


@pytest.mark.parametrize("status, values, code", [
    (USED, {}, "VOUCHER_ALREADY_USED"),
    (SETTLED, dict(settled_at=NOW - timedelta(days=1)), "VOUCHER_SETTLED"),
    (REVOKED, dict(revoked_at=NOW - timedelta(days=1), revoke_reason="重复发放"), "VOUCHER_REVOKED"),
    (OFFERED, dict(claimed_at=None, offered_at=NOW - timedelta(days=1)), "VOUCHER_NOT_CLAIMED"),
    (EXPIRED, dict(expires_at=NOW - timedelta(days=1)), "VOUCHER_EXPIRED"),
    (CLAIMED, dict(expires_at=NOW - timedelta(seconds=1)), "VOUCHER_EXPIRED"),  # overdue, no sweep yet
])
def test_voucher_that_is_not_claimed_and_current_is_refused(session, status, values, code):
    template = make_template()
    owner = f.person()
    elsewhere = f.training_class()
    cls = f.training_class()
    if status in (USED, SETTLED):
        voucher = used_voucher(template, owner, elsewhere, status=status)
        for key, value in values.items():
            setattr(voucher, key, value)
    else:
        voucher = claimed_voucher(template, owner, status=status, **values)
    session.commit()

    assert_refused(session, code, voucher, cls)


def test_voucher_is_usable_until_the_last_instant_of_its_deadline(session):
    deadline = end_of_local_day(date(2022, 5, 31))
    voucher = claimed_voucher(expires_at=deadline)
    cls = f.training_class()
    session.commit()

    assert run_verify(session, voucher, cls, now=deadline).result == verify.VERIFIED


def test_shaoxing_voucher_must_be_activated_within_90_days_of_claim(session):
    template = make_template("shaoxing", valid_days=365)
    on_time, too_late = f.person(), f.person()
    cls = f.training_class()
    session.commit()
    v1 = claim.claim(session, on_time, template, now=NOW)
    v2 = claim.claim(session, too_late, template, now=NOW)

    day_90 = local_at(date(2022, 8, 8), time(23, 59))  # claim day 2022-05-10 + 90 days
    assert run_verify(session, v1, cls, now=day_90).result == verify.VERIFIED
    assert_refused(session, "VOUCHER_EXPIRED", v2, cls, now=local_at(date(2022, 8, 9), time(0, 0)))


def test_chongqing_voucher_is_refused_after_its_fixed_deadline(session):
    f.region("500000", "重庆市", "chongqing")
    template = make_template("chongqing", region_code="500000", valid_until=date(2022, 11, 30), valid_days=None,
                             claim_ends_on=date(2022, 11, 30))
    inst = f.institution(region_code="500103")
    cls = f.training_class(inst, starts_on=date(2022, 11, 1), ends_on=date(2022, 11, 30))
    on_time, too_late = f.person(region_code="500103"), f.person(region_code="500103")
    session.commit()
    v1 = claim.claim(session, on_time, template, now=NOW)
    v2 = claim.claim(session, too_late, template, now=NOW)

    assert run_verify(session, v1, cls, now=local_at(date(2022, 11, 30), time(23, 59))).result == verify.VERIFIED
    assert_refused(session, "VOUCHER_EXPIRED", v2, cls, now=local_at(date(2022, 12, 1), time(0, 0)))


@pytest.mark.parametrize("ends_on, refused", [(date(2022, 11, 30), False), (date(2022, 12, 15), True)])
def test_chongqing_voucher_pays_only_for_training_over_by_its_deadline(session, ends_on, refused):
    # Seed 004 §二(四): 有效期至2021年11月30日，领券后未启用或未按规定完成补贴性培训的，职业培训券失效.
    f.region("500000", "重庆市", "chongqing")
    template = make_template("chongqing", region_code="500000", valid_until=date(2022, 11, 30), valid_days=None,
                             claim_ends_on=date(2022, 11, 30))
    cls = f.training_class(f.institution(region_code="500103"), starts_on=date(2022, 11, 20), ends_on=ends_on)
    voucher = claim.claim(session, f.person(region_code="500103"), template, now=NOW)
    session.commit()
    moment = local_at(date(2022, 11, 20), time(9))
    if refused:
        assert_refused(session, "NOT_APPLICABLE", voucher, cls, now=moment)
    else:
        assert run_verify(session, voucher, cls, now=moment).result == verify.VERIFIED


def test_a_deadline_without_the_policys_rule_does_not_limit_the_class(session):
    template = make_template("default", valid_until=date(2022, 11, 30), valid_days=None,
                             claim_ends_on=date(2022, 11, 30))
    cls = f.training_class(starts_on=date(2022, 11, 20), ends_on=date(2022, 12, 15))
    voucher = claim.claim(session, f.person(), template, now=NOW)
    session.commit()
    assert run_verify(session, voucher, cls, now=local_at(date(2022, 11, 20), time(9))).result == verify.VERIFIED


def test_a_chongqing_voucher_given_back_with_days_added_may_pay_for_a_class_ending_by_them(session):
    # 取消班期 returned it with the days it was held added: the worker was told the deadline moved.
    f.region("500000", "重庆市", "chongqing")
    template = make_template("chongqing", region_code="500000", valid_until=date(2022, 11, 30), valid_days=None,
                             claim_ends_on=date(2022, 11, 30))
    voucher = claim.claim(session, f.person(region_code="500103"), template, now=NOW)
    voucher.expires_at = end_of_local_day(date(2022, 12, 20))
    cls = f.training_class(f.institution(region_code="500103"), starts_on=date(2022, 11, 25), ends_on=date(2022, 12, 15))
    session.commit()
    assert run_verify(session, voucher, cls, now=local_at(date(2022, 11, 25), time(9))).result == verify.VERIFIED
