"""The sign-in pages in a real browser on a phone-sized screen, as WeChat's webview would show them:
Debian's chromium at 375×667 with a WeChat user agent, against the app served by a real server.
Each page is checked for fit (no sideways scroll), Chinese text, readable type and tap-sized
controls, and screenshotted into <artifacts>/screens-auth/ for a reviewer."""
import re

import pytest
from sqlalchemy import select

from h5app.extensions import db
from h5app.identity import mask_id_number
from h5app.models import Person

from .. import factories as f
from .conftest import CHROMIUM, HEIGHT, WECHAT_UA, WIDTH, commit, expect

SCREENS = "screens-auth"
PHONE = "13805759876"
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="browser tests need Debian's chromium at /usr/bin/chromium "
                                  "(apt-get install -y chromium); it is not installed")


def test_staff_sign_in_with_a_wrong_then_right_password(page, shots):
    inst = f.institution(name="绍兴市技师学院")
    f.training_class(inst, course_name="低压电工作业培训")
    user = f.staff("officer", institution_id=inst.id, name="陈专员")
    username = user.username
    commit()

    page.goto("/")
    expect(page.get_by_role("heading", name="我是劳动者")).to_be_visible()
    shots.check_and_save(page, "home")

    page.get_by_role("link", name="工作人员登录").click()
    page.wait_for_url("**/login")
    shots.check_and_save(page, "staff-login")

    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill("Wrong-password-1")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("用户名或密码错误")
    expect(page.get_by_label("用户名")).to_have_value(username)
    shots.check_and_save(page, "staff-login-wrong-password")

    page.get_by_label("密码").fill(f.PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/institution/")
    expect(page.get_by_role("heading", name="绍兴市技师学院")).to_be_visible()
    expect(page.get_by_text("低压电工作业培训")).to_be_visible()
    shots.check_and_save(page, "institution-home")

    page.get_by_role("button", name="退出").click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.get_by_role("status")).to_contain_text("您已安全退出")


def test_anonymous_staff_page_asks_to_sign_in(page, shots):
    page.goto("/bureau/")
    page.wait_for_url(re.compile(r"/login\?next="))
    expect(page.get_by_role("status")).to_contain_text("请先登录")
    shots.check_and_save(page, "login-required")


def test_worker_enters_through_the_demo_ticket_page(page, shots):
    f.channel(code="zhrs")
    f.person(name="王建国")
    worker = f.person(name="李秀英", groups=["unemployed", "low_income"])
    worker_id, id_number = worker.id, worker.id_number
    commit()

    page.goto("/")
    page.get_by_role("link", name="演示：模拟渠道进入").click()
    page.wait_for_url("**/demo/tickets")
    shots.check_and_save(page, "demo-tickets")

    page.get_by_label("以哪位劳动者身份进入").select_option(str(worker_id))
    page.get_by_role("button", name="生成登录凭证并进入").click()
    page.wait_for_url("**/worker/")
    expect(page.get_by_role("heading", name="李*英，您好")).to_be_visible()
    expect(page.get_by_text(mask_id_number(id_number), exact=False)).to_be_visible()
    assert id_number not in page.content()
    expect(page.get_by_text("重点群体：失业人员、低收入农户家庭劳动力")).to_be_visible()
    shots.check_and_save(page, "worker-home-sso")


def test_bad_channel_ticket_shows_a_chinese_explanation(page, shots):
    f.channel(code="zhrs")
    commit()
    response = page.goto("/sso/zhrs?ticket=not-a-ticket")
    assert response.status == 400
    expect(page.get_by_role("alert")).to_contain_text("登录凭证")
    expect(page.get_by_role("link", name="手机号验证码登录")).to_be_visible()
    shots.check_and_save(page, "sso-error")


def test_phone_sign_in_with_real_name_binding(page, server, shots):
    page.goto("/")
    page.get_by_role("link", name="手机号验证码登录").click()
    page.wait_for_url("**/sms")
    shots.check_and_save(page, "sms-phone")

    page.get_by_label("手机号").fill("12345")
    page.get_by_role("button", name="获取验证码").click()
    expect(page.locator(".field-error")).to_contain_text("请输入11位手机号")
    shots.check_and_save(page, "sms-phone-invalid")

    page.get_by_label("手机号").fill(PHONE)
    page.get_by_role("button", name="获取验证码").click()
    page.wait_for_url("**/sms/verify*")
    expect(page.get_by_text("验证码已发送至")).to_contain_text("138****9876")
    shots.check_and_save(page, "sms-code")

    sent = [text for to, text in server.app.extensions.get("sms_outbox", []) if to == PHONE]
    code = re.search(r"\d{6}", sent[-1]).group()
    page.get_by_label("短信验证码").fill(f"{(int(code) + 1) % 10**6:06d}")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("验证码不正确，还可尝试4次")
    shots.check_and_save(page, "sms-code-wrong")

    page.get_by_label("短信验证码").fill(code)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/bind*")
    expect(page.get_by_text("138****9876")).to_be_visible()
    shots.check_and_save(page, "bind")

    id_number = f.valid_id_number(region="330604", born="19921118")
    wrong_check = id_number[:17] + next(c for c in "0123456789X" if c != id_number[17])
    page.get_by_label("真实姓名").fill("陈小燕")
    page.get_by_label("身份证号").fill(wrong_check)
    page.get_by_role("button", name="确认绑定").click()
    expect(page.locator(".field-error")).to_contain_text("校验位不正确")
    shots.check_and_save(page, "bind-invalid-id")

    page.get_by_label("身份证号").fill(id_number)
    page.get_by_role("button", name="确认绑定").click()
    page.wait_for_url("**/worker/")
    expect(page.get_by_role("status")).to_contain_text("实名绑定成功")
    expect(page.get_by_text(mask_id_number(id_number), exact=False)).to_be_visible()
    expect(page.get_by_text("138****9876", exact=False)).to_be_visible()
    shots.check_and_save(page, "worker-home-sms")

    person = db.session.scalar(select(Person).where(Person.phone == PHONE))
    assert (person.name, person.id_number, person.verified_via) == ("陈小燕", id_number, "sms")
    db.session.rollback()


def test_anonymous_worker_page_offers_the_phone_sign_in(page):
    page.goto("/worker/")
    page.wait_for_url(re.compile(r"/sms\?next="))
    expect(page.get_by_label("手机号")).to_be_visible()


def test_staff_sign_in_works_without_javascript(browser, server, shots):
    user = f.staff("bureau", name="陈主任")
    username = user.username
    commit()
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, is_mobile=True,
                                  user_agent=WECHAT_UA, device_scale_factor=2, java_script_enabled=False,
                                  base_url=server.url)
    try:
        tab = context.new_page()
        tab.goto("/login")
        tab.get_by_label("用户名").fill(username)
        tab.get_by_label("密码").fill(f.PASSWORD)
        tab.get_by_role("button", name="登录").click()
        tab.wait_for_url("**/bureau/")
        expect(tab.get_by_text("待处理结算申请")).to_be_visible()
        shots.check_and_save(tab, "bureau-home-no-js")
    finally:
        context.close()


def test_not_found_page_is_chinese(page, shots):
    response = page.goto("/no/such/page")
    assert response.status == 404
    expect(page.get_by_role("heading", name="页面不存在").first).to_be_visible()
    shots.check_and_save(page, "error-404")
