"""补签 in a real browser at 375×667: the officer opens a lesson's 签到表, asks for a correction for
the trainee the check-in missed — a file that is not a photo first (refused in Chinese), then a
photo of the paper sign-in sheet taken from the phone — and the bureau clerk of the region sees the
photo in 补签审核 and approves it; the trainee's 打卡率 on the class page becomes 100%. Screenshots
under <artifacts>/screens-corrections/."""
import re
from datetime import timedelta

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import select

from h5app.extensions import db
from h5app.models import AttendanceCorrection, ClassSession
from h5app.timeutil import utcnow

from .. import factories as f
from ..auth_support import ticket_for
from .conftest import CHROMIUM, commit, expect, staff_sign_in

SCREENS = "screens-corrections"
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="browser tests need Debian's chromium at /usr/bin/chromium "
                                  "(apt-get install -y chromium); it is not installed")
REASON = "学员手机没电，未能定位签到，已在纸质签到表签名"


def save(shots, page, name):
    """Screenshot from the top: the sticky bars would otherwise be drawn where the last tap left them."""
    page.evaluate("() => window.scrollTo(0, 0)")
    return shots.check_and_save(page, name)


def sheet_photo(path):
    """A phone photo of a paper sign-in sheet: ruled lines and scribbled signatures."""
    image = Image.new("RGB", (1200, 900), (246, 244, 236))
    draw = ImageDraw.Draw(image)
    for row in range(1, 12):
        draw.line([(60, 60 + row * 70), (1140, 60 + row * 70)], fill=(90, 90, 90), width=3)
        draw.line([(700 + (row % 3) * 20, 80 + row * 70), (900, 100 + row * 70)], fill=(20, 30, 120), width=5)
    image.save(path, "JPEG", quality=90)
    return str(path)


@pytest.fixture
def office(server, tmp_path):
    server.app.config["EVIDENCE_DIR"] = str(tmp_path / "evidence")
    _school, training_class, lessons, _trainee, officer, clerk = f.missed_lesson_class(
        days_ago=(2, 1), officer_name="周专员", clerk_name="钱经办")
    ids = (officer.username, clerk.username, training_class.id, lessons[1].id)
    commit()
    return ids


def test_the_institution_asks_with_a_photo_and_the_bureau_approves(make_page, shots, office, tmp_path):
    officer, clerk, class_id, lesson_id = office
    page = make_page()
    staff_sign_in(page, officer, "/institution/")
    page.goto(f"/institution/classes/{class_id}")
    expect(page.locator("table")).to_contain_text("50%")
    page.goto(f"/institution/sessions/{lesson_id}/checkin")
    expect(page.locator("#checkin-sheet")).to_contain_text("未签到")
    page.get_by_role("link", name="申请补签").click()
    expect(page.get_by_label("漏签的学员")).to_contain_text("陈*燕")
    page.get_by_label("漏签的学员").select_option(index=1)
    page.get_by_label("漏签原因").fill(REASON)
    save(shots, page, "correction-form")

    not_a_photo = tmp_path / "签到表.jpg"
    not_a_photo.write_bytes(b"%PDF-1.4 this is not a picture")
    page.get_by_label("纸质签到表照片").set_input_files(str(not_a_photo))
    page.get_by_role("button", name="提交补签申请").click()
    expect(page.locator(".field-error")).to_contain_text("不是有效的图片")
    save(shots, page, "correction-not-a-photo")

    page.get_by_label("漏签的学员").select_option(index=1)
    page.get_by_label("漏签原因").fill(REASON)
    page.get_by_label("纸质签到表照片").set_input_files(sheet_photo(tmp_path / "IMG_20261207_0930.jpg"))
    page.get_by_role("button", name="提交补签申请").click()
    expect(page.get_by_text("补签申请已提交，请等待人社部门审核")).to_be_visible()
    expect(page.locator(".correction")).to_contain_text("待审核")
    expect(page.locator("img.evidence")).to_be_visible()
    assert page.locator("img.evidence").evaluate("img => img.naturalWidth") > 0  # the photo is served back
    save(shots, page, "correction-asked")

    desk = make_page()
    staff_sign_in(desk, clerk, "/bureau/")
    desk.get_by_role("link", name="补签审核").click()
    card = desk.locator("article").first
    expect(card).to_contain_text("低压电工作业培训")
    expect(card).to_contain_text(REASON)
    assert card.locator("img.evidence").evaluate("img => img.naturalWidth") > 0
    save(shots, desk, "bureau-queue")

    card.get_by_role("button", name="不予通过").click()  # without a reason: refused, still waiting
    expect(desk.locator(".field-error")).to_contain_text("写明原因")
    save(shots, desk, "bureau-refuse-needs-reason")

    desk.locator("article").first.get_by_role("button", name="通过，计入打卡率").click()
    expect(desk.get_by_text("已通过，计入打卡率")).to_be_visible()
    expect(desk.get_by_text("没有待审核的补签申请")).to_be_visible()
    save(shots, desk, "bureau-approved")
    try:
        assert db.session.scalar(select(AttendanceCorrection.status)) == "approved"
    finally:
        db.session.rollback()

    page.goto(f"/institution/classes/{class_id}")
    expect(page.locator("table")).to_contain_text("100%")
    save(shots, page, "class-attendance-after")
    page.goto(f"/institution/sessions/{lesson_id}/checkin")
    expect(page.locator("#checkin-sheet")).to_contain_text("补签（人社审核通过）")
    save(shots, page, "sheet-after")


@pytest.fixture
def online_class():
    """An open online class and a worker holding a voucher it accepts."""
    f.region("330600", "绍兴市")
    f.region("330602", "越城区", parent="330600")
    school = f.institution(name="越城区网络培训学校", region_code="330602")
    training_class = f.training_class(school, sessions=0, course_name="电子商务师线上培训", occupation="电子商务师",
                                      level=None, delivery="online", hours=2)
    training_class.sites = []
    start = utcnow() + timedelta(days=1)
    db.session.add(ClassSession(class_id=training_class.id, title="第1单元", starts_at=start,
                                ends_at=start + timedelta(hours=2), hours=2))
    worker = f.person(name="王建国", phone="13912345678")
    f.voucher(f.template(name="就业技能培训券"), worker, "claimed", claimed_at=utcnow(),
              expires_at=utcnow() + timedelta(days=30))
    channel = f.channel()
    ids = (training_class.id, worker.id_number, worker.name, worker.phone, channel.code)
    commit()
    return ids


def test_the_worker_enrols_online_and_confirms_the_use_by_sms(make_page, shots, server, online_class):
    class_id, id_number, name, phone, channel = online_class
    page = make_page()
    page.goto(f"/sso/{channel}?ticket={ticket_for(id_number, name, phone)}")
    page.wait_for_url("**/worker/")
    page.goto(f"/worker/classes/{class_id}")
    expect(page.locator("main")).to_contain_text("线上培训，不用到场")
    save(shots, page, "online-class")
    page.get_by_role("button", name="报名").click()
    page.wait_for_url(f"**/worker/classes/{class_id}/use*")
    expect(page.get_by_role("button", name="确认使用（已通过渠道实名认证）")).to_be_visible()
    save(shots, page, "online-use-choices")

    server.app.extensions["sms_outbox"] = []
    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_text("验证码已发送至 139****5678")).to_be_visible()
    [(to, text)] = server.app.extensions["sms_outbox"]
    assert to == phone and "线上培训" in text
    code = re.search(r"\d{6}", text).group()
    page.get_by_label("短信验证码").fill(code)
    save(shots, page, "online-use-code")
    page.get_by_role("button", name="验证并使用培训券").click()
    page.wait_for_url(f"**/worker/classes/{class_id}")
    expect(page.locator("main")).to_contain_text("培训券已使用")
    save(shots, page, "online-used")
