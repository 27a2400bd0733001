"""打卡签到: location check-in inside a site's radius and a session's time window, scan check-in
by the institution, and what each refusal says."""
from datetime import timedelta

import pytest

from h5app.extensions import db
from h5app.models import CheckIn
from h5app.vouchers import app_qr_secret, qrtoken
from h5app.vouchers.checkin import distance_m, location_check_in, scan_check_in
from h5app.vouchers.errors import (
    ClassNotOpen, NotEnrolled, OutOfScope, OutsideSessionTime, OutsideSite, QrExpired, QrInvalid,
)
from h5app.vouchers.subsidy import attendance_rate

from . import factories

SITE = (30.0, 120.58)  # factories.institution's site, radius 300 m


@pytest.fixture
def setup():
    training_class = factories.training_class(sessions=2)
    worker = factories.person()
    factories.enrol(training_class, worker)
    lesson = training_class.sessions[0]
    return training_class, worker, lesson


def during(lesson):
    return lesson.starts_at + timedelta(minutes=10)


def test_distance_of_one_degree_of_latitude_is_about_111_km():
    assert 111_000 < distance_m(30.0, 120.0, 31.0, 120.0) < 111_400


def test_location_check_in_inside_the_radius_is_recorded(setup):
    training_class, worker, lesson = setup
    record = location_check_in(db.session, worker, lesson, SITE[0] + 0.001, SITE[1], now=during(lesson))
    assert record.method == "location" and 100 < record.distance_m < 120
    assert attendance_rate(db.session, training_class, worker.id) == pytest.approx(0.5)


def test_location_check_in_outside_the_radius_says_how_far(setup):
    _, worker, lesson = setup
    with pytest.raises(OutsideSite) as refused:
        location_check_in(db.session, worker, lesson, SITE[0] + 0.01, SITE[1], now=during(lesson))
    assert "约1,112米" in refused.value.message and "300米" in refused.value.message
    assert db.session.query(CheckIn).count() == 0


@pytest.mark.parametrize("offset", [timedelta(minutes=-31), timedelta(hours=5)])
def test_location_check_in_outside_the_session_time_is_refused(setup, offset):
    _, worker, lesson = setup
    with pytest.raises(OutsideSessionTime) as refused:
        location_check_in(db.session, worker, lesson, *SITE, now=lesson.starts_at + offset)
    assert "签到时间" in refused.value.message
    assert db.session.query(CheckIn).count() == 0


def test_check_in_half_an_hour_early_is_accepted(setup):
    _, worker, lesson = setup
    assert location_check_in(db.session, worker, lesson, *SITE, now=lesson.starts_at - timedelta(minutes=29))


def test_someone_not_enrolled_cannot_check_in(setup):
    _, _, lesson = setup
    with pytest.raises(NotEnrolled):
        location_check_in(db.session, factories.person(), lesson, *SITE, now=during(lesson))


def test_check_in_to_a_class_not_open_is_refused(setup):
    training_class, worker, lesson = setup
    training_class.status = "draft"
    db.session.commit()
    with pytest.raises(ClassNotOpen):
        location_check_in(db.session, worker, lesson, *SITE, now=during(lesson))


@pytest.mark.parametrize("lat,lng", [(91.0, 120.0), (30.0, 181.0)])
def test_impossible_coordinates_are_refused(setup, lat, lng):
    _, worker, lesson = setup
    with pytest.raises(OutsideSite):
        location_check_in(db.session, worker, lesson, lat, lng, now=during(lesson))


def test_checking_in_twice_keeps_the_first_record(setup):
    _, worker, lesson = setup
    first = location_check_in(db.session, worker, lesson, *SITE, now=during(lesson))
    again = location_check_in(db.session, worker, lesson, *SITE, now=during(lesson) + timedelta(minutes=5))
    assert again.id == first.id and db.session.query(CheckIn).count() == 1


def test_scan_check_in_with_the_voucher_qr(setup):
    training_class, worker, lesson = setup
    voucher = factories.voucher(factories.template(), worker)
    actor = factories.institution_actor(training_class.institution)
    now = during(lesson)
    qr = qrtoken.sign(app_qr_secret(), "V", voucher.code, factories.epoch(now))
    record, person = scan_check_in(db.session, lesson, qr, actor, app_qr_secret(), now=now,
                                   now_ts=factories.epoch(now))
    assert record.method == "scan" and person.id == worker.id


def test_scan_check_in_with_the_person_qr(setup):
    training_class, worker, lesson = setup
    now = during(lesson)
    qr = qrtoken.sign(app_qr_secret(), "P", worker.qr_code, factories.epoch(now))
    record, _ = scan_check_in(db.session, lesson, qr, factories.institution_actor(training_class.institution),
                              app_qr_secret(), now=now, now_ts=factories.epoch(now))
    assert record.person_id == worker.id


def test_scan_check_in_refuses_an_old_screenshot(setup):
    training_class, worker, lesson = setup
    now = during(lesson)
    qr = qrtoken.sign(app_qr_secret(), "P", worker.qr_code, factories.epoch(now) - 61)
    with pytest.raises(QrExpired):
        scan_check_in(db.session, lesson, qr, factories.institution_actor(training_class.institution),
                      app_qr_secret(), now=now, now_ts=factories.epoch(now))


def test_scan_check_in_refuses_a_forged_qr(setup):
    training_class, worker, lesson = setup
    with pytest.raises(QrInvalid) as refused:
        scan_check_in(db.session, lesson, "P" + worker.qr_code + "A" * 23,
                      factories.institution_actor(training_class.institution), app_qr_secret(), now=during(lesson))
    assert refused.value.message == "二维码无效，请让学员打开培训券或“我的二维码”重新出示"  # what check-in scans


def test_a_voucher_code_typed_in_is_told_it_cannot_stand_for_the_qr(setup):
    training_class, worker, lesson = setup
    voucher = factories.voucher(factories.template(), worker)
    typed = " ".join(voucher.code[i:i + 4] for i in range(0, 16, 4)).lower()  # as the voucher page prints it
    with pytest.raises(QrInvalid) as refused:
        scan_check_in(db.session, lesson, typed, factories.institution_actor(training_class.institution),
                      app_qr_secret(), now=during(lesson))
    assert refused.value.message.startswith("这是培训券的券码，不能代替二维码：请让学员打开培训券或“我的二维码”")


def test_another_institution_cannot_check_in_to_this_class(setup):
    _, worker, lesson = setup
    other = factories.institution()
    now = during(lesson)
    qr = qrtoken.sign(app_qr_secret(), "P", worker.qr_code, factories.epoch(now))
    with pytest.raises(OutOfScope):
        scan_check_in(db.session, lesson, qr, factories.institution_actor(other), app_qr_secret(), now=now,
                      now_ts=factories.epoch(now))
    assert db.session.query(CheckIn).count() == 0
