"""开班申请 and 开班审核 on the pages (issue 19): the officer's 新建班期 asks for the teaching plan and the
teachers where the district's policy requires review, and the class waits; the bureau's 开班审核 queue
and review page show everything submitted, approve or return with a reason; the officer reads the
reason, mends and resubmits; after approval, changes to the lessons reach the bureau. Bad inputs
are refused in words and change nothing."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import ClassChange, ClassReview, TrainingClass
from h5app.models.classes import CLASS_OPEN, CLASS_PENDING_REVIEW, CLASS_RETURNED
from h5app.timeutil import local_today

from . import factories as f
from .auth_support import staff_sign_in

START = local_today() + timedelta(days=7)


@pytest.fixture
def jinan(session):
    f.region("330600", "绍兴市")
    f.region("370100", "济南市", "shandong")
    f.region("370102", "历下区", "shandong", parent="370100")
    school = f.institution(name="济南市历下区鲁班职业培训学校", region_code="370102")
    officer = f.staff("officer", institution_id=school.id)
    city = f.staff("bureau", region_code="370100", name="济南经办")
    shaoxing = f.staff("bureau", region_code="330600")
    session.commit()
    return school, officer, city, shaoxing


def signed_in(new_client, user):
    client = new_client()
    staff_sign_in(client, user)
    return client


def form(school, **overrides):
    return {"course_name": "焊工（四级）培训", "occupation": "焊工", "level": "四级", "project_type": "employment_skills",
            "price": "2000", "capacity": "30", "starts_on": str(START), "ends_on": str(START + timedelta(days=5)),
            "sites": [str(school.sites[0].id)], "delivery": "offline",
            "sessions": f"{START} 08:00-12:00 4\n{START + timedelta(days=1)} 08:00-12:00 4",
            "teaching_plan": "焊工理论12课时、实操20课时，结业由第三方评价机构考核。",
            "teachers": "鲁明 3701002019000123\n孔芳，3701002020000456", "description": "", **overrides}


def the_class():
    db.session.expire_all()
    return db.session.scalar(select(TrainingClass))


def test_new_class_page_asks_for_plan_and_teachers_and_submits_the_application(new_client, jinan):
    school, officer, *_ = jinan
    client = signed_in(new_client, officer)
    page = client.get("/institution/classes/new").get_data(as_text=True)
    assert "本地区开班须经人社部门审核" in page and "提交开班申请" in page
    missing = client.post("/institution/classes/new", data=form(school, teaching_plan="", teachers=""))
    text = missing.get_data(as_text=True)
    assert missing.status_code == 400 and "请填写教学计划" in text and "请填写授课教师及其证书编号" in text
    bad_line = client.post("/institution/classes/new", data=form(school, teachers="鲁明"))
    assert bad_line.status_code == 400 and "第1行应为“姓名 证书编号”" in bad_line.get_data(as_text=True)
    assert the_class() is None

    made = client.post("/institution/classes/new", data=form(school), follow_redirects=True)
    text = made.get_data(as_text=True)
    assert "开班申请已提交人社部门审核" in text and "待开班审核" in text
    assert "开放报名</button>" not in text and "为本班扫码验券" not in text
    training_class = the_class()
    assert training_class.status == CLASS_PENDING_REVIEW
    assert [(t.name, t.certificate_number) for t in training_class.teachers] == [
        ("鲁明", "3701002019000123"), ("孔芳", "3701002020000456")]


def test_a_class_waiting_for_review_cannot_be_opened_by_the_officer(new_client, jinan):
    school, officer, *_ = jinan
    client = signed_in(new_client, officer)
    client.post("/institution/classes/new", data=form(school))
    training_class = the_class()
    refused = client.post(f"/institution/classes/{training_class.id}/status", data={"status": "open"},
                          follow_redirects=True)
    assert "班期尚未通过开班审核" in refused.get_data(as_text=True)
    assert the_class().status == CLASS_PENDING_REVIEW


def submitted(new_client, jinan):
    school, officer, *_ = jinan
    client = signed_in(new_client, officer)
    client.post("/institution/classes/new", data=form(school))
    f.enrol(the_class(), f.person(name="孔秀兰", region_code="370102"))
    db.session.commit()
    return client, the_class()


def test_the_bureau_sees_the_queue_and_the_whole_application(new_client, jinan):
    _school, _officer, city, _ = jinan
    _client, training_class = submitted(new_client, jinan)
    bureau = signed_in(new_client, city)
    assert "开班审核（1）" in bureau.get("/bureau/").get_data(as_text=True)
    queue = bureau.get("/bureau/classes").get_data(as_text=True)
    assert "焊工（四级）培训" in queue and "济南市历下区鲁班职业培训学校" in queue
    page = bureau.get(f"/bureau/classes/{training_class.id}").get_data(as_text=True)
    for shown in ("焊工理论12课时", "3701002019000123", "孔芳", "本部", "花名册（1人）", "孔*兰", "审核通过，开放报名",
                  "提交开班申请"):
        assert shown in page, shown
    assert f'href="/bureau/classes/{training_class.id}/cancellation"' in page  # the bureau may cancel it from here


def test_return_without_a_reason_is_refused_then_returned_resubmitted_and_approved(new_client, jinan):
    _school, _officer, city, _ = jinan
    officer_client, training_class = submitted(new_client, jinan)
    bureau = signed_in(new_client, city)
    empty = bureau.post(f"/bureau/classes/{training_class.id}/return", data={"reason": "  "})
    assert empty.status_code == 400 and "请填写退回原因" in empty.get_data(as_text=True)
    assert the_class().status == CLASS_PENDING_REVIEW

    returned = bureau.post(f"/bureau/classes/{training_class.id}/return",
                           data={"reason": "孔芳的证书编号查无此证，请核对后重新提交"}, follow_redirects=True)
    assert "已退回培训机构修改" in returned.get_data(as_text=True)
    assert the_class().status == CLASS_RETURNED

    seen = officer_client.get(f"/institution/classes/{training_class.id}").get_data(as_text=True)
    assert "人社部门退回了开班申请" in seen and "孔芳的证书编号查无此证" in seen and "修改并重新提交" in seen
    edit = officer_client.get(f"/institution/classes/{training_class.id}/edit").get_data(as_text=True)
    assert "保存并重新提交审核" in edit and "孔芳 3701002020000456" in edit
    fixed = officer_client.post(f"/institution/classes/{training_class.id}/edit",
                                data=form(jinan[0], teachers="鲁明 3701002019000123\n孔芳 3701002020000789"),
                                follow_redirects=True)
    assert "已重新提交人社部门审核" in fixed.get_data(as_text=True)
    assert the_class().status == CLASS_PENDING_REVIEW

    approved = bureau.post(f"/bureau/classes/{training_class.id}/approve", follow_redirects=True)
    assert "已审核通过" in approved.get_data(as_text=True)
    assert the_class().status == CLASS_OPEN
    again = bureau.post(f"/bureau/classes/{training_class.id}/approve")
    assert again.status_code == 409 and "该班期已审核通过，无需再次审核" in again.get_data(as_text=True)
    history = bureau.get(f"/bureau/classes/{training_class.id}").get_data(as_text=True)
    for step in ("提交开班申请", "退回修改", "重新提交", "审核通过"):
        assert step in history


def test_a_returned_class_may_be_resubmitted_as_it_is(new_client, jinan):
    _school, _officer, city, _ = jinan
    officer_client, training_class = submitted(new_client, jinan)
    signed_in(new_client, city).post(f"/bureau/classes/{training_class.id}/return", data={"reason": "请补充"})
    done = officer_client.post(f"/institution/classes/{training_class.id}/resubmit", follow_redirects=True)
    assert "已重新提交开班审核" in done.get_data(as_text=True) and the_class().status == CLASS_PENDING_REVIEW
    twice = officer_client.post(f"/institution/classes/{training_class.id}/resubmit", follow_redirects=True)
    assert "正在等待人社部门审核" in twice.get_data(as_text=True)
    assert db.session.scalar(select(func.count(ClassReview.id)).where(ClassReview.action == "resubmit")) == 1


def test_another_citys_bureau_cannot_see_or_decide_the_class(new_client, jinan):
    *_, shaoxing = jinan
    _client, training_class = submitted(new_client, jinan)
    other = signed_in(new_client, shaoxing)
    assert "焊工（四级）培训" not in other.get("/bureau/classes").get_data(as_text=True)
    assert other.get(f"/bureau/classes/{training_class.id}").status_code == 404
    assert other.post(f"/bureau/classes/{training_class.id}/approve").status_code == 404
    assert other.post(f"/bureau/classes/{training_class.id}/return", data={"reason": "x"}).status_code == 404
    assert other.get("/bureau/classes/99999999999").status_code == 404
    assert the_class().status == CLASS_PENDING_REVIEW
    assert db.session.scalar(select(func.count(ClassReview.id))) == 1


def test_an_institution_cannot_use_the_bureau_pages(new_client, jinan):
    _school, officer, *_ = jinan
    officer_client, training_class = submitted(new_client, jinan)
    assert officer_client.post(f"/bureau/classes/{training_class.id}/approve").status_code == 403
    assert the_class().status == CLASS_PENDING_REVIEW


def test_changes_after_approval_reach_the_bureau_and_are_marked_read(new_client, jinan):
    school, _officer, city, _ = jinan
    officer_client, training_class = submitted(new_client, jinan)
    bureau = signed_in(new_client, city)
    bureau.post(f"/bureau/classes/{training_class.id}/approve")
    moved = form(school, sessions=f"{START} 08:00-12:00 4\n{START + timedelta(days=2)} 14:00-18:00 4")
    saved = officer_client.post(f"/institution/classes/{training_class.id}/edit", data=moved, follow_redirects=True)
    assert "课次变更已告知人社部门" in saved.get_data(as_text=True)
    assert the_class().status == CLASS_OPEN  # an approved class stays open
    assert "审核通过后有变更" in bureau.get("/bureau/").get_data(as_text=True)
    queue = bureau.get("/bureau/classes").get_data(as_text=True)
    assert "1 处未阅变更" in queue
    page = bureau.get(f"/bureau/classes/{training_class.id}").get_data(as_text=True)
    day2, day3 = START + timedelta(days=1), START + timedelta(days=2)
    assert re.search(rf"第2次课：{day2} 08:00–12:00 4课时 · 本部 → {day3} 14:00–18:00 4课时 · 本部", page)
    bureau.post(f"/bureau/classes/{training_class.id}/changes/read")
    assert db.session.scalar(select(ClassChange.read_at)) is not None
    assert "没有未阅的班期变更" in bureau.get("/bureau/classes").get_data(as_text=True)


def test_the_directed_issue_page_offers_only_approved_classes(new_client, jinan):
    _school, _officer, city, _ = jinan
    _client, training_class = submitted(new_client, jinan)
    template = f.directed_template(policy_code="shandong", name="济南市定向培训券", region_code="370100")
    db.session.commit()
    bureau = signed_in(new_client, city)
    assert "焊工（四级）培训" not in bureau.get("/bureau/issue").get_data(as_text=True)
    preview = bureau.get(f"/bureau/issue/directed?template_id={template.id}&class_id={training_class.id}")
    assert preview.status_code == 409 and "尚未通过开班审核" in preview.get_data(as_text=True)


def test_classes_made_by_factories_elsewhere_need_no_review(new_client, jinan):
    """Regions without the rule are untouched: the class page shows no review notice."""
    school = f.institution(region_code="330602")
    officer = f.staff("officer", institution_id=school.id)
    training_class = f.training_class(school)
    db.session.commit()
    page = signed_in(new_client, officer).get(f"/institution/classes/{training_class.id}").get_data(as_text=True)
    assert "开班审核" not in page
