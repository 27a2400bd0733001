"""How many can be claimed (PRODUCT.md §4): the stock runs out, one claim per person and template,
and in Chongqing one claim per voucher type per year."""
from datetime import date, time, timedelta

import pytest
from sqlalchemy import select

from h5app.models import Voucher
from h5app.models.vouchers import CLAIMED, EXPIRED, OFFERED, USED
from h5app.timeutil import end_of_local_day, local_at
from h5app.vouchers import app_qr_secret, claim, issuance, verify
from h5app.vouchers.errors import AlreadyClaimed, OutOfStock, YearlyLimitReached
from tests import factories as f
from tests.claim_support import NOW, assert_refused, audit_count, claimed_count, make_template, voucher_count

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
    """An open template: an offer waits in 卡券中心 while anyone eligible may claim the last unit."""
    template = make_template(audience="open", stock=1)
    early, late = f.person(), f.person()
    session.commit()
    issuance.issue_general(session, template, f.bureau_actor(), people=[late], now=NOW)

    claim.claim(session, early, template, now=NOW)
    assert_refused(session, OutOfStock, late, template)

    late_voucher = session.scalar(select(Voucher).where(Voucher.person_id == late.id))
    assert late_voucher.status == OFFERED
    assert claimed_count(session, template) == 1


def test_offers_beyond_the_stock_left_are_refused_whole(session):
    """发券 by the API as on the population page: offering more than the stock could give is refused."""
    template = make_template(audience="targeted", stock=1)
    people = [f.person(), f.person()]
    session.commit()

    with pytest.raises(OutOfStock) as refused:
        issuance.issue_general(session, template, f.bureau_actor(), people=people, now=NOW)

    assert "最多还能向1人发放；本次符合条件的有2人" in refused.value.message
    assert voucher_count(session, template) == 0


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
