"""扫码台 in a real browser at 375×667: the officer registers a scan gun (token shown once), opens its
scan station, a scan posted to /scanner/v1 by the bridge shows up on the page by itself, and the
desk switches the gun to 扫码签到 for a session and back to 扫码验券. Screenshots in
<artifacts>/screens-scanner/."""
import re
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from h5app.extensions import db
from h5app.models import StaffUser, TrainingClass
from h5app.timeutil import utcnow

from .. import factories as f
from ..scanner_support import new_key, scan_gun
from .conftest import CHROMIUM, commit, expect, sign_in

SCREENS = "screens-scanner"
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="browser tests need Debian's chromium at /usr/bin/chromium "
                                  "(apt-get install -y chromium); it is not installed")


@pytest.fixture
def desk():
    institution = f.institution(name="绍兴市技师学院")
    f.training_class(institution, course_name="低压电工作业培训")
    officer = f.staff("officer", institution_id=institution.id)
    voucher = f.voucher(f.template(name="就业技能培训券"), f.person(name="王建国"), "claimed",
                        expires_at=utcnow() + timedelta(days=10))
    qr = f.qr_for(voucher)
    username = officer.username
    commit()
    return username, qr


def test_scan_station_shows_a_bridge_scan_live_and_switches_mode(page, shots, server, desk):
    username, qr = desk
    sign_in(page, username)
    page.get_by_role("link", name="扫码枪 · 扫码台").click()
    shots.check_and_save(page, "scanners-none-yet")
    page.get_by_label("扫码枪名称").fill("前台1号")
    page.get_by_label("验券班期").select_option(index=1)
    page.get_by_role("button", name="登记扫码枪").click()
    expect(page.get_by_text("只显示这一次")).to_be_visible()
    # The token page necessarily shows a long Latin token: screenshot it, check only that it fits.
    page.screenshot(path=str(shots.folder / "00-token-once.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    token = page.locator("#device-token").inner_text().strip()
    assert re.fullmatch(r"sg_[A-Za-z0-9_-]{40,}", token)

    page.get_by_role("link", name="我已保存，打开扫码台").click()
    expect(page.locator("#station-target")).to_have_text("低压电工作业培训")
    expect(page.get_by_text("还没有扫码")).to_be_visible()

    answer = requests.post(f"{server.url}/scanner/v1/scans", json={"code": qr},
                           headers={"Authorization": f"Bearer {token}", "Idempotency-Key": new_key()}, timeout=10)
    assert answer.status_code == 201, answer.text
    newest = page.locator("#scan-feed .scan").first
    expect(newest.locator(".scan-title")).to_have_text("验券成功")
    expect(newest.locator(".scan-trainee")).to_contain_text("王*国")
    expect(page.get_by_text("还没有扫码")).to_be_hidden()
    shots.check_and_save(page, "station-verified")

    page.get_by_text("切换用途、班期或课次").click()
    page.get_by_label("扫码用途").select_option("checkin")
    page.get_by_label("签到/签退课次").select_option(index=1)
    page.get_by_role("button", name="保存设置").click()
    expect(page.get_by_text("设置已保存")).to_be_visible()
    expect(page.locator("#station-mode")).to_have_text("扫码签到")
    expect(page.locator("#station-target")).to_contain_text("第1次课")
    shots.check_and_save(page, "station-checkin")

    page.get_by_text("切换用途、班期或课次").click()
    page.get_by_label("扫码用途").select_option("verify")
    page.get_by_label("验券班期").select_option(index=1)
    page.get_by_role("button", name="保存设置").click()
    expect(page.locator("#station-mode")).to_have_text("扫码验券")
    refusal = requests.post(f"{server.url}/scanner/v1/scans", json={"code": "NOTAQRCODE"},
                            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": new_key()}, timeout=10)
    assert refusal.status_code == 201
    expect(page.locator("#scan-feed .scan").first.locator(".scan-title")).to_have_text("不能验券")
    shots.check_and_save(page, "station-refused")
    page.get_by_role("link", name="全部扫码枪").click()
    expect(page.get_by_text("前台1号")).to_be_visible()
    shots.check_and_save(page, "scanners-list")
    db.session.rollback()


@pytest.fixture
def gun(desk):
    """A gun of the desk's institution, in 扫码验券 for its class: (officer's username, station path)."""
    username, _qr = desk
    officer = db.session.scalar(select(StaffUser).where(StaffUser.username == username))
    training_class = db.session.scalar(select(TrainingClass).where(TrainingClass.institution_id == officer.institution_id))
    device, _token = scan_gun(officer.institution, training_class=training_class)
    station = f"/institution/scanners/{device.id}"
    commit()
    return username, station


def test_the_station_says_when_its_sign_in_ended_and_greys_the_old_verdicts(page, server, gun):
    username, station = gun
    sign_in(page, username)
    page.goto(server.url + station)
    expect(page.locator("#station-problem")).to_be_hidden()
    # Signed out everywhere (退出 on another device bumps the epoch): the feed answers with the sign-in page.
    officer = db.session.scalar(select(StaffUser).where(StaffUser.username == username))
    officer.session_epoch = (officer.session_epoch or 0) + 1
    commit()
    expect(page.locator("#station-problem")).to_contain_text("登录已过期")
    expect(page.locator("#scan-feed")).to_have_class(re.compile(r"\bstale\b"))


def test_the_station_says_when_the_network_is_down_and_recovers_by_itself(page, server, gun):
    username, station = gun
    sign_in(page, username)
    page.goto(server.url + station)
    page.route("**/feed.json*", lambda route: route.abort())
    expect(page.locator("#station-problem")).to_contain_text("网络中断")
    page.unroute("**/feed.json*")
    expect(page.locator("#station-problem")).to_be_hidden()
    expect(page.locator("#scan-feed")).not_to_have_class(re.compile(r"\bstale\b"))
