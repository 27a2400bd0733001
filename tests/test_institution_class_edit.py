"""Creating and editing classes: sessions typed one per line, each bad line named; sites from the
institution's own; enrolment opened and closed by the officer only."""
import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.institution.forms import parse_sessions
from h5app.models import ClassSession, TrainingClass

from . import factories as f
from .auth_support import signed_in_staff, staff_sign_in
from .page_support import form_data


@pytest.fixture
def officer(client):
    return signed_in_staff(client, "officer")


def test_officer_creates_a_draft_class_with_sessions(client, officer):
    response = client.post("/institution/classes/new", data=form_data(officer))
    training_class = db.session.scalar(select(TrainingClass))
    assert response.status_code == 302 and training_class.status == "draft"
    assert (training_class.price_fen, float(training_class.hours), len(training_class.sessions)) == (120000, 6.0, 2)
    assert [float(s.hours) for s in training_class.sessions] == [3.0, 3.0]


def test_opening_and_closing_enrolment(client, officer):
    client.post("/institution/classes/new", data=form_data(officer))
    training_class = db.session.scalar(select(TrainingClass))
    client.post(f"/institution/classes/{training_class.id}/status", data={"status": "open"})
    db.session.refresh(training_class)
    assert training_class.status == "open"
    assert client.post(f"/institution/classes/{training_class.id}/status", data={"status": "completed"}
                       ).status_code == 400


@pytest.mark.parametrize("overrides,message", [
    ({"sessions": "明天上午"}, "第1行格式应为"),
    ({"sessions": "2027-12-01 12:00-09:00"}, "结束时间应晚于开始时间"),
    ({"sessions": "2026-02-30 09:00-12:00"}, "日期或时间不存在"),
    ({"sessions": "2027-12-20 09:00-12:00"}, "不在开班至结业日期之内"),
    ({"ends_on": "2027-11-01"}, "结业日期不能早于开班日期"),
    ({"sites": []}, "请至少选择一个培训地点"),
    ({"price": "-5"}, "培训费"),
    ({"course_name": ""}, "请填写课程名称"),
])
def test_bad_class_forms_say_what_is_wrong_and_create_nothing(client, officer, overrides, message):
    response = client.post("/institution/classes/new", data=form_data(officer, **overrides))
    assert response.status_code == 400
    assert db.session.scalar(select(func.count(TrainingClass.id))) == 0
    if message != "培训费":
        assert message in response.get_data(as_text=True)


def test_a_bad_class_form_lists_every_problem_at_the_top_linked_to_its_field(client, officer):
    response = client.post("/institution/classes/new", data=form_data(
        officer, course_name="", sites=[], sessions="2027-12-20 09:00-12:00"))
    page = response.get_data(as_text=True)
    summary = page[page.index("error-summary"):page.index("</div>", page.index("error-summary"))]
    assert "有 3 项需要修改" in summary
    for anchor, message in (("#course_name", "请填写课程名称"), ("#sites", "请至少选择一个培训地点"),
                            ("#sessions", "不在开班至结业日期之内")):
        assert f'href="{anchor}"' in summary and message in summary
    assert 'id="sites"' in page  # the summary's link has somewhere to go


def test_another_institutions_site_cannot_be_chosen(client, officer):
    other_site = f.institution().sites[0]
    db.session.commit()
    response = client.post("/institution/classes/new", data=form_data(officer, sites=[str(other_site.id)]))
    assert response.status_code == 400 and db.session.scalar(select(func.count(TrainingClass.id))) == 0


def test_editing_sessions_after_check_ins_is_refused(client, officer):
    training_class = f.training_class(officer.institution)
    worker = f.person()
    f.enrol(training_class, worker)
    f.check_in(training_class.sessions[0], worker)
    db.session.commit()
    data = form_data(officer, starts_on=str(training_class.starts_on), ends_on=str(training_class.ends_on),
                     sessions=f"{training_class.starts_on} 08:00-12:00")
    response = client.post(f"/institution/classes/{training_class.id}/edit", data=data)
    assert response.status_code == 400 and "已有学员签到" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(ClassSession.id))) == 2


def test_verifiers_cannot_create_classes_and_others_classes_are_404(client, officer):
    theirs = f.training_class()
    verifier = f.staff("verifier", institution_id=officer.institution_id)
    db.session.commit()
    assert client.get(f"/institution/classes/{theirs.id}/edit").status_code == 404
    staff_sign_in(client, verifier)
    assert client.get("/institution/classes/new").status_code == 403


def test_session_lines_parse_with_computed_hours():
    parsed, errors = parse_sessions("2027-12-01 09:00-11:30\n\n2027-12-02 13:00~17:00 4")
    assert errors == [] and [p[3] for p in parsed] == [2.5, 4.0]
