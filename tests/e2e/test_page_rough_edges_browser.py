"""Issue 20, what only a browser sees: no text under 16px on the pages a worker sees, the
"去卡券中心看看" link a full tap target, and the desk's 打开摄像头扫码 button hidden when it must be
(without JavaScript, and once the camera is open). The rest is in tests/test_page_rough_edges.py."""
from datetime import timedelta

import pytest

from h5app.auth.sso import mint_ticket
from h5app.extensions import db
from h5app.models import Notification
from h5app.timeutil import utcnow

from .. import factories as f
from .conftest import CHROMIUM, MIN_TAP, commit, expect, staff_sign_in

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="browser tests need Debian's chromium at /usr/bin/chromium "
                                  "(apt-get install -y chromium); it is not installed")

# Every visible piece of text whose own element computes under 16px.
SMALL_TEXT = """() => {
  const small = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!node.textContent.trim() || el.closest('.skip')) continue;
    const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    if (r.width === 0 || r.height === 0 || s.visibility === 'hidden') continue;
    const px = parseFloat(s.fontSize);
    if (px < 16) small.push(`${node.textContent.trim().slice(0, 16)} (.${el.className}) ${px}px`);
  }
  return small;
}"""


def _sign_in_worker(page, worker, nonce):
    channel = f.channel(secret=f"secret-{nonce}")
    ticket = mint_ticket(channel.secret, id_number=worker.id_number, name=worker.name, phone="", nonce=nonce)
    commit()
    page.goto(f"/sso/zhrs?ticket={ticket}")
    page.wait_for_url("**/worker/")


def _small_text(page, url):
    page.goto(url)
    page.wait_for_load_state("load")
    return [f"{url}: {item}" for item in page.evaluate(SMALL_TEXT)]


def test_worker_pages_have_no_text_under_16px(make_page):
    worker = f.person(name="王建国")
    template = f.template(name="就业技能培训券")
    f.template(name="失业保险技能提升券", min_insurance_months=99)  # a refusal on 卡券中心
    offered = f.template(name="给我的券", audience="targeted")
    f.voucher(offered, worker, "offered", expires_at=utcnow() + timedelta(days=5))
    claimed = f.voucher(template, worker, "claimed", expires_at=utcnow() + timedelta(days=9))
    running = f.training_class(course_name="低压电工作业培训")
    finished = f.training_class(course_name="电工基础班", status="completed")
    for status, training_class in (("used", running), ("settled", finished)):
        f.voucher(f.template(name=f"{status}券"), worker, status, class_id=training_class.id,
                  institution_id=training_class.institution_id, used_at=utcnow() - timedelta(days=30))
    for status in ("expired", "revoked"):
        f.voucher(f.template(name=f"{status}券"), worker, status, expires_at=utcnow() - timedelta(days=1))
    f.enrol(running, worker, voucher_id=claimed.id)
    f.enrol(finished, worker)
    f.certificate(worker)
    db.session.add(Notification(person_id=worker.id, kind="settled", title="培训补贴已拨付", body="¥800.00"))
    urls = ["/worker/", "/worker/cards", "/worker/cards/others", f"/worker/cards/{offered.id}",
            *(f"/worker/vouchers?tab={tab}" for tab in ("claimed", "used", "settled", "expired", "revoked")),
            f"/worker/vouchers/{claimed.code}", "/worker/classes", f"/worker/classes/{running.id}",
            f"/worker/classes/{finished.id}", "/worker/checkin", "/worker/qr", "/worker/certificates", "/worker/jobs",
            "/worker/messages", "/worker/me", "/worker/me/payee", "/worker/ratings"]
    code = claimed.code
    page = make_page()
    _sign_in_worker(page, worker, "small-text")

    small = [item for url in urls for item in _small_text(page, url)]
    page.goto(f"/worker/vouchers/{code}")
    page.get_by_role("button", name="显示完整信息").click()
    small += [f"holder: {item}" for item in page.evaluate(SMALL_TEXT)]
    assert not small, "text under 16px:\n" + "\n".join(small)


def test_sign_in_pages_a_worker_sees_have_no_text_under_16px(page):
    small = _small_text(page, "/") + _small_text(page, "/sms")
    assert not small, "text under 16px:\n" + "\n".join(small)


def test_link_to_the_card_center_from_no_vouchers_is_a_full_tap_target(page):
    worker = f.person(name="赵敏")
    _sign_in_worker(page, worker, "no-vouchers")
    page.goto("/worker/vouchers")
    link = page.get_by_role("link", name="去卡券中心看看")
    expect(link).to_be_visible()
    assert link.bounding_box()["height"] >= MIN_TAP


@pytest.fixture
def desk():
    institution = f.institution(name="绍兴市技师学院")
    training_class = f.training_class(institution, course_name="低压电工作业培训")
    officer = f.staff("officer", institution_id=institution.id)
    username, class_id = officer.username, training_class.id
    commit()
    return username, class_id


def test_scan_button_is_not_shown_without_javascript(make_page, desk):
    username, class_id = desk
    page = make_page(java_script_enabled=False)
    staff_sign_in(page, username, "/institution/")
    page.goto(f"/institution/verify?class_id={class_id}")
    expect(page.get_by_label("二维码内容")).to_be_visible()  # typed entry works without JavaScript
    expect(page.locator("#start-camera")).to_be_hidden()


def test_scan_button_hides_once_the_camera_is_open(camera_page, desk, tmp_path):
    username, class_id = desk
    video = tmp_path / "blank.y4m"  # a camera that sees no QR: the scanner stays open
    width, height = 320, 240
    with open(video, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(5):
            out.write(b"FRAME\n" + bytes([200]) * (width * height) + bytes([128]) * (width * height // 2))
    page = camera_page(video)
    staff_sign_in(page, username, "/institution/")
    page.goto(f"/institution/verify?class_id={class_id}")
    button = page.get_by_role("button", name="打开摄像头扫码")
    expect(button).to_be_visible()  # the script shows it where a camera can be used
    button.click()
    expect(page.locator("#scan-video")).to_be_visible()
    expect(page.locator("#start-camera")).to_be_hidden()  # no second tap, no second scanner
