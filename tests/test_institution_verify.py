"""扫码验券 at the front desk: pick a class, scan (or type) the QR, see an unmistakable verdict with the
trainee's masked identity; other institutions' classes are not reachable."""
from datetime import timedelta

import pytest

from h5app.extensions import db
from h5app.models import Voucher
from h5app.timeutil import local_today, utcnow

from . import factories as f
from .auth_support import staff_sign_in
from .page_support import JSON


@pytest.fixture
def desk(client):
    institution = f.institution(name="绍兴市技师学院")
    training_class = f.training_class(institution, course_name="低压电工作业培训")
    verifier = f.staff("verifier", institution_id=institution.id)
    worker = f.person(name="王建国")
    voucher = f.voucher(f.template(name="就业技能培训券"), worker, "claimed",
                        expires_at=utcnow() + timedelta(days=10))
    db.session.commit()
    staff_sign_in(client, verifier)
    return training_class, voucher


def test_the_verify_page_lists_my_open_classes(client, desk):
    training_class, _ = desk
    f.training_class(course_name="别家的班")
    db.session.commit()
    page = client.get("/institution/verify").get_data(as_text=True)
    assert "低压电工作业培训" in page and "别家的班" not in page


def test_a_class_closed_to_enrolment_is_still_offered_to_the_desk_until_it_ends(client, desk):
    """截止报名 says those enrolled may still be verified: the desk must be able to pick the class."""
    training_class, _ = desk
    training_class.status = "closed"
    ended = f.training_class(training_class.institution, course_name="已结束的班", status="closed",
                             starts_on=local_today() - timedelta(days=20), ends_on=local_today() - timedelta(days=1))
    db.session.commit()

    page = client.get("/institution/verify").get_data(as_text=True)
    class_page = client.get(f"/institution/classes/{training_class.id}").get_data(as_text=True)
    ended_page = client.get(f"/institution/classes/{ended.id}").get_data(as_text=True)

    assert "低压电工作业培训" in page and "已结束的班" not in page
    assert "为本班扫码验券" in class_page and "为本班扫码验券" not in ended_page


def test_scanning_a_good_qr_verifies_and_shows_the_masked_trainee(client, desk):
    training_class, voucher = desk
    response = client.post("/institution/verify", headers=JSON,
                           data={"class_id": training_class.id, "qr": f.qr_for(voucher)})
    data = response.get_json()
    assert response.status_code == 200 and (data["result"], data["title"]) == ("verified", "验券成功")
    assert data["trainee"]["name"] == "王*国" and data["trainee"]["id_number"].count("*") == 10
    assert db.session.get(Voucher, voucher.id).status == "used"


def test_the_voucher_code_typed_in_is_told_to_scan_the_qr_instead(client, desk):
    """The camera failed and the desk typed the code printed under the QR: say why it cannot serve."""
    training_class, voucher = desk
    data = client.post("/institution/verify", headers=JSON,
                       data={"class_id": training_class.id, "qr": voucher.code}).get_json()
    assert data["code"] == "QR_INVALID"
    assert data["message"].startswith("这是培训券的券码，不能代替二维码：请让学员打开“我的卡券”")
    assert db.session.get(Voucher, voucher.id).status == "claimed"


def test_scanning_again_for_the_same_class_is_amber_and_changes_nothing(client, desk):
    training_class, voucher = desk
    client.post("/institution/verify", headers=JSON, data={"class_id": training_class.id, "qr": f.qr_for(voucher)})
    data = client.post("/institution/verify", headers=JSON,
                       data={"class_id": training_class.id, "qr": f.qr_for(voucher)}).get_json()
    assert (data["result"], data["tone"], data["title"]) == ("already_verified", "again", "已在本班验过")


@pytest.mark.parametrize("make_qr,code", [
    (lambda v: "NOT-A-QR", "QR_INVALID"),
    (lambda v: f.qr_for(v, f.epoch(utcnow()) - 61), "QR_EXPIRED"),
    (lambda v: f.qr_for(v)[:-1] + ("A" if f.qr_for(v)[-1] != "A" else "B"), "QR_INVALID"),
])
def test_a_bad_qr_is_refused_in_red_and_changes_nothing(client, desk, make_qr, code):
    training_class, voucher = desk
    response = client.post("/institution/verify", headers=JSON,
                           data={"class_id": training_class.id, "qr": make_qr(voucher)})
    data = response.get_json()
    assert response.status_code == 409 and (data["result"], data["tone"], data["code"]) == ("refused", "no", code)
    assert db.session.get(Voucher, voucher.id).status == "claimed"


def test_without_javascript_the_verdict_is_a_page(client, desk):
    training_class, voucher = desk
    page = client.post("/institution/verify", data={"class_id": training_class.id, "qr": f.qr_for(voucher)})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "验券成功" in text and "verdict-ok" in text and "扫下一张" in text


def test_an_empty_scan_says_what_to_do(client, desk):
    training_class, _ = desk
    response = client.post("/institution/verify", headers=JSON, data={"class_id": training_class.id, "qr": " "})
    assert response.status_code == 400 and "请对准" in response.get_json()["message"]


def test_another_institutions_class_is_404(client, desk):
    theirs = f.training_class(course_name="别家的班")
    _, voucher = desk
    db.session.commit()
    assert client.get(f"/institution/verify?class_id={theirs.id}").status_code == 404
    assert client.post("/institution/verify", data={"class_id": theirs.id, "qr": f.qr_for(voucher)}).status_code == 404
    assert client.get("/institution/verify?class_id=abc").status_code == 404
    assert db.session.get(Voucher, voucher.id).status == "claimed"


def test_a_suspended_institution_sees_why_and_cannot_verify(client, desk):
    training_class, voucher = desk
    training_class.institution.status = "suspended"
    training_class.institution.suspended_reason = "本年度累计3次培训质量问题"
    db.session.commit()
    page = client.get(f"/institution/verify?class_id={training_class.id}").get_data(as_text=True)
    assert "本年度累计3次培训质量问题" in page
    data = client.post("/institution/verify", headers=JSON,
                       data={"class_id": training_class.id, "qr": f.qr_for(voucher)}).get_json()
    assert data["code"] == "INSTITUTION_SUSPENDED"


def test_workers_cannot_open_the_verify_page(client):
    worker = f.person()
    db.session.commit()
    staff_sign_in(client, worker)
    assert client.get("/institution/verify").status_code == 403


def test_a_voucher_used_in_another_class_is_refused_in_red(client, desk):
    training_class, voucher = desk
    elsewhere = f.training_class(training_class.institution, course_name="另一个班")
    db.session.commit()
    client.post("/institution/verify", headers=JSON, data={"class_id": elsewhere.id, "qr": f.qr_for(voucher)})
    response = client.post("/institution/verify", headers=JSON,
                           data={"class_id": training_class.id, "qr": f.qr_for(voucher)})
    data = response.get_json()
    assert response.status_code == 409 and (data["tone"], data["code"]) == ("no", "VOUCHER_ALREADY_USED")
    assert db.session.get(Voucher, voucher.id).class_id == elsewhere.id
