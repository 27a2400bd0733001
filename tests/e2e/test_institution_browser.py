"""扫码验券 in a real browser: chromium's fake camera is fed a video of a worker's real QR (a Y4M
file written here from the token), the vendored scanner reads it, and the desk sees 验券成功; the
same QR again shows 已在本班验过. Also typed entry as from a scan gun. Screenshots in
<artifacts>/screens-institution/."""
from datetime import timedelta

import pytest
import segno

from h5app.extensions import db
from h5app.timeutil import utcnow

from .. import factories as f
from .conftest import CHROMIUM, HEIGHT, LAUNCH_ARGS, WECHAT_UA, WIDTH, commit, expect, playwright_api

SCREENS = "screens-institution"
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="browser tests need Debian's chromium at /usr/bin/chromium "
                                  "(apt-get install -y chromium); it is not installed")


def write_y4m(path, data: str, width=640, height=480, frames=10):
    """A still video of the QR code of `data` (4:2:0 Y4M, what chromium's fake camera plays)."""
    rows = [list(row) for row in segno.make(data, micro=False).matrix_iter(scale=8, border=4)]
    size = len(rows)
    top, left = (height - size) // 2, (width - size) // 2
    luma = bytearray([235]) * (width * height)
    for y, row in enumerate(rows):
        start = (top + y) * width + left
        luma[start:start + size] = bytes(16 if dark else 235 for dark in row)
    chroma = bytes([128]) * (width * height // 4)
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + bytes(luma) + chroma + chroma)


@pytest.fixture
def desk():
    institution = f.institution(name="绍兴市技师学院")
    training_class = f.training_class(institution, course_name="低压电工作业培训")
    officer = f.staff("officer", institution_id=institution.id)
    voucher = f.voucher(f.template(name="就业技能培训券"), f.person(name="王建国"), "claimed",
                        expires_at=utcnow() + timedelta(days=10))
    qr = f.qr_for(voucher)
    username, class_id = officer.username, training_class.id
    commit()
    return username, class_id, qr


def sign_in(page, username):
    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(f.PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/institution/")


def test_verify_by_phone_camera(server, shots, desk, tmp_path):
    username, _class_id, qr = desk
    video = tmp_path / "qr.y4m"
    write_y4m(video, qr)
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS + [
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}"])
        context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, is_mobile=True, has_touch=True,
                                      user_agent=WECHAT_UA, locale="zh-CN", base_url=server.url,
                                      permissions=["camera"])
        context.set_default_timeout(15_000)
        page = context.new_page()
        try:
            sign_in(page, username)
            page.get_by_role("link", name="扫码验券").click()
            page.get_by_label("验券班期").select_option(index=1)  # the first class after the prompt
            page.get_by_role("button", name="开始验券").click()
            shots.check_and_save(page, "verify-ready")

            page.get_by_role("button", name="打开摄像头扫码").click()
            expect(page.locator(".verdict-title")).to_have_text("验券成功")
            expect(page.locator(".verdict-trainee")).to_contain_text("王*国")
            shots.check_and_save(page, "verify-camera-ok")

            page.get_by_role("link", name="扫下一张").click()  # the camera sees the same QR again
            expect(page.locator(".verdict-title")).to_have_text("已在本班验过")
            shots.check_and_save(page, "verify-camera-again")
        finally:
            context.close()
            browser.close()


def test_verify_by_typed_entry_as_a_scan_gun_types(make_page, shots, desk):
    username, class_id, qr = desk
    page = make_page()
    sign_in(page, username)
    page.goto(f"/institution/verify?class_id={class_id}")
    page.get_by_label("二维码内容").fill("FORGED-QR-CODE")
    page.keyboard.press("Enter")
    expect(page.locator(".verdict-title")).to_have_text("不能验券")
    expect(page.locator(".verdict-message")).to_contain_text("二维码无效")
    shots.check_and_save(page, "verify-typed-forged")

    page.get_by_role("link", name="扫下一张").click()
    page.get_by_label("二维码内容").fill(qr)
    page.keyboard.press("Enter")
    expect(page.locator(".verdict-title")).to_have_text("验券成功")
    shots.check_and_save(page, "verify-typed-ok")
    db.session.rollback()
