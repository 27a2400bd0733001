"""发券 and 审计日志 in the bureau console. The 审计日志 stays inside the clerk's region: an event with
no region of its own is recorded in its institution's or its person's, a city's clerk sees its
districts' events and no other region's, and a filter by another region's institution or person
finds nothing and confirms nothing."""
import csv
import io
import re

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import AuditEvent, Notification, Voucher
from h5app.vouchers import audit, claim, enrolment, exam_results, payees

from . import factories as f
from .auth_support import signed_in_staff, staff_sign_in
from .page_support import visible


@pytest.fixture
def clerk(client):
    user = f.staff("bureau")
    db.session.commit()
    staff_sign_in(client, user)
    return user


def confirmation(preview) -> dict:
    """The hidden fields of a 定向发券 preview's confirm form."""
    html = preview.get_data(as_text=True)
    return {name: re.search(rf'name="{name}" type="hidden" value="([^"]*)"', html).group(1)
            for name in ("template_id", "class_id", "plan")}


def test_directed_issue_to_a_class_roster(client, clerk):
    template = f.directed_template(name="家政定向券")
    training_class = f.training_class(course_name="育婴员培训")
    people = [f.person(), f.person()]
    for person in people:
        f.enrol(training_class, person)
    db.session.commit()
    chosen = client.post("/bureau/issue", data={"kind": "directed", "template_id": template.id,
                                                "class_id": training_class.id})
    preview = client.get(chosen.headers["Location"])  # 定向发券 is previewed first (test_directed_issuance.py)
    assert "将发放 2 张" in preview.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Voucher.id))) == 0
    page = client.post("/bureau/issue/directed", data=confirmation(preview)).get_data(as_text=True)
    assert "2 张已发放" in page
    assert db.session.scalar(select(func.count(Voucher.id)).where(Voucher.status == "claimed")) == 2
    assert db.session.scalar(select(func.count(Notification.id))) == 2


def test_general_issue_with_a_live_count(client, clerk):
    template = f.template(name="通用券", audience="targeted", eligible_groups=[])
    f.person(groups=["graduate"])
    f.person(groups=["unemployed"])
    db.session.commit()
    assert client.get(f"/bureau/issue/count?template_id={template.id}&groups=graduate").get_json()["count"] == 1
    assert client.get(f"/bureau/issue/count?template_id={template.id}").get_json()["count"] == 2
    response = client.post("/bureau/issue/general", data={"template_id": template.id, "groups": ["graduate"],
                                                          "expected": 1})
    assert "已向 <strong id=\"offered-count\">1</strong> 人发放" in client.get(response.headers["Location"]).get_data(
        as_text=True)
    assert db.session.scalar(select(func.count(Voucher.id)).where(Voucher.status == "offered")) == 1


def test_the_issue_page_offers_only_templates_that_can_still_be_issued_each_told_apart(client, clerk):
    from datetime import timedelta

    from h5app.timeutil import local_today

    today = local_today()
    first = f.directed_template(name="电工定向券", status="draft")
    second = f.directed_template(name="电工定向券", status="draft", stock=0)
    f.directed_template(name="过期定向券", claim_starts_on=today - timedelta(days=60),
                        claim_ends_on=today - timedelta(days=1))
    f.template(name="过期通用券", claim_starts_on=today - timedelta(days=60), claim_ends_on=today - timedelta(days=1))
    db.session.commit()

    page = visible(client.get("/bureau/issue"))

    assert "过期定向券" not in page and "过期通用券" not in page
    assert f"电工定向券（草稿，剩余100张，编号{first.id}）" in page and f"电工定向券（草稿，剩余0张，编号{second.id}）" in page


def test_issue_without_a_choice_is_explained(client, clerk):
    response = client.post("/bureau/issue", data={"kind": "directed", "template_id": "", "class_id": ""})
    assert response.status_code == 400 and "请选择定向券模板和班期" in response.get_data(as_text=True)


def test_another_regions_template_is_not_counted(client, clerk):
    f.region("500000", "重庆市")
    theirs = f.template(region_code="500000")
    db.session.commit()
    assert client.get(f"/bureau/issue/count?template_id={theirs.id}").status_code == 404


def test_audit_log_filters_by_code_and_by_person_shown_masked(client, clerk):
    worker = f.person(name="王建国")
    voucher = claim.claim(db.session, worker, f.template())
    other = claim.claim(db.session, f.person(), f.template(name="另一券"))
    page = client.get(f"/bureau/audit?code={voucher.code}").get_data(as_text=True)
    assert page.count("领券") >= 1 and "没有符合条件的记录" not in page
    by_person = by_id_number(client, worker.id_number)
    assert worker.id_number not in by_person and worker.id_number[-4:] in by_person
    assert f'name="person" value="{worker.id}"' in by_person
    export = client.get(f"/bureau/audit.csv?person={worker.id}").get_data().decode("utf-8-sig")
    assert export.count("领券") == 1
    assert other.code  # a second person's claim exists and is filtered out above


def by_id_number(client, number: str) -> str:
    """The audit log filtered by a person's full ID number, as the page's form posts it."""
    return client.post("/bureau/audit", data={"id_number": number}, follow_redirects=True).get_data(as_text=True)


def test_audit_log_explains_bad_filters(client, clerk):
    page = visible(client.post("/bureau/audit", data={"id_number": "123", "from": "yesterday"}, follow_redirects=True))
    assert "身份证号码应为18位" in page and "日期格式应为" in page and "没有符合条件的记录" in page


def test_the_id_number_filter_is_posted_and_never_put_in_a_url(client, clerk):
    worker = f.person(name="王建国")
    claim.claim(db.session, worker, f.template())
    posted = client.post("/bureau/audit", data={"id_number": worker.id_number, "code": " "})
    assert posted.status_code == 302 and posted.headers["Location"] == f"/bureau/audit?person={worker.id}"
    page = client.get(posted.headers["Location"]).get_data(as_text=True)
    assert 'method="post"' in page and worker.id_number not in page and "领券" in page
    old_link = client.get(f"/bureau/audit?id_number={worker.id_number}")  # a link from before: the same answer
    assert old_link.status_code == 302 and worker.id_number not in old_link.headers["Location"]


def test_dates_the_wrong_way_round_are_told_and_list_nothing(client, clerk):
    claim.claim(db.session, f.person(), f.template())
    page = visible(client.get("/bureau/audit?from=2026-12-08&to=2026-12-01"))
    assert "起始日期不能晚于截止日期" in page and "没有符合条件的记录" in page
    unfiltered_by_mistake = visible(client.get("/bureau/audit?from=2026-13-45"))
    assert "日期格式应为" in unfiltered_by_mistake and "没有符合条件的记录" in unfiltered_by_mistake


def test_the_home_counts_a_voucher_past_its_deadline_as_expired_before_any_job(client, clerk):
    from h5app.timeutil import utcnow
    from datetime import timedelta

    template = f.template()
    f.voucher(template, f.person(), "claimed", expires_at=utcnow() - timedelta(days=1))
    f.voucher(template, f.person(), "claimed", expires_at=utcnow() + timedelta(days=30))
    db.session.commit()

    page = client.get("/bureau/").get_data(as_text=True)

    assert "<li><strong>1</strong><span>已失效</span></li>" in page
    assert "<li><strong>1</strong><span>可使用</span></li>" in page


# --- 审计日志: only the clerk's region ---------------------------------------------------------------

def regions():
    f.region("330600", "绍兴市")
    f.region("330602", "越城区", parent="330600")
    f.region("330603", "柯桥区", parent="330600")
    f.region("370100", "济南市")


@pytest.fixture
def keqiao(client, new_client):
    """柯桥区 (Shaoxing): a school, its officer signed in through the login page, a worker of 柯桥
    who enrolled, exam results recorded, the worker's own payee card."""
    regions()
    school = f.institution(name="柯桥电工学校", region_code="330603")
    officer = f.staff("officer", username="kq_officer1", institution_id=school.id)
    cls = f.training_class(school, course_name="柯桥电工班")
    worker = f.person(name="柯小桥", region_code="330603", id_number=f.valid_id_number("330603"))
    db.session.commit()
    browser = new_client()
    assert browser.post("/login", data={"username": "kq_officer1", "password": f.PASSWORD}).status_code == 302
    enrolment.enrol(db.session, worker, cls)
    exam_results.record_results(db.session, cls, {worker.id: True}, audit.Actor.for_staff(officer))
    payees.set_worker_account(db.session, worker, {"account_name": "柯小桥", "bank_name": "中国工商银行",
                                                   "account_number": f.CARD_NUMBER}, audit.Actor.for_person(worker))
    db.session.commit()
    return dict(school=school, worker=worker, officer=officer)


KEQIAO_WORDS = ("kq_officer1", "登录", "录入考核结果", "报名", "设置收款账户")


def test_events_without_a_region_of_their_own_are_recorded_in_their_institutions_or_persons_region(keqiao):
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action.in_(
        ("staff.login", "class.enrol", "class.results", "payee.set")))).all()
    assert sorted(r.action for r in rows) == ["class.enrol", "class.results", "payee.set", "staff.login"]
    assert {r.region_code for r in rows} == {"330603"}


def test_another_citys_clerk_does_not_see_shaoxing_logins_results_enrolments_or_payees(client, keqiao):
    signed_in_staff(client, "bureau", region_code="370100")
    page = client.get("/bureau/audit").get_data(as_text=True)
    assert "没有符合条件的记录" in page
    for word in ("kq_officer1", "录入考核结果", "设置收款账户", "柯小"):
        assert word not in page
    export = client.get("/bureau/audit.csv").get_data().decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(export)))[1:] == []


def test_filters_by_another_regions_institution_or_person_find_nothing_and_confirm_nothing(client, keqiao):
    signed_in_staff(client, "bureau", region_code="370100")
    by_school = client.get(f"/bureau/audit?institution={keqiao['school'].code}").get_data(as_text=True)
    assert "没有符合条件的记录" in by_school and "kq_officer1" not in by_school
    worker = keqiao["worker"]
    by_person = by_id_number(client, worker.id_number)
    assert "没有符合条件的记录" in by_person and "（无此人）" in by_person
    assert worker.id_number[-4:] not in by_person  # the masked number would confirm the person exists
    by_id = client.get(f"/bureau/audit?person={worker.id}").get_data(as_text=True)
    assert "（无此人）" in by_id and "没有符合条件的记录" in by_id
    export = client.get(f"/bureau/audit.csv?person={worker.id}").get_data().decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(export)))[1:] == []


def test_a_district_clerk_does_not_see_the_neighbouring_districts_events(client, keqiao):
    signed_in_staff(client, "bureau", region_code="330602")  # 越城区; the events are 柯桥区's
    page = client.get("/bureau/audit").get_data(as_text=True)
    assert "没有符合条件的记录" in page and "kq_officer1" not in page


def test_the_citys_clerk_sees_its_districts_logins_results_and_enrolments(client, keqiao):
    signed_in_staff(client, "bureau", region_code="330600")
    page = client.get("/bureau/audit").get_data(as_text=True)
    for word in KEQIAO_WORDS:
        assert word in page
    by_school = client.get(f"/bureau/audit?institution={keqiao['school'].code}").get_data(as_text=True)
    assert "录入考核结果" in by_school
    worker = keqiao["worker"]
    by_person = by_id_number(client, worker.id_number)
    assert "报名" in by_person and worker.id_number[-4:] in by_person


def test_an_event_of_no_region_institution_or_person_is_no_regional_clerks(client):
    regions()
    audit.record(db.session, audit.Actor.system("夜间任务"), "targets.import", details={"rows": 1})
    db.session.commit()
    signed_in_staff(client, "bureau", region_code="330600")
    assert "夜间任务" not in client.get("/bureau/audit").get_data(as_text=True)
