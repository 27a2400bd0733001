"""签退 on the worker's phone is a confirm step, never a second tap on 定位签到: 打卡签到 offers it as
a link to a page that names the class and the lesson, the time present so far and that after 签退
the lesson takes no 签到 again. A 签退 minutes after the 签到 (by location or by the classroom's
签退码) asks the worker to tick that it is early; a post without the tick changes nothing. (The
engine's side is in test_engine_checkout.py.)"""
from h5app.vouchers import qrtoken

from .lifecycle_support import SITE, checked_in, classroom_code, state, the_record
from .lifecycle_support import lesson_begun, phone  # noqa: F401  (fixtures: a lesson under way, its trainee's phone)
from .page_support import visible


def test_after_checking_in_the_checkin_page_offers_checkout_only_as_a_step_to_a_confirm_page(phone, lesson_begun):
    class_session, worker, _ = lesson_begun
    phone.post(f"/worker/checkin/{class_session.id}", data=SITE)

    page = phone.get("/worker/checkin").get_data(as_text=True)

    assert f'method="get" action="/worker/checkout/{class_session.id}"' in page
    assert f'method="post" action="/worker/checkout/{class_session.id}"' not in page
    assert the_record(class_session, worker).checked_out_at is None


def test_the_checkout_confirm_page_names_the_lesson_and_says_the_checkout_is_final(phone, lesson_begun):
    class_session, worker, _ = lesson_begun
    checked_in(class_session, worker, minutes_ago=25)
    before = state()

    response = phone.get(f"/worker/checkout/{class_session.id}")

    shown = visible(response)
    assert response.status_code == 200
    assert class_session.training_class.course_name in shown and "第1次课" in shown
    assert "到现在在场25分钟" in shown and "签退后本次课不能再签到" in shown and "确认定位签退" in shown
    assert "我确认提前签退" not in shown  # 25 minutes in: no early warning
    assert state() == before


def test_the_checkout_confirm_page_of_a_lesson_not_checked_in_refuses_at_once(phone, lesson_begun):
    class_session, _, _ = lesson_begun

    response = phone.get(f"/worker/checkout/{class_session.id}", follow_redirects=True)

    assert "还没有签到，请先签到" in visible(response) and "确认定位签退" not in visible(response)


# --- an early 签退 ----------------------------------------------------------------------------------

def test_the_page_warns_of_an_early_checkout_and_a_post_without_the_checkbox_changes_nothing(phone, lesson_begun):
    class_session, worker, _ = lesson_begun
    phone.post(f"/worker/checkin/{class_session.id}", data=SITE)
    before = state()

    confirm = visible(phone.get(f"/worker/checkout/{class_session.id}"))
    refused = visible(phone.post(f"/worker/checkout/{class_session.id}", data=SITE, follow_redirects=True))

    assert "您刚签到不久，现在签退本次只在场0分钟" in confirm and "我确认提前签退" in confirm
    assert 'name="early" required' in phone.get(f"/worker/checkout/{class_session.id}").get_data(as_text=True)
    assert "到现在只在场0分钟" in refused and "签退成功" not in refused
    assert state() == before


def test_the_page_checks_out_early_when_the_worker_ticks_the_confirmation(phone, lesson_begun):
    class_session, worker, _ = lesson_begun
    phone.post(f"/worker/checkin/{class_session.id}", data=SITE)

    done = visible(phone.post(f"/worker/checkout/{class_session.id}", data={**SITE, "early": "y"},
                              follow_redirects=True))

    assert "签退成功，本次在场" in done
    assert the_record(class_session, worker).checkout_method == "location"


def test_an_early_checkout_by_the_classroom_code_needs_the_confirmation_too(phone, lesson_begun):
    class_session, worker, _ = lesson_begun
    checked_in(class_session, worker, minutes_ago=1, method="session_qr")
    code = classroom_code(class_session, qrtoken.KIND_SESSION_OUT)

    confirm = visible(phone.get(f"/worker/checkout/scan/{code}"))
    phone.post(f"/worker/checkout/scan/{code}")
    assert the_record(class_session, worker).checked_out_at is None
    phone.post(f"/worker/checkout/scan/{code}", data={"early": "y"})

    assert "我确认提前签退" in confirm and class_session.training_class.course_name in confirm
    assert the_record(class_session, worker).checkout_method == "session_qr"
