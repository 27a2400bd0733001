"""扫码台 pages: the officer registers a scan gun (token shown once, stored hashed) and revokes it;
the front desk watches its scans and switches its mode and class or session; another institution's
gun is a 404, and every change is audited."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from h5app.extensions import db
from h5app.models import AuditEvent, ScanDevice, TrainingClass
from h5app.scanning import devices
from h5app.timeutil import local_today

from . import factories as f
from .auth_support import staff_sign_in
from .scanner_support import bearer, claimed_voucher, new_key, scan_gun


@pytest.fixture
def institution():
    row = f.institution(name="绍兴市技师学院")
    f.training_class(row, course_name="低压电工作业培训")
    db.session.commit()
    return row


@pytest.fixture
def officer(client, institution):
    user = f.staff("officer", institution_id=institution.id)
    db.session.commit()
    staff_sign_in(client, user)
    return user


def test_the_officer_registers_a_gun_and_sees_its_token_once(client, officer, institution):
    training_class = db.session.scalar(select(TrainingClass).where(TrainingClass.institution_id == institution.id))
    page = client.post("/institution/scanners", data={"name": "前台1号", "mode": "verify",
                                                      "class_id": training_class.id, "session_id": "None"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "只显示这一次" in text
    token = re.search(r"sg_[A-Za-z0-9_-]{40,}", text).group()
    device = db.session.scalar(select(ScanDevice))
    assert device.token_hash == devices.hash_token(token) and device.class_id == training_class.id
    assert token not in client.get("/institution/scanners").get_data(as_text=True)
    assert client.get("/scanner/v1/device", headers=bearer(token)).status_code == 200
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "scanner.device.register"))


def test_registering_without_a_name_says_so(client, officer):
    page = client.post("/institution/scanners", data={"name": "", "mode": "verify", "class_id": "None",
                                                      "session_id": "None"})
    assert page.status_code == 400 and "请填写名称" in page.get_data(as_text=True)
    assert db.session.scalar(select(ScanDevice)) is None


def test_reloading_the_token_page_registers_no_second_gun_of_the_name(client, officer):
    form = {"name": "前台1号", "mode": "verify", "class_id": "None", "session_id": "None"}
    assert client.post("/institution/scanners", data=form).status_code == 200
    again = client.post("/institution/scanners", data=form)  # the browser's reload re-posts the form
    assert again.status_code == 400 and "本机构已有名为“前台1号”的扫码枪" in again.get_data(as_text=True)
    assert len(db.session.scalars(select(ScanDevice)).all()) == 1


@pytest.mark.parametrize("name", ["\u200b", " \u200b\u200d "])
def test_a_name_of_invisible_characters_is_refused(client, officer, name):
    page = client.post("/institution/scanners", data={"name": name, "mode": "verify", "class_id": "None",
                                                      "session_id": "None"})
    assert page.status_code == 400 and "请填写扫码枪名称" in page.get_data(as_text=True)
    assert db.session.scalar(select(ScanDevice)) is None


def test_a_revoked_guns_name_may_be_used_again_and_revoking_asks_first(client, officer, institution):
    device, _token = scan_gun(institution, name="前台1号")
    db.session.commit()
    page = client.get("/institution/scanners").get_data(as_text=True)
    assert "data-confirm=\"确定停用扫码枪“前台1号”吗？" in page
    client.post(f"/institution/scanners/{device.id}/revoke", data={})
    form = {"name": "前台1号", "mode": "verify", "class_id": "None", "session_id": "None"}
    assert client.post("/institution/scanners", data=form).status_code == 200


def test_a_verifier_may_use_the_station_but_not_register_or_revoke(client, institution):
    device, _token = scan_gun(institution)
    verifier = f.staff("verifier", institution_id=institution.id)
    db.session.commit()
    staff_sign_in(client, verifier)
    assert client.get(f"/institution/scanners/{device.id}").status_code == 200
    assert client.post("/institution/scanners", data={"name": "x", "mode": "verify"}).status_code == 403
    assert client.post(f"/institution/scanners/{device.id}/revoke").status_code == 403


def test_revoking_stops_the_gun(client, officer, institution):
    device, token = scan_gun(institution)
    db.session.commit()
    assert client.post(f"/institution/scanners/{device.id}/revoke").status_code == 302
    assert client.get("/scanner/v1/device", headers=bearer(token)).status_code == 401


def test_another_institutions_gun_is_404(client, officer):
    other, _token = scan_gun(f.institution(name="别家学校"))
    db.session.commit()
    for url in (f"/institution/scanners/{other.id}", f"/institution/scanners/{other.id}/feed.json"):
        assert client.get(url).status_code == 404
    assert client.post(f"/institution/scanners/{other.id}/revoke").status_code == 404
    assert client.post(f"/institution/scanners/{other.id}", data={"mode": "verify"}).status_code == 404
    assert "别家" not in client.get("/institution/scanners").get_data(as_text=True)


def test_the_station_switches_to_check_in_for_a_session_and_back(client, officer, institution):
    training_class = db.session.scalar(select(TrainingClass).where(TrainingClass.institution_id == institution.id))
    device, _token = scan_gun(institution, training_class=training_class)
    db.session.commit()
    class_session = training_class.sessions[0]
    response = client.post(f"/institution/scanners/{device.id}", data={
        "mode": "checkin", "class_id": "None", "session_id": class_session.id})
    assert response.status_code == 302
    device = db.session.get(ScanDevice, device.id)
    assert (device.mode, device.session_id, device.class_id) == ("checkin", class_session.id, training_class.id)
    missing = client.post(f"/institution/scanners/{device.id}", data={"mode": "verify", "class_id": "None",
                                                                      "session_id": "None"})
    assert missing.status_code == 400 and "请选择班期" in missing.get_data(as_text=True)
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "scanner.device.configure")).all()


def test_the_station_switches_a_gun_to_check_out_for_a_lesson(client, officer, institution):
    training_class = db.session.scalar(select(TrainingClass).where(TrainingClass.institution_id == institution.id))
    device, _token = scan_gun(institution, training_class=training_class)
    db.session.commit()
    lesson = training_class.sessions[0]
    missing = client.post(f"/institution/scanners/{device.id}", data={"mode": "checkout", "class_id": "None",
                                                                      "session_id": "None"})
    assert missing.status_code == 400 and "扫码签退请选择课次" in missing.get_data(as_text=True)
    response = client.post(f"/institution/scanners/{device.id}", data={
        "mode": "checkout", "class_id": "None", "session_id": lesson.id})
    assert response.status_code == 302
    device = db.session.get(ScanDevice, device.id)
    assert (device.mode, device.session_id) == ("checkout", lesson.id)
    assert "扫码签退" in client.get(f"/institution/scanners/{device.id}").get_data(as_text=True)


def test_a_refused_setting_after_a_saved_one_is_not_also_called_saved(client, officer, institution):
    """The form posts back to the ?saved=1 address the last good save led to."""
    device, _token = scan_gun(institution)
    db.session.commit()
    page = client.post(f"/institution/scanners/{device.id}?saved=1", data={
        "mode": "verify", "class_id": "None", "session_id": "None"}).get_data(as_text=True)
    assert "请选择班期" in page and "设置已保存" not in page
    assert "设置已保存" in client.get(f"/institution/scanners/{device.id}?saved=1").get_data(as_text=True)


def test_a_class_of_another_institution_cannot_be_chosen(client, officer, institution):
    device, _token = scan_gun(institution)
    foreign = f.training_class(f.institution(), course_name="别家的班")
    db.session.commit()
    response = client.post(f"/institution/scanners/{device.id}", data={"mode": "verify", "class_id": foreign.id,
                                                                       "session_id": "None"})
    assert response.status_code == 400
    assert db.session.get(ScanDevice, device.id).class_id is None


def test_the_feed_shows_new_scans_with_masked_trainees(client, officer, institution, new_client):
    training_class = db.session.scalar(select(TrainingClass).where(TrainingClass.institution_id == institution.id))
    device, token = scan_gun(institution, training_class=training_class)
    voucher = claimed_voucher()
    db.session.commit()
    bridge = new_client()
    bridge.post("/scanner/v1/scans", json={"code": f.qr_for(voucher)},
                headers={**bearer(token), "Idempotency-Key": new_key()})
    bridge.post("/scanner/v1/scans", json={"code": "NOT-A-QR"}, headers={**bearer(token), "Idempotency-Key": new_key()})
    feed = client.get(f"/institution/scanners/{device.id}/feed.json?after=0").get_json()
    assert [s["title"] for s in feed["scans"]] == ["验券成功", "不能验券"]
    assert feed["scans"][0]["trainee"]["name"] == "王*国"
    assert voucher.person.id_number not in str(feed)
    later = client.get(f"/institution/scanners/{device.id}/feed.json?after={feed['scans'][0]['id']}").get_json()
    assert [s["title"] for s in later["scans"]] == ["不能验券"]
    page = client.get(f"/institution/scanners/{device.id}").get_data(as_text=True)
    assert "验券成功" in page and "王*国" in page
    assert client.get(f"/institution/scanners/{device.id}/feed.json?after=x").status_code == 400


def test_the_feed_tells_a_scan_delivered_after_an_outage(client, officer, institution, new_client):
    device, token = scan_gun(institution)
    db.session.commit()
    bridge = new_client()
    bridge.post("/scanner/v1/scans", json={"code": "NOT-A-QR", "age_ms": 95_000},
                headers={**bearer(token), "Idempotency-Key": new_key()})
    bridge.post("/scanner/v1/scans", json={"code": "NOT-A-QR-2"}, headers={**bearer(token), "Idempotency-Key": new_key()})
    late, on_time = client.get(f"/institution/scanners/{device.id}/feed.json?after=0").get_json()["scans"]
    assert "网络恢复后补传" in late["time"] and "网络恢复后补传" not in on_time["time"]


def test_the_class_choices_are_those_still_verifiable_with_their_year(client, officer, institution):
    ended = f.training_class(institution, course_name="上月滚动班", starts_on=local_today() - timedelta(days=40),
                             ends_on=local_today() - timedelta(days=1))
    db.session.commit()
    page = client.get("/institution/scanners").get_data(as_text=True)
    choices = page[page.index('id="class_id"'):page.index("</select>", page.index('id="class_id"'))]
    assert "低压电工作业培训" in choices and "年" in choices
    assert ended.course_name not in choices


def test_the_settings_come_before_the_feed_a_phone_scrolls_through(client, officer, institution):
    device, _token = scan_gun(institution)
    db.session.commit()
    page = client.get(f"/institution/scanners/{device.id}").get_data(as_text=True)
    assert page.index("切换用途、班期或课次") < page.index("实时扫码结果")
