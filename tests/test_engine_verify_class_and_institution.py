"""验券 checks 6–7 (PRODUCT.md §4): the voucher fits the class (region, project type, occupation,
level, a directed voucher's own class), the class is open, the institution is not suspended.
The other checks, the yearly limits, their order and the statements a verification costs are in
the test_engine_verify_*.py modules beside this one."""
from datetime import timedelta

import pytest

from h5app.models import Voucher
from h5app.models.classes import CLASS_CLOSED, CLASS_COMPLETED, CLASS_DRAFT
from h5app.models.institutions import SUSPENDED
from h5app.timeutil import local_today
from h5app.vouchers import verify
from tests import factories as f
from tests.verify_support import NOW, WINDOW, assert_refused, claimed_voucher, make_template, run_verify

# --- 6. the template applies to this class ------------------------------------------------------

@pytest.mark.parametrize("template_values, institution_region, class_values, message", [
    ({}, "320211", {}, "该培训券不能在本地区的培训机构使用"),
    (dict(project_types=["certificate"]), "330602", dict(project_type="employment_skills"),
     "该培训券仅适用于证书类培训，本班期为就业技能培训"),
    (dict(occupation="焊工"), "330602", dict(occupation="电工"), "该培训券仅适用于焊工工种，本班期为电工"),
    (dict(level="三级"), "330602", dict(level="四级"), "该培训券仅适用于三级等级，本班期为四级"),
])
def test_voucher_that_does_not_fit_the_class_is_refused_as_not_applicable(
        session, template_values, institution_region, class_values, message):
    voucher = claimed_voucher(make_template(**template_values))
    cls = f.training_class(f.institution(region_code=institution_region), **class_values)
    session.commit()

    error = assert_refused(session, "NOT_APPLICABLE", voucher, cls)

    assert error.message == message


@pytest.mark.parametrize("template_values, class_values", [
    ({}, {}),
    (dict(project_types=["employment_skills", "certificate"]), dict(project_type="certificate")),
    (dict(occupation="电工", level="四级"), dict(occupation="电工", level="四级")),
])
def test_voucher_that_fits_the_class_is_verified(session, template_values, class_values):
    voucher = claimed_voucher(make_template(**template_values))
    cls = f.training_class(f.institution(region_code="330621"), **class_values)
    session.commit()

    assert run_verify(session, voucher, cls).result == verify.VERIFIED


def test_directed_voucher_is_refused_at_a_class_other_than_its_own(session):
    template = f.directed_template(**WINDOW)
    inst = f.institution()
    own, other = f.training_class(inst), f.training_class(inst, course_name="电工二班")
    owner = f.person()
    voucher = claimed_voucher(template, owner, bound_class_id=own.id)
    session.commit()

    error = assert_refused(session, "NOT_APPLICABLE", voucher, other)

    assert error.message == "该定向券只能在发券时指定的班期使用"
    assert run_verify(session, session.get(Voucher, voucher.id), own).result == verify.VERIFIED


@pytest.mark.parametrize("status", [CLASS_DRAFT, CLASS_CLOSED, CLASS_COMPLETED])
def test_class_that_is_not_open_refuses_verification(session, status):
    voucher = claimed_voucher()
    cls = f.training_class(status=status)
    session.commit()

    error = assert_refused(session, "CLASS_NOT_OPEN", voucher, cls)

    assert "不能验券" in error.message


def test_a_class_past_its_end_date_refuses_verification_though_still_open(session):
    """A class left open after its last day (never marked 结业) takes no voucher: no lesson is left."""
    voucher = claimed_voucher()
    today = local_today(NOW)
    cls = f.training_class(starts_on=today - timedelta(days=10), ends_on=today - timedelta(days=1))
    session.commit()

    error = assert_refused(session, "CLASS_NOT_OPEN", voucher, cls)

    yesterday = today - timedelta(days=1)
    assert f"已于{yesterday.year}年{yesterday.month}月{yesterday.day}日结束，不能验券" in error.message


# --- 7. institution not suspended ----------------------------------------------------------------

def test_suspended_institution_cannot_verify(session):
    voucher = claimed_voucher()
    inst = f.institution(status=SUSPENDED, suspended_reason="本年度累计3次培训质量问题")
    cls = f.training_class(inst)
    session.commit()

    error = assert_refused(session, "INSTITUTION_SUSPENDED", voucher, cls)

    assert error.message == "本机构已被暂停验券资格：本年度累计3次培训质量问题"
