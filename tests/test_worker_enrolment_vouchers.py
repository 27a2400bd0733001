"""培训报名 with a voucher, as the worker meets it on a class's page: a voucher chosen for one class is
neither offered nor taken for another (until that class is completed); a chosen voucher that can no
longer be used (used or settled elsewhere, expired, revoked, its institution suspended, the policy's
yearly limit reached since) says so, and the worker replaces it or goes on without one; the policy's
yearly limits and a suspended institution are told before the front desk, the rule quoted; and a
trainee given a directed voucher is pointed to it. (Enrolling itself: test_worker_training.py.)"""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import AuditEvent, Enrolment, Notification
from h5app.models.institutions import SUSPENDED
from h5app.models.vouchers import REVOKED, SETTLED, USED
from h5app.timeutil import utcnow
from h5app.vouchers import issuance

from . import factories as f
from .auth_support import signed_in_worker, text_of

SHAOXING_RULE = "按本地政策，每人每年最多使用1次培训券，本年度次数已用完"


@pytest.fixture
def worker(client):
    return signed_in_worker(client, name="王建国", region_code="330602")


def claimed(template, owner, **values):
    return f.voucher(template, owner, "claimed", claimed_at=utcnow(), expires_at=utcnow() + timedelta(days=30),
                     **values)


def used_this_year(template, owner, training_class=None):
    """A voucher of `owner` verified yesterday, or on 1 January (for `training_class`, when given)."""
    return f.voucher(template, owner, USED, claimed_at=f.earlier_this_year(days=3),
                     used_at=f.earlier_this_year(days=1), class_id=training_class.id if training_class else None)


def enrolment_of(person, training_class):
    return db.session.scalar(select(Enrolment).where(
        Enrolment.person_id == person.id, Enrolment.class_id == training_class.id))


def enrol_audits() -> list[AuditEvent]:
    return f.audit_events(action="class.enrol")


# --- a voucher chosen for one class ------------------------------------------------------------

def test_a_voucher_chosen_for_another_class_is_neither_offered_nor_accepted(client, worker):
    first = f.training_class(course_name="低压电工作业培训")
    second = f.training_class(course_name="电工四级培训")
    voucher = claimed(f.template(), worker)
    db.session.commit()
    assert client.post(f"/worker/classes/{first.id}", data={"voucher": voucher.code}).status_code == 302

    page = text_of(client.get(f"/worker/classes/{second.id}"))
    assert f'value="{voucher.code}"' not in page
    assert "已在报名“低压电工作业培训”班期时选用，一张培训券只能用于一个班期" in page
    assert "您仍可不使用培训券报名" in page
    refused = client.post(f"/worker/classes/{second.id}", data={"voucher": voucher.code})
    assert refused.status_code == 400 and "一张培训券只能用于一个班期" in text_of(refused)
    assert enrolment_of(worker, second) is None
    assert client.post(f"/worker/classes/{second.id}", data={"voucher": ""}).status_code == 302
    assert enrolment_of(worker, second).voucher_id is None


def test_a_voucher_chosen_for_a_completed_class_is_offered_again(client, worker):
    done = f.training_class(course_name="低压电工作业培训", status="completed")
    voucher = claimed(f.template(), worker)
    f.enrol(done, worker, source="self", voucher_id=voucher.id)
    later = f.training_class(course_name="电工四级培训")
    db.session.commit()
    assert f'value="{voucher.code}"' in text_of(client.get(f"/worker/classes/{later.id}"))


@pytest.mark.parametrize("status, values, words", [
    (USED, {"used_at": utcnow()}, "您报名时选用的培训券已在其他班期使用，不能再用于本班期"),
    ("claimed", {"expires_at": utcnow() - timedelta(days=1)}, "您报名时选用的培训券已过有效期，不能再使用"),
    (REVOKED, {"revoked_at": utcnow()}, "您报名时选用的培训券已被人社部门作废，不能再使用"),
])
def test_a_class_page_says_when_the_chosen_voucher_can_no_longer_be_used(client, worker, status, values, words):
    elsewhere = f.training_class(course_name="低压电工作业培训")
    here = f.training_class(course_name="电工四级培训")
    chosen = f.voucher(f.template(name="旧券"), worker, status,
                       **{"class_id": elsewhere.id if status == USED else None, **values})
    f.enrol(here, worker, source="self", voucher_id=chosen.id)
    other = claimed(f.template(name="新券"), worker)
    db.session.commit()

    page = text_of(client.get(f"/worker/classes/{here.id}"))
    assert words in page and "已选用培训券" not in page and "出示培训券二维码" not in page
    assert f'value="{other.code}"' in page and "不使用培训券" in page


def test_a_worker_replaces_a_voucher_used_elsewhere_with_another(client, worker):
    elsewhere = f.training_class(course_name="低压电工作业培训")
    here = f.training_class(course_name="电工四级培训")
    chosen = used_this_year(f.template(name="旧券"), worker, elsewhere)
    f.enrol(here, worker, source="self", voucher_id=chosen.id)
    other = claimed(f.template(name="新券"), worker)
    db.session.commit()

    response = client.post(f"/worker/classes/{here.id}", data={"voucher": other.code})
    assert response.status_code == 302
    assert enrolment_of(worker, here).voucher_id == other.id
    [row] = enrol_audits()
    assert row.details == {"class_id": here.id, "voucher": other.code, "replaced": chosen.code}
    page = text_of(client.get(f"/worker/classes/{here.id}"))
    assert "已改用所选培训券" in page and "已选用培训券，到场后请出示培训券二维码验券" in page


def test_a_worker_goes_on_without_a_voucher_when_the_chosen_one_expired(client, worker):
    here = f.training_class()
    chosen = f.voucher(f.template(), worker, "claimed", expires_at=utcnow() - timedelta(days=1))
    f.enrol(here, worker, source="self", voucher_id=chosen.id)
    db.session.commit()
    page = text_of(client.get(f"/worker/classes/{here.id}"))
    assert "不使用培训券，继续参加本班期" in page

    assert client.post(f"/worker/classes/{here.id}", data={"voucher": ""}).status_code == 302
    enrolment = enrolment_of(worker, here)
    assert (enrolment.status, enrolment.voucher_id) == ("enrolled", None)
    assert [row.details["replaced"] for row in enrol_audits()] == [chosen.code]


def test_a_voucher_settled_for_another_class_does_not_end_this_one(client, worker):
    elsewhere = f.training_class(course_name="低压电工作业培训")
    here = f.training_class(course_name="电工四级培训", status="closed")
    chosen = f.voucher(f.template(), worker, SETTLED, used_at=utcnow(), settled_at=utcnow(), class_id=elsewhere.id)
    f.enrol(here, worker, source="self", voucher_id=chosen.id)
    db.session.commit()
    page = text_of(client.get(f"/worker/classes/{here.id}"))
    assert "您报名时选用的培训券已在其他班期使用" in page and 'href="/worker/checkin"' in page

    assert client.post(f"/worker/classes/{here.id}", data={"voucher": ""}).status_code == 302  # enrolment closed
    assert enrolment_of(worker, here).voucher_id is None


def test_a_completed_class_offers_no_voucher_change(client, worker):
    here = f.training_class(status="completed")
    chosen = f.voucher(f.template(), worker, "claimed", expires_at=utcnow() - timedelta(days=1))
    f.enrol(here, worker, source="self", voucher_id=chosen.id)
    db.session.commit()
    page = text_of(client.get(f"/worker/classes/{here.id}"))
    assert "您报名时选用的培训券" not in page and "继续参加本班期" not in page


def test_a_chosen_voucher_still_usable_is_not_swapped(client, worker):
    here = f.training_class()
    chosen = claimed(f.template(name="旧券"), worker)
    f.enrol(here, worker, source="self", voucher_id=chosen.id)
    other = claimed(f.template(name="新券"), worker)
    db.session.commit()
    response = client.post(f"/worker/classes/{here.id}", data={"voucher": other.code})
    assert response.status_code == 400 and "您已报名该班期" in text_of(response)
    assert enrolment_of(worker, here).voucher_id == chosen.id
    assert enrol_audits() == []


# --- the policy's yearly limits and a suspended institution, before the front desk ---------------

def test_a_voucher_past_the_yearly_limit_is_not_offered_and_the_rule_is_quoted(client, worker):
    used_this_year(f.template("shaoxing", name="去年领的券"), worker)
    second = claimed(f.template("shaoxing", name="就业技能培训券"), worker)
    training_class = f.training_class()
    db.session.commit()

    page = text_of(client.get(f"/worker/classes/{training_class.id}"))
    assert f'value="{second.code}"' not in page
    assert f"“就业技能培训券”本年度不能用于本班期：{SHAOXING_RULE}" in page
    assert "您仍可不使用培训券报名" in page
    refused = client.post(f"/worker/classes/{training_class.id}", data={"voucher": second.code})
    assert refused.status_code == 400 and SHAOXING_RULE in text_of(refused)
    assert enrolment_of(worker, training_class) is None
    assert client.post(f"/worker/classes/{training_class.id}", data={"voucher": ""}).status_code == 302


def test_a_suspended_institutions_class_takes_no_voucher_and_says_why(client, worker):
    voucher = claimed(f.template(name="就业技能培训券"), worker)
    training_class = f.training_class()
    training_class.institution.status = SUSPENDED
    db.session.commit()

    page = text_of(client.get(f"/worker/classes/{training_class.id}"))
    assert f'value="{voucher.code}"' not in page
    assert "该培训机构已被暂停验券资格" in page
    refused = client.post(f"/worker/classes/{training_class.id}", data={"voucher": voucher.code})
    assert refused.status_code == 400 and "该培训机构已被暂停验券资格" in text_of(refused)
    assert enrolment_of(worker, training_class) is None


def test_an_enrolment_with_a_voucher_says_so_once_the_institution_is_suspended(client, worker):
    voucher = claimed(f.template(name="就业技能培训券"), worker)
    training_class = f.training_class()
    db.session.commit()
    assert client.post(f"/worker/classes/{training_class.id}", data={"voucher": voucher.code}).status_code == 302
    training_class.institution.status = SUSPENDED
    db.session.commit()

    page = text_of(client.get(f"/worker/classes/{training_class.id}"))
    assert "您报名时选用的培训券暂不能使用：该培训机构已被暂停验券资格" in page


def test_the_occupation_limit_refuses_only_the_same_occupation(client, worker):
    f.region("320200", "无锡市", "wuxi")
    wuxi = f.institution(region_code="320211")
    used_this_year(f.template("wuxi", name="无锡券一", region_code="320200"), worker,
                   f.training_class(wuxi, occupation="电工"))
    second = claimed(f.template("wuxi", name="无锡券二", region_code="320200"), worker)
    electrician = f.training_class(wuxi, occupation="电工", course_name="电工提升班")
    welder = f.training_class(wuxi, occupation="焊工", course_name="焊工班")
    db.session.commit()

    page = text_of(client.get(f"/worker/classes/{electrician.id}"))
    assert f'value="{second.code}"' not in page
    assert "按本地政策，每人每年同一职业（工种）只能持券参加一次培训，您本年度已持券参加过电工培训" in page
    assert f'value="{second.code}"' in text_of(client.get(f"/worker/classes/{welder.id}"))


def test_an_enrolment_whose_voucher_the_yearly_limit_now_refuses_says_so(client, worker):
    here = f.training_class(course_name="电工四级培训")
    chosen = claimed(f.template("shaoxing", name="就业技能培训券"), worker)
    f.enrol(here, worker, source="self", voucher_id=chosen.id)
    used_this_year(f.template("shaoxing", name="另一张券"), worker, f.training_class())
    db.session.commit()
    page = text_of(client.get(f"/worker/classes/{here.id}"))
    assert f"您报名时选用的培训券本年度不能用于本班期：{SHAOXING_RULE}" in page
    assert "出示培训券二维码" not in page


# --- directed vouchers -------------------------------------------------------------------------

@pytest.fixture
def directed_voucher(worker):
    training_class = f.training_class(course_name="育婴员培训", occupation="育婴员", project_type="domestic_service")
    f.enrol(training_class, worker)
    template = f.directed_template(name="家政服务定向培训券")
    db.session.commit()
    report = issuance.issue_directed(db.session, template, training_class, f.bureau_actor())
    [(_voucher_id, _person_id, code)] = report.done
    return training_class, code


def test_the_directed_voucher_notice_links_to_the_voucher(client, directed_voucher):
    _class, code = directed_voucher
    notice = db.session.scalar(select(Notification).where(Notification.kind == "directed_issued"))
    assert notice.link == f"/worker/vouchers/{code}"
    assert f'href="/worker/vouchers/{code}"' in text_of(client.get("/worker/messages"))


def test_a_directed_trainee_is_told_to_show_its_qr_at_the_first_lesson(client, directed_voucher):
    training_class, code = directed_voucher
    page = text_of(client.get(f"/worker/classes/{training_class.id}"))
    assert "人社部门已为您发放本班期的定向培训券“家政服务定向培训券”" in page
    assert "首次上课时，请在“我的卡券”中打开该券，向培训机构出示培训券二维码验券" in page
    assert f'href="/worker/vouchers/{code}"' in page
    assert db.session.scalar(select(func.count(Enrolment.id))) == 1
