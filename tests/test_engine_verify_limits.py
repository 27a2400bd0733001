"""验券 step 8: the person's yearly limits are region policy (Wuxi: one voucher training per occupation a
year; Shaoxing: one activation a year; Chongqing: three uses a year; the default: none), as data."""
from datetime import date, time, timedelta

import pytest

from h5app.models.vouchers import SETTLED, USED
from h5app.policies import ensure_policies
from h5app.timeutil import local_at
from h5app.vouchers import verify
from tests import factories as f

from .verify_support import NOW, assert_refused, claimed_voucher, make_template, run_verify, used_voucher


# --- 8. yearly limits (region policy) ------------------------------------------------------------

def assert_verified_or_limited(session, voucher, training_class, allowed: bool, message: str) -> None:
    """Verified when the policy allows it; otherwise refused as YEARLY_LIMIT_REACHED in `message`'s words."""
    if allowed:
        assert run_verify(session, voucher, training_class).result == verify.VERIFIED
    else:
        error = assert_refused(session, "YEARLY_LIMIT_REACHED", voucher, training_class)
        assert error.message == message


def wuxi_template(**values):
    f.region("320200", "无锡市", "wuxi")
    return make_template("wuxi", **{"region_code": "320200", **values})


def wuxi_class(**values):
    return f.training_class(f.institution(region_code="320211"), **values)


@pytest.mark.parametrize("earlier_occupation, earlier_at, earlier_status, allowed", [
    ("电工", NOW - timedelta(days=30), USED, False),
    ("电工", NOW - timedelta(days=30), SETTLED, False),
    ("焊工", NOW - timedelta(days=30), USED, True),
    ("电工", local_at(date(2021, 12, 31), time(23, 30)), SETTLED, True),   # last local year
    ("电工", local_at(date(2022, 1, 1), time(0, 30)), SETTLED, False),     # 2021-12-31 16:30 UTC, but 2022 locally
])
def test_wuxi_allows_one_voucher_training_per_occupation_per_year(
        session, earlier_occupation, earlier_at, earlier_status, allowed):
    owner = f.person(region_code="320211")
    used_voucher(wuxi_template(name="无锡券一"), owner, wuxi_class(occupation=earlier_occupation),
                 used_at=earlier_at, status=earlier_status)
    voucher = claimed_voucher(wuxi_template(name="无锡券二"), owner)
    cls = wuxi_class(occupation="电工")
    session.commit()

    assert_verified_or_limited(session, voucher, cls, allowed,
                               "按本地政策，每人每年同一职业（工种）只能持券参加一次培训，您本年度已持券参加过电工培训")


@pytest.mark.parametrize("earlier_at, allowed", [
    (NOW - timedelta(days=30), False),
    (local_at(date(2021, 12, 31), time(12)), True),
])
def test_shaoxing_allows_one_activation_per_person_per_year(session, earlier_at, allowed):
    owner = f.person()
    used_voucher(make_template("shaoxing", name="绍兴券一"), owner, f.training_class(occupation="焊工"),
                 used_at=earlier_at)
    voucher = claimed_voucher(make_template("shaoxing", name="绍兴券二"), owner)
    cls = f.training_class()
    session.commit()

    assert_verified_or_limited(session, voucher, cls, allowed,
                               "按本地政策，每人每年最多使用1次培训券，本年度次数已用完")


@pytest.mark.parametrize("earlier_uses, allowed", [(0, True), (2, True), (3, False)])
def test_chongqing_allows_at_most_three_uses_per_person_per_year(session, earlier_uses, allowed):
    f.region("500000", "重庆市", "chongqing")
    owner = f.person(region_code="500103")
    inst = f.institution(region_code="500103")
    for n in range(earlier_uses):
        used_voucher(make_template("chongqing", region_code="500000", name=f"重庆券{n}"), owner,
                     f.training_class(inst, occupation=f"工种{n}"), used_at=NOW - timedelta(days=10 + n))
    voucher = claimed_voucher(make_template("chongqing", region_code="500000", name="重庆券新"), owner)
    cls = f.training_class(inst, starts_on=NOW.date(), ends_on=NOW.date() + timedelta(days=10))  # within its term
    session.commit()

    assert_verified_or_limited(session, voucher, cls, allowed,
                               "按本地政策，每人每年最多使用3次培训券，本年度次数已用完")


def test_default_policy_has_no_yearly_use_limit(session):
    owner = f.person()
    for n in range(3):
        used_voucher(make_template(name=f"券{n}"), owner, f.training_class())
    voucher = claimed_voucher(make_template(name="新券"), owner)
    cls = f.training_class()
    session.commit()

    assert run_verify(session, voucher, cls).result == verify.VERIFIED


def test_yearly_limits_are_policy_data_not_code(session):
    ensure_policies(session)["default"].uses_per_year = 1  # a bureau edits its policy row
    owner = f.person()
    used_voucher(make_template(name="券一"), owner, f.training_class())
    voucher = claimed_voucher(make_template(name="券二"), owner)
    cls = f.training_class()
    session.commit()

    error = assert_refused(session, "YEARLY_LIMIT_REACHED", voucher, cls)

    assert "最多使用1次" in error.message
