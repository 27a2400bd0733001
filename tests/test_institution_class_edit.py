"""Creating and editing classes (班期), one set of rules for the pages and the partner API
(vouchers/classes.py): sessions typed one per line, each bad line named; a lesson counts no more
hours than it lasts, lessons do not overlap, a class has at most MAX_LESSONS of them; sites from the
institution's own; once a voucher was used for the class, what it was verified against (project,
occupation, level) and what its subsidy is measured by (fee, end date, total hours, delivery) stay
as they were; after the first check-in the lessons stay but other edits (a new name) are saved; a
cancelled class is not edited, on a Chinese 409 page; enrolment is opened and closed by the officer
only, and not opened again once the class's end date has passed."""
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.institution.forms import parse_sessions
from h5app.models import AuditEvent, CheckIn, ClassSession, Site, TrainingClass
from h5app.models.classes import CLASS_CANCELLED, CLASS_CLOSED, CLASS_COMPLETED, CLASS_OPEN
from h5app.models.vouchers import CLAIMED, SETTLED, USED
from h5app.timeutil import local_at, local_today, to_local, utcnow
from h5app.vouchers import classes
from h5app.vouchers.errors import InvalidTransition, ValidationFailed

from . import factories as f
from .api_support import CLASS, auth, key_for
from .auth_support import signed_in_staff, staff_sign_in, text_of
from .page_support import assert_chinese_conflict_page, form_data


@pytest.fixture
def officer(client):
    return signed_in_staff(client, "officer")


def test_an_optional_number_left_blank_is_no_error(client, officer):
    """A browser sends the empty 名额 field as "": Optional() judges it, not the number's reading."""
    response = client.post("/institution/classes/new", data=form_data(officer, capacity=""))
    assert response.status_code == 302 and db.session.scalar(select(TrainingClass)).capacity is None


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


# --- editing a class ---------------------------------------------------------------------------------

def upcoming_class(institution, **values) -> TrainingClass:
    """A class starting tomorrow: two lessons of 4 hours, 08:00–12:00 on its first two days."""
    return f.training_class(institution, starts_on=local_today() + timedelta(days=1), **values)


def use_vouchers(training_class, status=USED, count=2) -> None:
    template = f.template()
    for _ in range(count):
        f.voucher(template, f.person(), status=status, class_id=training_class.id,
                  institution_id=training_class.institution_id, used_at=utcnow())


def lessons_of(training_class) -> list[tuple]:
    return [(s.starts_at, s.ends_at, s.hours) for s in training_class.sessions]


def values_of(training_class, **changes) -> dict:
    """The class's editable values as they stand, with `changes`."""
    return {name: getattr(training_class, name) for name in classes.EDITABLE} | changes


def lines_of(training_class) -> str:
    """The lessons as the edit page shows them."""
    return "\n".join(f"{to_local(s.starts_at):%Y-%m-%d %H:%M}-{to_local(s.ends_at):%H:%M} {s.hours}"
                     for s in training_class.sessions)


def edit_form(officer, training_class, **changes) -> dict:
    """The edit page posted with the class as it stands, but for `changes`."""
    return form_data(officer, **{"starts_on": str(training_class.starts_on), "ends_on": str(training_class.ends_on),
                                 "price": str(training_class.price_fen / 100), "sessions": lines_of(training_class),
                                 **changes})


def edit(client, training_class, data):
    return client.post(f"/institution/classes/{training_class.id}/edit", data=data)


# --- once a voucher was used, what it was verified against and its subsidy stay ----------------------

def test_the_walk_through_edit_of_a_class_with_used_vouchers_is_refused_field_by_field(client, officer):
    training_class = upcoming_class(officer.institution)
    use_vouchers(training_class)
    db.session.commit()

    response = edit(client, training_class, edit_form(officer, training_class, project_type="domestic_service",
                                                      occupation="育婴员", price="99999"))

    page = text_of(response)
    assert response.status_code == 400
    for message in ("培训项目不能再修改：培训券是否适用于本班期按培训项目核定",
                    "职业（工种）不能再修改：培训券是否适用于本班期按职业（工种）核定",
                    "培训费不能再修改：补贴按实际培训费封顶"):
        assert "已有学员持培训券参加本班期，" + message in page
    db.session.expire_all()
    kept = db.session.get(TrainingClass, training_class.id)
    assert (kept.project_type, kept.occupation, kept.price_fen) == ("employment_skills", "电工", 300000)


def test_the_price_refusal_is_shown_on_the_price_field(client, officer):
    training_class = upcoming_class(officer.institution)
    use_vouchers(training_class)
    db.session.commit()
    page = text_of(edit(client, training_class, edit_form(officer, training_class, price="99999")))
    assert 'id="price-error">已有学员持培训券参加本班期，培训费不能再修改' in page


@pytest.mark.parametrize("field, change", [
    ("project_type", {"project_type": "domestic_service"}),
    ("occupation", {"occupation": "育婴员"}),
    ("level", {"level": None}),
    ("price_fen", {"price_fen": 9999900}),
    ("ends_on", {"ends_on": "later"}),
    ("delivery", {"delivery": "online"}),
    ("hours", {}),  # a third lesson
])
@pytest.mark.parametrize("status", [USED, SETTLED])
def test_once_a_voucher_is_used_the_fields_deciding_it_and_its_subsidy_stay(session, field, change, status):
    training_class = upcoming_class(f.institution())
    use_vouchers(training_class, status, count=1)
    session.commit()
    if change.get("ends_on") == "later":
        change = {"ends_on": training_class.ends_on + timedelta(days=1)}
    lessons = lessons_of(training_class)
    if field == "hours":
        third = local_at(training_class.starts_on + timedelta(days=2), time(8))
        lessons.append((third, third + timedelta(hours=4), 4))

    with pytest.raises(ValidationFailed) as refused:
        classes.update_class(session, training_class, values_of(training_class, **change), lessons,
                             f.institution_actor(training_class.institution))

    assert set(refused.value.details["fields"]) == {field}
    assert refused.value.details["fields"][field].startswith("已有学员持培训券参加本班期，")
    session.expire_all()
    assert len(session.get(TrainingClass, training_class.id).sessions) == 2


def test_with_a_voucher_used_other_edits_and_rescheduled_lessons_of_the_same_hours_are_saved(session):
    training_class = upcoming_class(f.institution())
    use_vouchers(training_class)
    session.commit()
    moved = local_at(training_class.starts_on + timedelta(days=3), time(13))
    lessons = [lessons_of(training_class)[0], (moved, moved + timedelta(hours=4), 4)]

    classes.update_class(session, training_class,
                         values_of(training_class, course_name="电工培训（周末班）", capacity=40, description="实操为主"),
                         lessons, f.institution_actor(training_class.institution))

    session.expire_all()
    saved = session.get(TrainingClass, training_class.id)
    assert (saved.course_name, saved.capacity, saved.description) == ("电工培训（周末班）", 40, "实操为主")
    assert [s.starts_at for s in saved.sessions][1] == moved and float(saved.hours) == 8


def test_an_open_class_keeps_at_least_one_lesson(session):
    training_class = upcoming_class(f.institution())
    training_class.status = "open"
    session.commit()

    with pytest.raises(ValidationFailed) as refused:
        classes.update_class(session, training_class, values_of(training_class), [],
                             f.institution_actor(training_class.institution))

    assert refused.value.details["fields"]["sessions"].startswith("班期已开放报名，至少要保留一次课")
    session.expire_all()
    assert len(session.get(TrainingClass, training_class.id).sessions) == 2


def test_a_voucher_not_used_for_the_class_leaves_its_fields_free(session):
    training_class = upcoming_class(f.institution())
    use_vouchers(training_class, CLAIMED, count=1)
    elsewhere = upcoming_class(training_class.institution)
    use_vouchers(elsewhere)  # used, but for another class
    session.commit()

    classes.update_class(session, training_class, values_of(training_class, occupation="育婴员", price_fen=99900),
                         lessons_of(training_class), f.institution_actor(training_class.institution))

    session.expire_all()
    assert session.get(TrainingClass, training_class.id).occupation == "育婴员"


def test_the_edit_page_says_which_fields_stay_once_vouchers_were_used(client, officer):
    training_class = upcoming_class(officer.institution)
    use_vouchers(training_class)
    db.session.commit()
    page = text_of(client.get(f"/institution/classes/{training_class.id}/edit"))
    assert "已有学员持培训券参加本班期：培训项目、职业（工种）、等级、培训费、结业日期、总课时、培训方式不能再修改" in page


def test_the_api_refuses_a_new_fee_once_a_voucher_was_used(client, session):
    school = f.institution()
    session.commit()
    key = auth(key_for("institution", school.code))
    class_id = client.post("/api/v1/classes", json=CLASS, headers=key).get_json()["id"]
    use_vouchers(session.get(TrainingClass, class_id))
    session.commit()

    response = client.put(f"/api/v1/classes/{class_id}", json={**CLASS, "price_fen": 9999900}, headers=key)

    assert response.status_code == 422
    assert "培训费不能再修改" in response.get_json()["error"]["fields"]["price_fen"]


# --- lessons: no more hours than they last, no overlaps, not too many -------------------------------

def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 12, day, hour, minute)


CHECKED = {"project_type": "employment_skills"}


@pytest.mark.parametrize("lessons, field, message", [
    ([(at(20, 1), at(20, 1, 30), 12)], "sessions.0.hours", "第1次课的课时12小时超过上课时长0.5小时"),
    ([(at(20, 1), at(20, 4), 3), (at(20, 1), at(20, 4), 3)], "sessions.1.starts_at", "第2次课与第1次课重复"),
    ([(at(20, 1), at(20, 4), 3), (at(21, 1), at(21, 3), 2), (at(20, 3), at(20, 5), 2)], "sessions.2.starts_at",
     "第3次课与第1次课的上课时间重叠"),
    ([(at(20, 3), at(20, 5), 2), (at(20, 1), at(20, 4), 3)], "sessions.1.starts_at",
     "第2次课与第1次课的上课时间重叠"),
])
def test_a_lesson_longer_in_hours_than_in_time_or_overlapping_another_is_named(lessons, field, message):
    assert classes.class_problems(CHECKED, lessons) == {field: message}


def test_a_lesson_may_count_exactly_its_time_in_fractional_hours_and_lessons_may_touch():
    lessons = [(at(20, 1), at(20, 1, 30), 0.5), (at(20, 1, 30), at(20, 3, 45), 2.25)]
    assert classes.class_problems(CHECKED, lessons) == {}


def test_a_class_has_at_most_200_lessons():
    lessons = [(at(1, 1) + timedelta(days=n), at(1, 2) + timedelta(days=n), 1) for n in range(201)]
    assert classes.MAX_LESSONS == 200
    assert classes.class_problems(CHECKED, lessons[:200]) == {}
    assert classes.class_problems(CHECKED, lessons) == {"sessions": "一个班期最多200次课，现填写了201次"}


@pytest.mark.parametrize("sessions, message", [
    ("2027-12-01 09:00-09:30 12", "第1行的课时12小时超过上课时长0.5小时"),
    ("2027-12-01 09:00-12:00\n\n2027-12-01 09:00-12:00", "第3行与第1行重复"),
    ("2027-12-01 09:00-12:00\n2027-12-01 11:00-13:00 2", "第2行与第1行的上课时间重叠"),
    ("\n".join(["2027-12-01 09:00-12:00 3"] * 2000), "一个班期最多200次课，现填写了2000次"),
])
def test_the_page_names_the_line_of_an_inflated_or_overlapping_lesson_and_creates_nothing(client, officer,
                                                                                        sessions, message):
    response = client.post("/institution/classes/new", data=form_data(officer, sessions=sessions))
    assert response.status_code == 400 and message in text_of(response)
    assert db.session.scalar(select(func.count(TrainingClass.id))) == 0


def test_hours_left_out_are_the_clock_time_in_tenths_rounded_down():
    parsed, errors = parse_sessions("2027-12-01 09:00-10:40\n2027-12-02 09:00-09:30")  # 1 h 40 min: not 1.7
    assert errors == [] and [p[3] for p in parsed] == [1.6, 0.5]


def test_the_api_refuses_a_half_hour_lesson_of_12_hours(client, session):
    school = f.institution()
    session.commit()
    lesson = {"starts_at": "2027-12-01T09:00:00+08:00", "ends_at": "2027-12-01T09:30:00+08:00", "hours": 12}
    response = client.post("/api/v1/classes", json={**CLASS, "sessions": [lesson]},
                           headers=auth(key_for("institution", school.code)))
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"sessions.0.hours": "第1次课的课时12小时超过上课时长0.5小时"}
    assert session.scalar(select(func.count(TrainingClass.id))) == 0


# --- no enrolment once the end date has passed ---------------------------------------------------

def ended(institution, **values) -> TrainingClass:
    today = local_today()
    return f.training_class(institution, starts_on=today - timedelta(days=10), ends_on=today - timedelta(days=1),
                            **{"status": CLASS_CLOSED, **values})


def test_enrolment_is_not_opened_after_the_end_date(session):
    training_class = ended(f.institution())
    session.commit()
    with pytest.raises(InvalidTransition) as refused:
        classes.set_enrolment_open(session, training_class, True, f.institution_actor(training_class.institution))
    assert f"结业日期（{training_class.ends_on:%Y-%m-%d}）已过，不能再开放报名" in refused.value.message
    session.expire_all()
    assert session.get(TrainingClass, training_class.id).status == CLASS_CLOSED
    assert session.scalar(select(func.count(AuditEvent.id))) == 0


def test_enrolment_still_closes_after_the_end_date_and_opens_on_it(session):
    late = ended(f.institution(), status=CLASS_OPEN)
    last_day = f.training_class(late.institution, starts_on=local_today(), ends_on=local_today(),
                                status=CLASS_CLOSED, sessions=1)
    session.commit()
    actor = f.institution_actor(late.institution)
    classes.set_enrolment_open(session, late, False, actor)
    classes.set_enrolment_open(session, last_day, True, actor)
    assert (late.status, last_day.status) == (CLASS_CLOSED, CLASS_OPEN)


def test_the_class_page_offers_no_opening_of_an_ended_class(client, officer):
    training_class = ended(officer.institution)
    db.session.commit()
    page = text_of(client.get(f"/institution/classes/{training_class.id}"))
    assert 'name="status" value="open"' not in page


@pytest.mark.parametrize("status, message", [(CLASS_CLOSED, "已过，不能再开放报名"), (CLASS_COMPLETED, "该班期已结业")])
def test_the_page_says_why_an_ended_class_is_not_opened(client, officer, status, message):
    training_class = ended(officer.institution, status=status)
    db.session.commit()
    response = client.post(f"/institution/classes/{training_class.id}/status", data={"status": "open"},
                           follow_redirects=True)
    assert response.status_code == 200 and message in text_of(response)
    db.session.expire_all()
    assert db.session.get(TrainingClass, training_class.id).status == status


# --- after the first check-in only the lessons stay, and a cancelled class stays as it is ---------

def attended_class(institution) -> TrainingClass:
    training_class = f.training_class(institution)
    worker = f.person()
    f.enrol(training_class, worker)
    f.check_in(training_class.sessions[0], worker)
    return training_class


def test_a_class_is_renamed_after_check_ins_and_its_lessons_and_attendance_stay(session):
    training_class = attended_class(f.institution())
    session.commit()
    lesson_ids = [s.id for s in training_class.sessions]

    classes.update_class(session, training_class, values_of(training_class, course_name="低压电工（夜班）"),
                         list(reversed(lessons_of(training_class))), f.institution_actor(training_class.institution))

    session.expire_all()
    saved = session.get(TrainingClass, training_class.id)
    assert saved.course_name == "低压电工（夜班）" and [s.id for s in saved.sessions] == lesson_ids
    assert session.scalar(select(func.count(CheckIn.id))) == 1


def test_the_edit_page_renames_an_attended_class(client, officer):
    training_class = attended_class(officer.institution)
    db.session.commit()
    assert "已有学员签到：课次不能再修改，其他内容可以修改" in text_of(
        client.get(f"/institution/classes/{training_class.id}/edit"))

    response = edit(client, training_class, edit_form(officer, training_class, course_name="低压电工（夜班）"))

    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(TrainingClass, training_class.id).course_name == "低压电工（夜班）"


def test_changing_the_lessons_of_an_attended_class_is_refused_saying_only_the_lessons_stay(client, officer):
    training_class = attended_class(officer.institution)
    db.session.commit()
    shorter = lines_of(training_class).replace("12:00 4.0", "11:00 3", 1)

    response = edit(client, training_class, edit_form(officer, training_class, course_name="改名", sessions=shorter))

    assert response.status_code == 400
    assert "已有学员签到，课次（日期、时间、课时和上课地点）不能再修改，其他内容可以修改" in text_of(response)
    db.session.expire_all()
    assert db.session.get(TrainingClass, training_class.id).course_name == "电工培训"


def test_moving_an_attended_class_away_from_its_lessons_site_is_refused(session):
    training_class = attended_class(f.institution())
    elsewhere = Site(institution_id=training_class.institution_id, name="分部", lat=30.1, lng=120.6, radius_m=300)
    session.add(elsewhere)
    session.commit()

    with pytest.raises(ValidationFailed) as refused:
        classes.update_class(session, training_class, values_of(training_class), lessons_of(training_class),
                             f.institution_actor(training_class.institution), site_ids=[elsewhere.id])

    assert "上课地点" in refused.value.details["fields"]["sessions"]
    session.expire_all()
    assert {s.site_id for s in session.scalars(select(ClassSession))} == {training_class.institution.sites[0].id}


def test_editing_a_cancelled_class_shows_a_chinese_page(client):
    cls = f.training_class(status=CLASS_CANCELLED, cancelled_at=utcnow())
    officer = f.staff("officer", institution_id=cls.institution_id)
    db.session.commit()
    staff_sign_in(client, officer)
    assert_chinese_conflict_page(client.get(f"/institution/classes/{cls.id}/edit"))
