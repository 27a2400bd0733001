"""结业 (issue 19): refused while a lesson is running or still to come, and asked for on a page that
says what it will do — among others, that Wuxi's credential directed vouchers will be used and
applied for by themselves. A refusal changes nothing."""
from datetime import date, time, timedelta

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import AuditEvent, Settlement, TrainingClass
from h5app.models.classes import CLASS_COMPLETED, CLASS_OPEN
from h5app.timeutil import local_at, utcnow
from h5app.vouchers import completion, issuance, settlement
from h5app.vouchers.errors import ClassNotFinished
from tests import factories as f

from .auth_support import staff_sign_in

DAY = date(2026, 12, 1)  # the class's two lessons: 12-01 and 12-02, 08:00–12:00


def make_class(**values):
    return f.training_class(sessions=2, starts_on=DAY, ends_on=DAY + timedelta(days=3), **values)


def state(class_id):
    db.session.expire_all()
    row = db.session.get(TrainingClass, class_id)
    return row.status, row.completed_at, db.session.scalar(select(func.count(AuditEvent.id)))


@pytest.mark.parametrize("now, words", [
    (local_at(DAY + timedelta(days=1), time(9)), "第2次课（12-02 08:00–12:00）正在上课，下课后才能结业"),
    (local_at(DAY, time(13)), "第2次课（12-02 08:00–12:00）还没有上，全部课次结束后才能结业"),
    (local_at(DAY, time(7)), "第1次课（12-01 08:00–12:00）还没有上"),
])
def test_completion_is_refused_while_a_lesson_runs_or_is_to_come(session, now, words):
    training_class = make_class()
    session.commit()
    before = state(training_class.id)
    with pytest.raises(ClassNotFinished) as refused:
        settlement.complete_class(session, training_class, f.institution_actor(training_class.institution), now=now)
    assert refused.value.message.startswith(words)
    assert state(training_class.id) == before


def test_completion_is_accepted_once_the_last_lesson_is_over(session):
    training_class = make_class()
    session.commit()
    settlement.complete_class(session, training_class, f.institution_actor(training_class.institution),
                              now=local_at(DAY + timedelta(days=1), time(12)))
    assert training_class.status == CLASS_COMPLETED


def test_a_class_without_lessons_completes_from_its_end_date(session):
    training_class = f.training_class(sessions=0, starts_on=DAY, ends_on=DAY + timedelta(days=3))
    session.commit()
    assert completion.unfinished(training_class, local_at(DAY + timedelta(days=2), time(20))) == (
        "班期结业日期为 2026-12-04，到期后才能结业")
    assert completion.unfinished(training_class, local_at(DAY + timedelta(days=3), time(9))) is None


def test_a_class_never_approved_does_not_complete(session):
    training_class = make_class(status="pending_review")
    session.commit()
    with pytest.raises(ClassNotFinished, match="等待开班审核"):
        settlement.complete_class(session, training_class, f.institution_actor(training_class.institution),
                                  now=local_at(DAY + timedelta(days=9), time(9)))


# --- the page ------------------------------------------------------------------------------------

@pytest.fixture
def officer_client(client):
    def sign_in(training_class):
        officer = f.staff("officer", institution_id=training_class.institution_id)
        db.session.commit()
        staff_sign_in(client, officer)
        return client
    return sign_in


def test_the_page_refuses_while_todays_lesson_runs_and_the_post_changes_nothing(session, officer_client):
    today = f.days_ago(0)
    training_class = f.training_class(sessions=1, starts_on=today, ends_on=today)
    lesson = training_class.sessions[0]
    lesson.starts_at, lesson.ends_at = utcnow() - timedelta(hours=1), utcnow() + timedelta(hours=2)
    session.commit()
    client = officer_client(training_class)
    page = client.get(f"/institution/classes/{training_class.id}/complete").get_data(as_text=True)
    assert "现在还不能结业" in page and "正在上课，下课后才能结业" in page and "确认结业" not in page
    before = state(training_class.id)
    refused = client.post(f"/institution/classes/{training_class.id}/complete")
    assert refused.status_code == 409 and "正在上课" in refused.get_data(as_text=True)
    assert state(training_class.id) == before and before[0] == CLASS_OPEN


def test_the_page_says_what_will_happen_and_completes_on_confirmation(session, officer_client):
    training_class = f.training_class(sessions=2, starts_on=f.days_ago(10), ends_on=f.days_ago(5))
    for n in range(3):
        person = f.person()
        f.enrol(training_class, person)
        if n == 0:
            f.exam_result(training_class, person, True)
    session.commit()
    client = officer_client(training_class)
    class_page = client.get(f"/institution/classes/{training_class.id}").get_data(as_text=True)
    assert f'href="/institution/classes/{training_class.id}/complete"' in class_page  # a link to ask, not a POST
    page = client.get(f"/institution/classes/{training_class.id}/complete").get_data(as_text=True)
    assert "在册的 3 名学员记为结业" in page and "考核结果已录入 1/3 人" in page and "结业后不能撤销" in page
    assert "定向抵用券将随结业自动使用" not in page
    assert state(training_class.id)[0] == CLASS_OPEN  # asking changes nothing
    done = client.post(f"/institution/classes/{training_class.id}/complete", follow_redirects=True)
    assert "班期已结业" in done.get_data(as_text=True) and state(training_class.id)[0] == CLASS_COMPLETED
    assert client.get(f"/institution/classes/{training_class.id}/complete").status_code == 302


def test_wuxi_says_its_directed_credential_vouchers_will_settle_by_themselves(session, officer_client):
    f.region("320200", "无锡市", "wuxi")
    template = f.directed_template(policy_code="wuxi", region_code="320200", name="无锡定向抵用券")
    training_class = f.training_class(f.institution(region_code="320211"), sessions=2, starts_on=f.days_ago(10),
                                      ends_on=f.days_ago(5))
    workers = [f.person(region_code="320211") for _ in range(2)]
    for worker in workers:
        f.enrol(training_class, worker)
    session.commit()
    issuance.issue_directed(session, template, training_class, f.bureau_actor("320200"))
    client = officer_client(training_class)
    page = client.get(f"/institution/classes/{training_class.id}/complete").get_data(as_text=True)
    assert "本班 2 张定向抵用券将随结业自动使用，并由系统自动提交结算申请（自动核销）" in page
    done = client.post(f"/institution/classes/{training_class.id}/complete", follow_redirects=True)
    assert "2张定向抵用券已自动使用并提交结算" in done.get_data(as_text=True)
    assert session.scalar(select(func.count(Settlement.id))) == 1
    assert completion.preview(session, training_class).automatic == 0  # used now, none left to use
    assert template.claimed_count == 2
