"""领券 (PRODUCT.md §4): a successful claim, and who may claim: real-name identity, the template's
region, its priority groups and months of local insurance; a refusal lists every problem."""
import pytest

from h5app.models.vouchers import CLAIMED
from h5app.vouchers import claim
from h5app.vouchers.errors import NotEligible
from tests import factories as f
from tests.claim_support import NOW, assert_refused, claimed_count, make_template

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
