"""Issue 20, rough edges of the worker pages: the voucher page shown at the front desk sends only
the masked ID number (the full one on the worker's own request, not cached), a voucher or class
whose training is over no longer asks for the QR or a check-in, 培训评价 can be found from 我的,
and the worker home has a title of its own. What only a browser sees (font sizes, tap targets,
the scan button hiding) is in tests/e2e/test_page_rough_edges_browser.py."""
import re
from datetime import timedelta

import pytest

from h5app.extensions import db
from h5app.identity import mask_id_number
from h5app.timeutil import utcnow

from . import factories as f
from .auth_support import sign_in, signed_in_worker, text_of


@pytest.fixture
def worker(client):
    return signed_in_worker(client, name="王建国")


def _claimed(person, **values):
    voucher = f.voucher(f.template(name="就业技能培训券"), person, "claimed",
                        expires_at=utcnow() + timedelta(days=10), **values)
    db.session.commit()
    return voucher


# 1. The ID number on the voucher page -------------------------------------------------------

def test_voucher_page_sends_only_the_masked_id_number(client, worker):
    voucher = _claimed(worker)
    page = text_of(client.get(f"/worker/vouchers/{voucher.code}"))
    assert mask_id_number(worker.id_number) in page
    assert worker.id_number not in page
    assert "王建国" not in page  # the masked name too: 王*国
    assert f"/worker/vouchers/{voucher.code}/holder" in page  # the way to ask for it


def test_full_id_number_is_sent_on_the_workers_request_and_not_cached(client, worker):
    voucher = _claimed(worker)
    response = client.post(f"/worker/vouchers/{voucher.code}/holder")
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    page = text_of(response)
    assert worker.id_number in page and "王建国" in page
    assert f'href="/worker/vouchers/{voucher.code}"' in page  # back to the voucher


def test_full_id_number_is_not_sent_on_a_get(client, worker):
    voucher = _claimed(worker)
    assert client.get(f"/worker/vouchers/{voucher.code}/holder").status_code == 405


def test_full_id_number_is_not_sent_for_someone_elses_voucher(client, worker):
    other = f.person(name="李秀英")
    voucher = _claimed(other)
    response = client.post(f"/worker/vouchers/{voucher.code}/holder")
    assert response.status_code == 404
    assert other.id_number not in text_of(response)


def test_full_id_number_needs_the_csrf_token(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        person = f.person()
        voucher = _claimed(person)
        id_number, code = person.id_number, voucher.code
        sign_in(client, person)
        page = text_of(client.get(f"/worker/vouchers/{code}"))
        token = re.search(r'action="/worker/vouchers/\w+/holder".*?name="csrf_token" value="([^"]+)"', page, re.S)
        assert token, "the reveal form carries its CSRF token"
        refused = client.post(f"/worker/vouchers/{code}/holder")
        assert refused.status_code == 400 and id_number not in text_of(refused)
        shown = client.post(f"/worker/vouchers/{code}/holder", data={"csrf_token": token.group(1)})
        assert shown.status_code == 200 and id_number in text_of(shown)


# 3. Training over: no QR to show, no check-in to make ----------------------------------------

def test_used_voucher_of_a_completed_class_shows_no_qr(client, worker):
    training_class = f.training_class(status="completed", completed_at=utcnow())
    voucher = _claimed(worker)
    voucher.status, voucher.used_at = "used", utcnow() - timedelta(days=20)
    voucher.class_id, voucher.institution_id = training_class.id, training_class.institution_id
    db.session.commit()
    page = text_of(client.get(f"/worker/vouchers/{voucher.code}"))
    assert 'id="live-qr"' not in page and "出示" not in page and "live-qr." not in page
    assert "已结业" in page
    assert client.get(f"/worker/vouchers/{voucher.code}/qr.json").status_code == 409


def test_used_voucher_of_a_running_class_still_shows_its_qr_for_check_in(client, worker):
    training_class = f.training_class(status="closed")
    voucher = _claimed(worker)
    voucher.status, voucher.used_at = "used", utcnow()
    voucher.class_id, voucher.institution_id = training_class.id, training_class.institution_id
    db.session.commit()
    assert 'id="live-qr"' in text_of(client.get(f"/worker/vouchers/{voucher.code}"))
    assert client.get(f"/worker/vouchers/{voucher.code}/qr.json").status_code == 200


def _enrolled_with_voucher(worker, class_status, voucher_status):
    training_class = f.training_class(course_name="低压电工作业培训", status=class_status)
    voucher = _claimed(worker)
    voucher.status = voucher_status
    if voucher_status != "claimed":
        voucher.class_id, voucher.institution_id = training_class.id, training_class.institution_id
    f.enrol(training_class, worker, voucher_id=voucher.id, source="self")
    db.session.commit()
    return training_class


@pytest.mark.parametrize("class_status, voucher_status", [("completed", "settled"), ("completed", "used")])
def test_class_page_of_a_finished_training_asks_for_no_qr_and_no_check_in(client, worker, class_status,
                                                                         voucher_status):
    training_class = _enrolled_with_voucher(worker, class_status, voucher_status)
    page = text_of(client.get(f"/worker/classes/{training_class.id}"))
    assert "您已报名本班期" in page
    assert "二维码" not in page
    assert 'href="/worker/checkin"' not in page and "打卡签到</a>" not in page
    assert "培训评价" in page  # what there is left to do


def test_class_page_of_a_running_class_still_asks_for_the_qr_and_check_in(client, worker):
    training_class = _enrolled_with_voucher(worker, "open", "claimed")
    page = text_of(client.get(f"/worker/classes/{training_class.id}"))
    assert "出示培训券二维码" in page and 'href="/worker/checkin"' in page


def test_class_page_does_not_ask_to_verify_a_voucher_already_verified(client, worker):
    training_class = _enrolled_with_voucher(worker, "closed", "used")
    page = text_of(client.get(f"/worker/classes/{training_class.id}"))
    assert "出示培训券二维码验券" not in page and 'href="/worker/checkin"' in page


# 3. 培训评价 from 我的 --------------------------------------------------------------------------

def test_me_links_to_training_ratings(client, worker):
    assert 'href="/worker/ratings"' in text_of(client.get("/worker/me"))


def test_ratings_page_lists_my_completed_classes_to_rate_and_those_rated(client, worker):
    from h5app.models import ClassRating

    to_rate = f.training_class(course_name="电工基础班", status="completed")
    rated = f.training_class(course_name="育婴员培训", status="completed")
    running = f.training_class(course_name="低压电工作业培训", status="open")
    not_mine = f.training_class(course_name="别人的班", status="completed")
    for training_class in (to_rate, rated, running):
        f.enrol(training_class, worker)
    db.session.add(ClassRating(class_id=rated.id, person_id=worker.id, stars=4, comment="不错"))
    db.session.commit()
    page = text_of(client.get("/worker/ratings"))
    assert "电工基础班" in page and f'href="/worker/classes/{to_rate.id}#rating"' in page
    assert "育婴员培训" in page and "4 星" in page
    assert "低压电工作业培训" in page and "结业后可评价" in page
    assert not_mine.course_name not in page
    assert '<title>培训评价' in page and 'aria-current="page">我的' in page


def test_ratings_page_says_so_when_there_is_nothing_to_rate(client, worker):
    page = text_of(client.get("/worker/ratings"))
    assert "您还没有报名班期" in page


def test_class_page_rating_form_is_the_ratings_link_target(client, worker):
    training_class = f.training_class(status="completed")
    f.enrol(training_class, worker)
    db.session.commit()
    assert 'id="rating"' in text_of(client.get(f"/worker/classes/{training_class.id}"))


# 3. The worker home's title ---------------------------------------------------------------------

def test_worker_home_has_its_own_title_not_that_of_me(client, worker):
    home = re.search(r"<title>(.*?)</title>", text_of(client.get("/worker/"))).group(1)
    me = re.search(r"<title>(.*?)</title>", text_of(client.get("/worker/me"))).group(1)
    assert home != me and not home.startswith("我的")
    assert home.startswith("首页")
