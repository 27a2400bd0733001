"""After the training: results and trainee ratings, 结业, and the settlement application with each
line's eligibility — offered only once the class is completed, then shown in place of the vouchers
it claims, a rejected line offered again beside it and the rejection shown with its reasons; all
within the institution's own classes."""
import re

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import AttendanceCorrection, ExamResult, Settlement, TraineeRating
from h5app.models.classes import CLASS_COMPLETED
from h5app.timeutil import utcnow

from . import factories as f
from .auth_support import staff_sign_in
from .page_support import visible
from .settlement_support import rejected_application
from .settlement_support import running  # noqa: F401  (fixture: a class still running)


@pytest.fixture
def finished(client):
    # Its lessons are over: 结业 is refused while one is running or to come (test_class_completion.py).
    training_class = f.training_class(sessions=2, course_name="育婴员培训", starts_on=f.days_ago(10),
                                      ends_on=f.days_ago(5))
    officer = f.staff("officer", institution_id=training_class.institution_id)
    good, weak = f.person(name="陈小燕"), f.person(name="孙丽")
    template = f.template()
    vouchers = []
    for person, attended in ((good, 2), (weak, 0)):
        f.enrol(training_class, person)
        vouchers.append(f.voucher(template, person, "used", used_at=utcnow(), class_id=training_class.id,
                                  institution_id=training_class.institution_id))
        for lesson in training_class.sessions[:attended]:
            f.check_in(lesson, person)
    db.session.commit()
    staff_sign_in(client, officer)
    return training_class, good, weak, vouchers


def test_results_and_trainee_ratings_are_saved(client, finished):
    training_class, good, weak, _ = finished
    response = client.post(f"/institution/classes/{training_class.id}/results",
                           data={f"result-{good.id}": "pass", f"result-{weak.id}": "fail", f"stars-{good.id}": "5"})
    assert response.status_code == 302
    assert {(r.person_id, r.passed) for r in db.session.scalars(select(ExamResult))} == {(good.id, True), (weak.id, False)}
    [rating] = db.session.scalars(select(TraineeRating)).all()
    assert (rating.person_id, rating.stars) == (good.id, 5)


def test_a_result_or_rating_given_by_mistake_is_taken_back(client, finished):
    """尚未考核 and 不评价 said 已保存 and kept what was there: a slip could not be undone."""
    training_class, good, weak, _ = finished
    path = f"/institution/classes/{training_class.id}/results"
    client.post(path, data={f"result-{good.id}": "pass", f"result-{weak.id}": "fail", f"stars-{good.id}": "5"})

    response = client.post(path, data={f"result-{good.id}": "", f"shown_result-{good.id}": "pass",
                                       f"result-{weak.id}": "fail", f"shown_result-{weak.id}": "fail",
                                       f"stars-{good.id}": "", f"shown_stars-{good.id}": "5"})

    assert response.status_code == 302
    assert {(r.person_id, r.passed) for r in db.session.scalars(select(ExamResult))} == {(weak.id, False)}
    assert db.session.scalar(select(func.count(TraineeRating.id))) == 0
    page = client.get(path).get_data(as_text=True)
    assert re.search(rf'name="result-{good.id}" value="" checked', page)


def test_after_completion_results_stay_as_they_were_and_ratings_may_change(client, finished):
    """Settlements are judged, and paid, on the results 结业 fixed."""
    training_class, good, weak, _ = finished
    path = f"/institution/classes/{training_class.id}/results"
    client.post(path, data={f"result-{good.id}": "pass", f"result-{weak.id}": "fail"})
    client.post(f"/institution/classes/{training_class.id}/complete")

    page = client.get(path).get_data(as_text=True)
    response = client.post(path, data={f"result-{good.id}": "fail", f"stars-{good.id}": "4"})

    assert "考核结果不能再修改" in page and f'name="result-{good.id}" value="pass" checked disabled' in page
    assert response.status_code == 302
    assert {(r.person_id, r.passed) for r in db.session.scalars(select(ExamResult))} == {(good.id, True), (weak.id, False)}
    assert [r.stars for r in db.session.scalars(select(TraineeRating))] == [4]


def test_a_page_drawn_before_a_result_came_in_clears_nothing(client, finished):
    """The page showed no result (none yet); one came in by the API meanwhile: saving keeps it."""
    training_class, good, weak, _ = finished
    path = f"/institution/classes/{training_class.id}/results"
    form = client.get(path).get_data(as_text=True)
    assert f'name="shown_result-{good.id}" value=""' in form
    f.exam_result(training_class, good, True)
    db.session.commit()

    client.post(path, data={f"result-{good.id}": "", f"shown_result-{good.id}": "",
                            f"result-{weak.id}": "fail", f"shown_result-{weak.id}": ""})

    assert {(r.person_id, r.passed) for r in db.session.scalars(select(ExamResult))} == {(good.id, True), (weak.id, False)}


def test_tampered_results_are_refused_and_nothing_saved(client, finished):
    training_class, good, _, _ = finished
    response = client.post(f"/institution/classes/{training_class.id}/results",
                           data={f"result-{good.id}": "maybe", f"stars-{good.id}": "9"})
    assert response.status_code == 400 and "有误" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(ExamResult.id))) == 0


def test_settlement_preview_shows_each_lines_eligibility_then_submits(client, finished):
    training_class, good, weak, vouchers = finished
    client.post(f"/institution/classes/{training_class.id}/results",
                data={f"result-{good.id}": "pass", f"result-{weak.id}": "pass"})
    client.post(f"/institution/classes/{training_class.id}/complete")  # 结业 first: then 结算
    page = client.get(f"/institution/classes/{training_class.id}/settlement").get_data(as_text=True)
    assert "100%" in page and "不符合：打卡率0.0%，低于60%" in page
    response = client.post(f"/institution/classes/{training_class.id}/settlement", data={"codes": ""})
    settlement = db.session.scalar(select(Settlement))
    assert response.headers["Location"].endswith(f"/institution/settlements/{settlement.id}")
    assert (settlement.status, len(settlement.lines)) == ("submitted", 2)
    detail = visible(client.get(f"/institution/settlements/{settlement.id}"))
    assert "待审核" in detail and "育婴员培训" in detail
    amount = next(line.amount_fen for line in settlement.lines if line.eligible)
    assert f"申请 2 张券，其中符合条件 1 张，申请金额 ¥{amount / 100:,.2f}" in detail
    assert "审核通过金额：" not in detail  # nothing is approved yet: no ¥0.00 to alarm the officer


def test_the_application_page_totals_what_it_will_ask_for_and_warns_of_waiting_corrections(client, finished):
    training_class, good, weak, _ = finished
    client.post(f"/institution/classes/{training_class.id}/results",
                data={f"result-{good.id}": "pass", f"result-{weak.id}": "pass"})
    client.post(f"/institution/classes/{training_class.id}/complete")
    db.session.add(AttendanceCorrection(
        session_id=training_class.sessions[0].id, class_id=training_class.id, person_id=weak.id,
        institution_id=training_class.institution_id, region_code="330602", reason="纸质签到表有签名",
        status="pending", requested_by="机构专员", created_at=utcnow()))
    db.session.commit()

    page = client.get(f"/institution/classes/{training_class.id}/settlement").get_data(as_text=True)

    assert re.search(r"合计</th><td[^>]*>2张，符合条件 1 张</td><td class=\"num\">¥[\d,.]+</td>", page)
    assert "本班期还有 1 条补签申请等待人社部门审核" in page
    assert re.search(r'data-confirm="确定提交结算申请吗？[^"]*全部 2 张券（符合条件 1 张[^"]*还有 1 条补签未审核', page)


def test_settlement_with_bad_codes_lists_each_and_makes_nothing(client, finished):
    training_class, *_ = finished
    client.post(f"/institution/classes/{training_class.id}/complete")  # 结业 first: then 结算
    response = client.post(f"/institution/classes/{training_class.id}/settlement", data={"codes": "NOPE1\nNOPE2"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "第1个 NOPE1" in page and "第2个 NOPE2" in page
    assert db.session.scalar(select(func.count(Settlement.id))) == 0


def test_settlement_of_some_vouchers_takes_the_tails_the_page_shows(client, finished):
    training_class, _good, _weak, (voucher, *_others) = finished
    client.post(f"/institution/classes/{training_class.id}/complete")
    tail = "…" + voucher.code[-4:]
    assert tail in client.get(f"/institution/classes/{training_class.id}/settlement").get_data(as_text=True)
    client.post(f"/institution/classes/{training_class.id}/settlement", data={"codes": tail.lower()})
    settlement = db.session.scalar(select(Settlement))
    assert [line.voucher_id for line in settlement.lines] == [voucher.id]


def test_completing_a_class_once(client, finished):
    training_class, *_ = finished
    client.post(f"/institution/classes/{training_class.id}/complete")
    db.session.refresh(training_class)
    assert training_class.status == "completed"
    again = client.post(f"/institution/classes/{training_class.id}/complete")
    assert again.status_code == 409 and "该班期已结业" in again.get_data(as_text=True)


def test_another_institutions_class_and_settlement_are_404(client, finished):
    other_class = f.training_class()
    other = Settlement(institution_id=other_class.institution_id, region_code="330600", status="submitted")
    db.session.add(other)
    db.session.commit()
    assert client.get(f"/institution/classes/{other_class.id}/results").status_code == 404
    assert client.get(f"/institution/classes/{other_class.id}/settlement").status_code == 404
    assert client.post(f"/institution/classes/{other_class.id}/complete").status_code == 404
    assert client.get(f"/institution/settlements/{other.id}").status_code == 404


# --- no settlement before 结业; one whose every line was rejected ----------------------------------

def test_the_page_offers_no_application_before_completion_and_refuses_one_posted(client, running):
    cls, _voucher, officer = running
    staff_sign_in(client, officer)
    page = client.get(f"/institution/classes/{cls.id}/settlement").get_data(as_text=True)
    assert "提交结算申请" not in page and "班期结业后才能申请结算" in page
    assert f'href="/institution/classes/{cls.id}/complete"' in page

    response = client.post(f"/institution/classes/{cls.id}/settlement", data={"codes": ""})

    assert response.status_code == 400 and "班期结业后才能申请结算" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Settlement.id))) == 0


def test_after_applying_the_page_shows_the_application_instead_of_the_same_vouchers(client, running):
    cls, voucher, officer = running
    cls.status = CLASS_COMPLETED
    db.session.commit()
    staff_sign_in(client, officer)
    before = client.get(f"/institution/classes/{cls.id}/settlement").get_data(as_text=True)
    assert "提交结算申请" in before and voucher.code[-4:] in before
    made = client.post(f"/institution/classes/{cls.id}/settlement", data={"codes": ""})
    settlement_id = db.session.scalar(select(Settlement.id))
    assert made.headers["Location"].endswith(f"/institution/settlements/{settlement_id}")

    after = client.get(f"/institution/classes/{cls.id}/settlement").get_data(as_text=True)

    assert f'href="/institution/settlements/{settlement_id}"' in after and f"申请 #{settlement_id}" in after
    assert "待审核" in after and "均已申请结算" in after
    assert "提交结算申请" not in after and f"…{voucher.code[-4:]}</td>" not in after


def test_the_institution_sees_it_rejected_and_why(client):
    """An application whose every line was rejected is 已驳回, not 已拨付."""
    made, _vouchers, cls = rejected_application()
    officer = f.staff("officer", institution_id=cls.institution_id)
    db.session.commit()
    staff_sign_in(client, officer)
    listing = client.get("/institution/settlements").get_data(as_text=True)
    detail = client.get(f"/institution/settlements/{made.id}").get_data(as_text=True)
    assert '<span class="badge">已驳回</span>' in listing and '<span class="badge">已拨付</span>' not in listing
    assert "已驳回" in detail and "已全部驳回" in detail and "打卡率不足，未参加考核" in detail


def test_a_rejected_line_is_offered_again_beside_its_application(client):
    made, vouchers, cls = rejected_application()
    officer = f.staff("officer", institution_id=cls.institution_id)
    db.session.commit()
    staff_sign_in(client, officer)
    page = client.get(f"/institution/classes/{cls.id}/settlement").get_data(as_text=True)
    assert f"申请 #{made.id}" in page and "已驳回" in page
    assert "提交结算申请" in page and all(f"…{v.code[-4:]}</td>" in page for v in vouchers)
