"""取消班期, 退班 and 签退 in a real browser (issue 19). The institution officer withdraws one trainee
from the trainee list and cancels the class (asked to confirm, a reason required); the worker whose
voucher was used for it finds it back under 可使用 in 我的卡券, with the deadline extended and the story
in 券的记录, and a notice in 消息. A worker checks in and out of a lesson by location where time present
counts. Screenshots in <artifacts>/screens-lifecycle/."""
from datetime import timedelta

import pytest

from h5app.auth.sso import mint_ticket
from h5app.extensions import db
from h5app.models import ClassSession
from h5app.timeutil import local_today, utcnow

from .. import factories as f
from ..lifecycle_support import verified
from .conftest import CHROMIUM, commit, expect, staff_sign_in

SCREENS = "screens-lifecycle"
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="browser tests need Debian's chromium at /usr/bin/chromium "
                                  "(apt-get install -y chromium); it is not installed")


def _used(training_class, person):
    now = utcnow()
    return verified(training_class, person, at=now, tmpl=f.template(name=f"就业技能培训券·{person.name}"),
                    claimed_at=now - timedelta(days=2), expires_at=now + timedelta(days=30))


def test_cancel_a_class_and_the_worker_finds_the_voucher_back(make_page, shots):
    channel = f.channel(secret="lifecycle-secret")
    institution = f.institution(name="柯桥区新星职业培训学校")
    officer = f.staff("officer", institution_id=institution.id)
    start = local_today() + timedelta(days=5)
    training_class = f.training_class(institution, course_name="中式烹调师培训", starts_on=start,
                                      ends_on=start + timedelta(days=10))
    worker, leaving = f.person(name="陈小燕", region_code="330603"), f.person(name="孙丽", region_code="330603")
    voucher = _used(training_class, worker)
    _used(training_class, leaving)
    ticket = mint_ticket(channel.secret, id_number=worker.id_number, name=worker.name, phone="",
                         nonce="lifecycle-1")
    names = dict(officer=officer.username, template=voucher.template.name)
    commit()

    phone = make_page()
    phone.goto(f"/sso/zhrs?ticket={ticket}")
    phone.goto("/worker/vouchers?tab=used")
    expect(phone.get_by_text("中式烹调师培训")).to_be_visible()
    shots.check_and_save(phone, "worker-voucher-used")

    desk = make_page()
    staff_sign_in(desk, names["officer"], "/institution/")
    desk.get_by_role("link", name="中式烹调师培训").click()
    desk.get_by_role("link", name="为孙*办理退班").click()
    expect(desk.get_by_text("退回其“我的卡券”")).to_be_visible()
    desk.get_by_label("退班原因").fill("工作调动，无法参加")
    shots.check_and_save(desk, "withdraw")
    desk.once("dialog", lambda dialog: dialog.accept())
    desk.get_by_role("button", name="确认退班").click()
    expect(desk.get_by_role("status")).to_contain_text("已为孙*办理退班，培训券已退回")
    expect(desk.get_by_role("heading", name="已结束报名（1人）")).to_be_visible()
    shots.check_and_save(desk, "withdrawn")

    desk.get_by_role("link", name="取消班期").click()
    expect(desk.get_by_role("note")).to_contain_text("已验券使用的 1 张培训券退回")
    asked = []
    desk.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    desk.get_by_role("button", name="确认取消班期").click()  # no reason: refused on the field
    expect(desk.get_by_text("请填写取消原因")).to_be_visible()
    assert asked and "取消后不能恢复" in asked[0]
    shots.check_and_save(desk, "cancel-no-reason")
    desk.get_by_label("取消原因").fill("报名人数不足，无法开班")
    desk.once("dialog", lambda dialog: dialog.dismiss())  # "取消" in the question: nothing happens
    desk.get_by_role("button", name="确认取消班期").click()
    expect(desk.get_by_label("取消原因")).to_have_value("报名人数不足，无法开班")
    desk.once("dialog", lambda dialog: dialog.accept())
    desk.get_by_role("button", name="确认取消班期").click()
    expect(desk.get_by_role("status")).to_contain_text("班期已取消：1张培训券已退回学员")
    expect(desk.get_by_role("alert")).to_contain_text("报名人数不足，无法开班")
    shots.check_and_save(desk, "cancelled")

    phone.goto("/worker/vouchers")  # 可使用 first
    expect(phone.get_by_text(names["template"])).to_be_visible()
    shots.check_and_save(phone, "worker-voucher-back")
    phone.get_by_role("link", name=names["template"]).click()
    history = phone.locator("#history")
    expect(history).to_contain_text("班期取消，“中式烹调师培训”退回，恢复可使用")
    expect(history).to_contain_text("有效期延长1天")
    expect(history).to_contain_text("原因：报名人数不足，无法开班")
    expect(phone.locator("#live-qr svg")).to_be_visible()  # usable again: its QR is back
    shots.check_and_save(phone, "worker-voucher-history")
    phone.goto("/worker/messages")
    expect(phone.get_by_text("培训券已退回，可继续使用")).to_be_visible()
    shots.check_and_save(phone, "worker-message")


def test_worker_checks_in_and_out_where_time_present_counts(make_page, shots):
    f.region("330600", "绍兴市", "shaoxing")
    channel = f.channel(secret="checkout-secret")
    worker = f.person(name="王建国", region_code="330602")
    running = f.training_class(course_name="低压电工作业培训", starts_on=local_today(), sessions=0)
    db.session.add(ClassSession(class_id=running.id, title="第1次课", starts_at=utcnow() - timedelta(minutes=20),
                                ends_at=utcnow() + timedelta(hours=3), hours=4, site_id=running.sites[0].id))
    f.enrol(running, worker)
    officer = f.staff("officer", institution_id=running.institution_id)
    ticket = mint_ticket(channel.secret, id_number=worker.id_number, name=worker.name, phone="", nonce="checkout-1")
    lesson_id, username = running.sessions[0].id, officer.username
    commit()

    page = make_page(geolocation={"latitude": 30.0005, "longitude": 120.58}, permissions=["geolocation"])
    page.goto(f"/sso/zhrs?ticket={ticket}")
    page.goto("/worker/checkin")
    expect(page.get_by_text("不签退不计课时")).to_be_visible()
    page.get_by_role("button", name="定位签到：低压电工作业培训").click()
    expect(page.get_by_role("status")).to_contain_text("签到成功")
    shots.check_and_save(page, "checked-in")
    page.get_by_role("button", name="定位签退：低压电工作业培训").click()  # a step, not the 签退 itself
    expect(page.get_by_text("签退后本次课不能再签到")).to_be_visible()
    shots.check_and_save(page, "checkout-confirm")
    page.get_by_label("我确认提前签退").check()  # checked in a moment ago
    page.get_by_role("button", name="确认定位签退：低压电工作业培训").click()
    expect(page.get_by_role("status")).to_contain_text("签退成功，本次在场")
    expect(page.get_by_text("已签退")).to_be_visible()
    shots.check_and_save(page, "checked-out")

    desk = make_page()
    staff_sign_in(desk, username, "/institution/")
    desk.goto(f"/institution/sessions/{lesson_id}/checkout")
    sheet = desk.locator("#checkin-sheet")
    expect(sheet).to_contain_text("按在场时长计算打卡率")
    expect(sheet.get_by_role("row").filter(has_text="定位签退 · 在场")).to_have_count(1)
    shots.check_and_save(desk, "desk-checkout-sheet")


def test_the_desk_takes_back_a_check_out_scanned_by_mistake(make_page, shots):
    """The scan gun left in 签退 mode as a trainee arrives: the verdict offers to take it back."""
    from h5app.models import CheckIn
    from h5app.vouchers import app_qr_secret, qrtoken

    running = f.training_class(course_name="低压电工作业培训", starts_on=local_today(), sessions=0)
    lesson = ClassSession(class_id=running.id, title="第1次课", starts_at=utcnow() - timedelta(minutes=5),
                          ends_at=utcnow() + timedelta(hours=3), hours=4)
    db.session.add(lesson)
    worker = f.person(name="王建国")
    f.enrol(running, worker)
    db.session.flush()
    db.session.add(CheckIn(session_id=lesson.id, person_id=worker.id, method="scan", created_at=utcnow()))
    verifier = f.staff("verifier", institution_id=running.institution_id)
    lesson_id, username, qr_code = lesson.id, verifier.username, worker.qr_code
    commit()

    desk = make_page()
    staff_sign_in(desk, username, "/institution/")
    desk.goto(f"/institution/sessions/{lesson_id}/checkout")
    desk.get_by_label("二维码内容").fill(qrtoken.sign(app_qr_secret(), qrtoken.KIND_PERSON, qr_code))
    desk.get_by_role("button", name="签退", exact=True).click()
    expect(desk.locator("#verdict")).to_contain_text("签退成功")
    desk.get_by_role("button", name="扫错了？撤销这次签退").click()
    expect(desk.locator("#verdict")).to_contain_text("已撤销签退")
    expect(desk.get_by_role("button", name="扫错了？撤销这次签退")).to_be_hidden()
    expect(desk.locator("#checkin-sheet").get_by_role("row").filter(has_text="王*国")).to_contain_text("未签退")
    # Redrawn as the page draws it: on a phone each trainee is a card whose cells say what they are.
    expect(desk.locator("#checkin-sheet td[data-label='签退']")).to_have_text("未签退")
    shots.check_and_save(desk, "desk-checkout-undone")
