"""A worker's first visit on a phone, as a new user would make it: in from the channel app,
卡券中心 with a refusal explained and a voucher to claim, the one-step claim, the voucher's live QR
refreshing itself, the masked identity (the full one on request), and 我的卡券. Screenshots in
<artifacts>/screens-worker/."""
import pytest

from h5app.auth.sso import mint_ticket

from .. import factories as f
from .conftest import CHROMIUM, commit, expect

SCREENS = "screens-worker"
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="browser tests need Debian's chromium at /usr/bin/chromium "
                                  "(apt-get install -y chromium); it is not installed")


def test_worker_claims_a_voucher_and_shows_its_live_qr(page, shots):
    channel = f.channel(secret="worker-e2e-secret")
    f.template(name="2026年就业技能培训券", face_value_fen=150000, stock=50)
    f.template(name="失业保险技能提升券", min_insurance_months=36)
    worker = f.person(name="李秀英", insurance_months=20, region_code="330602")
    ticket = mint_ticket(channel.secret, id_number=worker.id_number, name=worker.name, phone=worker.phone,
                         nonce="worker-e2e-nonce")
    id_number = worker.id_number
    commit()

    page.clock.install()
    page.goto(f"/sso/zhrs?ticket={ticket}")
    page.wait_for_url("**/worker/")
    expect(page.get_by_text("您还没有培训券")).to_be_visible()
    shots.check_and_save(page, "worker-home")

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="卡券中心").click()
    page.wait_for_url("**/worker/cards")
    expect(page.get_by_text("需在本地缴纳失业保险满36个月，您目前为20个月")).to_be_visible()
    shots.check_and_save(page, "card-center")

    page.get_by_role("link", name="领取", exact=True).click()
    expect(page.get_by_text("培训券将领取到以下实名身份")).to_be_visible()
    expect(page.get_by_text(id_number)).to_have_count(0)  # only the masked form on the page
    shots.check_and_save(page, "claim-confirm")

    page.get_by_role("button", name="确认领取").click()
    page.wait_for_url("**/worker/vouchers/*")
    expect(page.get_by_role("status")).to_contain_text("领取成功")
    expect(page.locator("#live-qr svg")).to_be_visible()
    shots.check_and_save(page, "voucher-qr")

    with page.expect_response(lambda r: r.url.endswith("/qr.json") and r.ok) as refreshed:
        page.clock.run_for(31_000)  # past the end of the 30-second step
    assert refreshed.value.json()["svg"].startswith("<svg")
    expect(page.locator("#qr-countdown")).to_contain_text("秒后自动更新二维码")
    expect(page.locator("#live-qr svg")).to_be_visible()

    assert id_number not in page.content()  # shown at the front desk: the masked number only
    page.get_by_role("button", name="显示完整信息").click()  # fetched on request, on a page of its own
    page.wait_for_url("**/holder")
    expect(page.get_by_text(id_number)).to_be_visible()
    shots.check_and_save(page, "voucher-identity-shown")

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="我的卡券").click()
    page.wait_for_url("**/worker/vouchers")
    expect(page.get_by_text("2026年就业技能培训券")).to_be_visible()
    expect(page.get_by_text("天到期")).to_be_visible()
    # Every status tab in sight at 375 px (a row scrolled sideways hid 已失效 and 已作废).
    rights = page.locator("nav.tabs a").evaluate_all("links => links.map(a => a.getBoundingClientRect().right)")
    assert len(rights) == 5 and max(rights) <= page.viewport_size["width"]
    shots.check_and_save(page, "my-vouchers")


def open_voucher_qr_on_a_fake_clock(page, nonce: str) -> None:
    """A worker holding one voucher, signed in from the channel app on a fake clock, on its QR page
    with live-qr.js running."""
    channel = f.channel(secret="worker-e2e-secret")
    worker = f.person(name="李秀英", region_code="330602")
    f.voucher(f.template(name="2026年就业技能培训券", stock=50), worker)
    ticket = mint_ticket(channel.secret, id_number=worker.id_number, name=worker.name, phone=worker.phone, nonce=nonce)
    commit()
    page.clock.install()
    page.goto(f"/sso/zhrs?ticket={ticket}")
    page.wait_for_url("**/worker/")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="我的卡券").click()
    page.get_by_role("link", name="2026年就业技能培训券").first.click()
    expect(page.locator("#live-qr svg")).to_be_visible()  # drawn by the server: the script may not run yet
    page.wait_for_load_state("load")  # live-qr.js (deferred) has run and set its timer on the fake clock


def test_a_qr_that_could_not_be_refreshed_says_why_and_offers_a_reload(page, shots):
    """Offline, the stale QR is not offered to the front desk ("请向培训机构出示" goes) and a 刷新
    button appears (pulling down does nothing in WeChat); signed out, the page says so."""
    open_voucher_qr_on_a_fake_clock(page, "worker-e2e-stale")
    expect(page.get_by_role("link", name="刷新")).to_be_hidden()

    page.context.set_offline(True)
    page.clock.run_for(31_000)
    expect(page.locator("#qr-countdown")).to_contain_text("网络不稳定，二维码未能更新，已失效")
    expect(page.get_by_text("请向培训机构出示")).to_be_hidden()
    expect(page.get_by_role("link", name="刷新")).to_be_visible()
    shots.check_and_save(page, "voucher-qr-offline")

    page.context.set_offline(False)
    page.context.clear_cookies()  # the sign-in lapsed
    page.clock.run_for(6_000)
    expect(page.locator("#qr-countdown")).to_contain_text("登录已过期")


def test_a_qr_page_back_from_a_locked_phone_fetches_a_new_qr_at_once(page):
    """A locked phone runs no timers: back after 70 s, the QR on screen is past its 60 seconds, and
    the page fetches a fresh one from the clock, not after 30 more ticks."""
    open_voucher_qr_on_a_fake_clock(page, "worker-e2e-locked")

    with page.expect_response(lambda r: r.url.endswith("/qr.json") and r.ok):
        page.clock.fast_forward(70_000)  # the lid closed: due timers fire at most once
    expect(page.locator("#qr-countdown")).to_contain_text("秒后自动更新二维码")
    expect(page.locator("#live-qr")).not_to_have_class("stale")


def test_voucher_qr_works_without_javascript(browser, server, shots):
    from .conftest import HEIGHT, WECHAT_UA, WIDTH

    worker = f.person(name="周杰")
    voucher = f.voucher(f.template(), worker, "claimed", expires_at=f.utcnow_plus(days=10))
    code = voucher.code
    channel = f.channel(secret="nojs-secret")
    ticket = mint_ticket(channel.secret, id_number=worker.id_number, name=worker.name, phone="", nonce="nojs-n-1")
    commit()
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, is_mobile=True, user_agent=WECHAT_UA,
                                  java_script_enabled=False, base_url=server.url, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(f"/sso/zhrs?ticket={ticket}")
        page.goto(f"/worker/vouchers/{code}")
        expect(page.locator("#live-qr svg")).to_be_visible()
        expect(page.get_by_role("link", name="刷新二维码")).to_be_visible()
        shots.check_and_save(page, "voucher-qr-no-js")
    finally:
        context.close()


SITE = {"latitude": 30.0, "longitude": 120.58}  # factories.institution's site, radius 300 m


def test_worker_enrols_checks_in_rates_and_finds_jobs(make_page, shots):
    from datetime import timedelta

    from h5app.extensions import db
    from h5app.models import ClassSession, Job
    from h5app.timeutil import local_today, utcnow

    channel = f.channel(secret="journey-secret")
    worker = f.person(name="王建国", region_code="330602")
    voucher = f.voucher(f.template(name="就业技能培训券"), worker, "claimed", expires_at=utcnow() + timedelta(days=30))
    running = f.training_class(course_name="低压电工作业培训", occupation="电工", starts_on=local_today(), sessions=0)
    db.session.add(ClassSession(class_id=running.id, title="第1次课", starts_at=utcnow() - timedelta(minutes=5),
                                ends_at=utcnow() + timedelta(hours=3), hours=4, site_id=running.sites[0].id))
    finished = f.training_class(course_name="电工基础班", occupation="电工", status="completed")
    f.enrol(finished, worker)
    f.certificate(worker, number="330600202500123", occupation="电工")
    db.session.add(Job(title="配电运维电工", employer="越城供电", region_code="330602", occupation="电工",
                       posted_on=local_today()))
    ticket = mint_ticket(channel.secret, id_number=worker.id_number, name=worker.name, phone="", nonce="journey-1")
    running_id, finished_id, code = running.id, finished.id, voucher.code
    commit()

    page = make_page(geolocation={"latitude": 30.05, "longitude": 120.58}, permissions=["geolocation"])
    page.goto(f"/sso/zhrs?ticket={ticket}")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="培训报名").click()
    page.get_by_label("职业、课程或机构").fill("电工")
    page.get_by_role("button", name="搜索").click()
    shots.check_and_save(page, "class-search")

    page.get_by_role("link", name="低压电工作业培训").click()
    expect(page.get_by_text("使用培训券报名")).to_be_visible()
    expect(page.locator(f"input[value='{code}']")).to_be_checked()
    shots.check_and_save(page, "class-page")
    page.get_by_role("button", name="报名").click()
    expect(page.get_by_role("status")).to_contain_text("报名成功")
    expect(page.get_by_text("已选用培训券")).to_be_visible()
    shots.check_and_save(page, "enrolled")

    page.get_by_role("link", name="打卡签到").click()
    page.wait_for_url("**/worker/checkin")
    page.get_by_role("button", name="定位签到：低压电工作业培训").click()  # 5.5 km away
    expect(page.locator(".notice-error")).to_contain_text("需在300米范围内签到")
    shots.check_and_save(page, "checkin-outside")
    page.context.set_geolocation({"latitude": 30.0005, "longitude": 120.58})
    page.get_by_role("button", name="定位签到：低压电工作业培训").click()
    expect(page.get_by_role("status")).to_contain_text("签到成功")
    expect(page.get_by_text("已签到", exact=True)).to_be_visible()
    shots.check_and_save(page, "checkin-done")

    page.goto(f"/worker/classes/{finished_id}")
    page.get_by_label("5星").check()
    page.get_by_label("说说您的感受（选填）").fill("老师讲得很清楚，实操多")
    page.get_by_role("button", name="提交评价").click()
    expect(page.get_by_role("status")).to_contain_text("感谢您的评价")
    shots.check_and_save(page, "rated")

    page.get_by_role("navigation", name="主导航").get_by_role("link", name="我的", exact=True).click()
    page.get_by_role("link", name="证书查询").click()
    expect(page.get_by_text("330600202500123")).to_be_visible()
    shots.check_and_save(page, "certificates")

    page.goto("/worker/jobs")
    expect(page.get_by_role("button", name="同意并开启岗位推荐")).to_be_visible()
    shots.check_and_save(page, "jobs-without-consent")
    page.get_by_role("button", name="同意并开启岗位推荐").click()
    expect(page.get_by_text("根据：电工")).to_be_visible()
    shots.check_and_save(page, "jobs-recommended")
    assert running_id


@pytest.mark.parametrize("width", [360, 414])
def test_worker_pages_fit_small_and_large_phones(make_page, width):
    from datetime import timedelta

    from h5app.timeutil import utcnow

    channel = f.channel(secret=f"width-{width}")
    worker = f.person(name="赵敏")
    voucher = f.voucher(f.template(), worker, "claimed", expires_at=utcnow() + timedelta(days=9))
    training_class = f.training_class()
    ticket = mint_ticket(channel.secret, id_number=worker.id_number, name=worker.name, phone="", nonce=f"w-{width}")
    urls = ["/worker/", "/worker/cards", "/worker/vouchers", f"/worker/vouchers/{voucher.code}", "/worker/classes",
            f"/worker/classes/{training_class.id}", "/worker/checkin", "/worker/qr", "/worker/jobs", "/worker/me"]
    commit()
    page = make_page(viewport={"width": width, "height": 740})
    page.goto(f"/sso/zhrs?ticket={ticket}")
    for url in urls:
        page.goto(url)
        page.wait_for_load_state("load")
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, f"{url} scrolls sideways at {width}px ({scroll_width}px)"
