"""扫码验券 in a real browser: chromium's fake camera is fed a video of a worker's real QR (a Y4M
file written here from the token), the vendored scanner reads it, and the desk sees 验券成功; the
same QR again shows 已在本班验过. Also typed entry as from a scan gun. Screenshots in
<artifacts>/screens-institution/."""
from datetime import timedelta

import pytest
import segno

from h5app.extensions import db
from h5app.timeutil import local_today, to_local, utcnow

from .. import factories as f
from .conftest import CHROMIUM, choose_template, commit, expect, sign_in, staff_sign_in

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


def test_verify_by_phone_camera(camera_page, shots, desk, tmp_path):
    username, _class_id, qr = desk
    video = tmp_path / "qr.y4m"
    write_y4m(video, qr)
    page = camera_page(video)
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


def test_a_scan_after_the_sign_in_lapsed_says_to_refresh_not_no_network(make_page, shots, desk):
    username, class_id, qr = desk
    page = make_page()
    sign_in(page, username)
    page.goto(f"/institution/verify?class_id={class_id}")
    page.context.clear_cookies()  # the desk's sign-in lapsed while the page stayed open

    page.get_by_label("二维码内容").fill(qr)
    page.keyboard.press("Enter")

    expect(page.locator(".verdict-title")).to_have_text("页面已过期")  # its CSRF token went with the sign-in
    expect(page.locator(".verdict-message")).to_contain_text("请重新登录")
    shots.check_and_save(page, "verify-signed-out")


def test_officer_journey_from_new_class_to_settlement(camera_page, shots, tmp_path):
    """Sign in → create a class → open it → upload a roster (a bad file first) → verify one trainee by
    camera and one by typed entry → check one in → record results → the subsidy's preview, to be
    applied for after 结业 (the bureau's money journey applies for a completed class)."""
    institution = f.institution(name="柯桥区新星职业培训学校")
    officer = f.staff("officer", institution_id=institution.id)
    template = f.template(name="就业技能培训券")
    first, second = f.person(name="陈小燕"), f.person(name="孙丽")
    v1 = f.voucher(template, first, "claimed", expires_at=utcnow() + timedelta(days=30))
    v2 = f.voucher(template, second, "claimed", expires_at=utcnow() + timedelta(days=30))
    people = [(p.name, p.id_number) for p in (first, second)]
    username, qr1, qr2 = officer.username, f.qr_for(v1), f.qr_for(v2)
    commit()
    video = tmp_path / "qr.y4m"
    write_y4m(video, qr1)
    # The first lesson starts in a minute or two (nothing may be planned in the past) and its
    # check-in is open already (from half an hour before); the form reads local times (UTC+8).
    start = (to_local(utcnow()) + timedelta(minutes=2)).replace(second=0, microsecond=0)
    end = min(start + timedelta(hours=4), start.replace(hour=23, minute=59))
    today = start.date()
    bad = tmp_path / "bad.csv"
    bad.write_text(f"姓名,身份证号\n{people[0][0]},{people[0][1][:-1]}0\n,{people[1][1]}\n", encoding="utf-8")
    good = tmp_path / "good.csv"
    good.write_text("姓名,身份证号\n" + "".join(f"{n},{i}\n" for n, i in people), encoding="utf-8")

    page = camera_page(video)
    sign_in(page, username)
    page.get_by_role("link", name="新建班期").click()
    page.get_by_label("课程名称").fill("中式烹调师培训")
    page.get_by_label("职业（工种）").fill("中式烹调师")
    page.get_by_label("培训费（元）").fill("1100")
    page.get_by_label("开班日期").fill(str(today))
    page.get_by_label("结业日期").fill(str(today + timedelta(days=7)))
    page.get_by_label("本部").check()
    page.get_by_label("课次（每行一次课）").fill(f"{today} {start:%H:%M}-{end:%H:%M}\n{today + timedelta(days=2)} 09:00-12:00")
    shots.check_and_save(page, "class-new")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status")).to_contain_text("班期已创建")
    page.get_by_role("button", name="开放报名").click()
    expect(page.get_by_role("status")).to_contain_text("已开放报名")
    shots.check_and_save(page, "class-open")

    page.get_by_role("link", name="上传花名册").click()
    page.get_by_label("花名册文件（CSV 或 Excel）").set_input_files(str(bad))
    page.get_by_role("button", name="上传并导入").click()
    expect(page.locator(".roster-errors")).to_contain_text("第2行")
    expect(page.locator(".roster-errors")).to_contain_text("第3行")
    shots.check_and_save(page, "roster-bad")
    page.get_by_label("花名册文件（CSV 或 Excel）").set_input_files(str(good))
    page.get_by_role("button", name="上传并导入").click()
    expect(page.get_by_role("status")).to_contain_text("已导入2名学员")
    shots.check_and_save(page, "roster-imported")

    page.get_by_role("link", name="为本班扫码验券").click()
    page.get_by_role("button", name="打开摄像头扫码").click()
    expect(page.locator(".verdict-title")).to_have_text("验券成功")
    shots.check_and_save(page, "verify-camera")
    page.goto(page.url.split("#")[0])
    page.get_by_label("二维码内容").fill(qr2)
    page.keyboard.press("Enter")
    expect(page.locator(".verdict-title")).to_have_text("验券成功")
    shots.check_and_save(page, "verify-typed")

    page.goto("/institution/")
    page.get_by_role("link", name="中式烹调师培训").click()
    page.get_by_role("link", name="签到").first.click()
    page.get_by_label("二维码内容").fill(qr1)  # the voucher QR also checks its holder in
    page.keyboard.press("Enter")
    expect(page.locator(".verdict-title")).to_have_text("签到成功")
    sheet = page.locator("#checkin-sheet")
    expect(sheet.get_by_role("heading")).to_have_text("签到表（1/2）")  # redrawn from the answer, no reload
    expect(sheet.get_by_role("row").filter(has_text="机构扫码")).to_have_count(1)
    shots.check_and_save(page, "checkin-scan")

    page.goto("/institution/")
    page.get_by_role("link", name="中式烹调师培训").click()
    page.get_by_role("link", name="考核与评价").click()
    for label in page.get_by_label("考核通过").all():
        label.check()
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status")).to_contain_text("已保存")
    shots.check_and_save(page, "results")

    page.goto("/institution/")
    page.get_by_role("link", name="中式烹调师培训").click()
    page.get_by_role("link", name="结算申请").first.click()
    expect(page.locator("table")).to_contain_text("不符合")  # a preview while the lessons go on
    expect(page.get_by_text("班期结业后才能申请结算")).to_be_visible()
    expect(page.get_by_role("button", name="提交结算申请")).to_have_count(0)
    shots.check_and_save(page, "settlement-preview")



def test_class_review_journey_with_the_bureau(make_page, shots, tmp_path):
    """开班申请 → 开班审核 (issue 19), in 济南市 where the Shandong policy asks for it: the officer submits a
    class with its plan and teachers and uploads the roster; the city's clerk returns it (an empty
    reason first: refused); the officer reads the reason, mends the teachers and resubmits; the clerk
    approves and the class opens; a trainee enrols with her own voucher, and the clerk's 定向发券 preview
    skips her and issues to the other; 结业 is asked for and refused while the lessons are to come."""
    from sqlalchemy import select

    from h5app.models import Person, TrainingClass, Voucher
    from h5app.vouchers import enrolment

    f.region("330600", "绍兴市")
    f.region("370100", "济南市", "shandong")
    f.region("370102", "历下区", "shandong", parent="370100")
    school = f.institution(name="济南市历下区鲁班职业培训学校", region_code="370102")
    officer = f.staff("officer", institution_id=school.id)
    clerk = f.staff("bureau", region_code="370100", name="孔经办")
    general = f.template("shandong", name="济南市职业技能培训券", region_code="370100")
    directed = f.directed_template(policy_code="shandong", name="济南市定向培训券", region_code="370100")
    own, listed = f.person(name="孔秀兰", region_code="370102"), f.person(name="孟庆华", region_code="370102")
    mine = f.voucher(general, own, "claimed", claimed_at=utcnow(), expires_at=utcnow() + timedelta(days=60))
    names = dict(officer=officer.username, clerk=clerk.username, own=own.id, mine=mine.code, directed=directed.id)
    roster = tmp_path / "roster.csv"
    roster.write_text(f"姓名,身份证号\n{listed.name},{listed.id_number}\n", encoding="utf-8")
    commit()
    start = local_today() + timedelta(days=7)

    desk = make_page()
    sign_in(desk, names["officer"])
    desk.get_by_role("link", name="新建班期").click()
    expect(desk.get_by_role("note")).to_contain_text("本地区开班须经人社部门审核")
    desk.get_by_label("课程名称").fill("焊工（四级）培训")
    desk.get_by_label("职业（工种）").fill("焊工")
    desk.get_by_label("培训费（元）").fill("2600")
    desk.get_by_label("开班日期").fill(str(start))
    desk.get_by_label("结业日期").fill(str(start + timedelta(days=5)))
    if desk.get_by_label("线下培训").count():  # 培训方式, where the form asks for it
        desk.get_by_label("线下培训").check()
    desk.get_by_label("本部").check()
    desk.get_by_label("课次（每行一次课）").fill(f"{start} 08:30-16:30 8\n{start + timedelta(days=1)} 08:30-16:30 8")
    desk.get_by_label("教学计划", exact=True).fill("理论12课时：焊接安全与识图；实操20课时：平焊、立焊；结业考核。")
    desk.get_by_label("授课教师（每行一位：姓名 证书编号）").fill("鲁明 3701002019000123\n孔芳 37010020200004")
    shots.check_and_save(desk, "review-class-new")
    desk.get_by_role("button", name="提交开班申请").click()
    expect(desk.get_by_role("status")).to_contain_text("开班申请已提交人社部门审核")
    expect(desk.get_by_role("button", name="开放报名")).to_have_count(0)
    desk.get_by_role("link", name="上传花名册").click()
    desk.get_by_label("花名册文件（CSV 或 Excel）").set_input_files(str(roster))
    desk.get_by_role("button", name="上传并导入").click()
    expect(desk.get_by_role("status")).to_contain_text("已导入1名学员")
    expect(desk.get_by_role("note")).to_contain_text("开班申请已提交人社部门审核")
    shots.check_and_save(desk, "review-submitted")

    bureau = make_page()
    staff_sign_in(bureau, names["clerk"], "/bureau/")
    bureau.get_by_role("link", name="开班审核（1）").click()
    shots.check_and_save(bureau, "review-queue")
    bureau.get_by_role("link", name="审核").click()
    expect(bureau.get_by_text("37010020200004")).to_be_visible()
    expect(bureau.get_by_role("heading", name="花名册（1人）")).to_be_visible()
    shots.check_and_save(bureau, "review-application")
    bureau.get_by_role("button", name="退回修改").click()  # no reason: refused, nothing changes
    expect(bureau.get_by_text("请填写退回原因，培训机构将按此修改")).to_be_visible()
    expect(bureau.get_by_label("退回原因")).to_have_attribute("aria-invalid", "true")
    shots.check_and_save(bureau, "review-return-no-reason")
    bureau.get_by_label("退回原因").fill("孔芳的证书编号位数不对，请核对后重新提交")
    bureau.get_by_role("button", name="退回修改").click()
    expect(bureau.get_by_role("status")).to_contain_text("已退回培训机构修改")
    shots.check_and_save(bureau, "review-returned")

    desk.reload()
    expect(desk.get_by_role("alert")).to_contain_text("孔芳的证书编号位数不对")
    shots.check_and_save(desk, "review-seen-returned")
    desk.get_by_role("link", name="修改并重新提交").click()
    desk.get_by_label("授课教师（每行一位：姓名 证书编号）").fill("鲁明 3701002019000123\n孔芳 3701002020000456")
    desk.get_by_role("button", name="保存并重新提交审核").click()
    expect(desk.get_by_role("status")).to_contain_text("已重新提交人社部门审核")
    shots.check_and_save(desk, "review-resubmitted")

    bureau.goto("/bureau/classes")
    bureau.get_by_role("link", name="审核").click()
    expect(bureau.get_by_text("3701002020000456")).to_be_visible()
    bureau.once("dialog", lambda dialog: dialog.accept())
    bureau.get_by_role("button", name="审核通过，开放报名").click()
    expect(bureau.get_by_role("status")).to_contain_text("已审核通过，班期已开放报名")
    shots.check_and_save(bureau, "review-approved")

    desk.reload()
    expect(desk.get_by_text("报名中")).to_be_visible()
    expect(desk.get_by_role("link", name="为本班扫码验券")).to_be_visible()
    shots.check_and_save(desk, "review-class-open")
    desk.get_by_role("link", name="班期结业").click()  # asked first; refused while the lessons are to come
    expect(desk.get_by_role("alert")).to_contain_text("还没有上，全部课次结束后才能结业")
    expect(desk.get_by_role("button", name="确认结业")).to_have_count(0)
    shots.check_and_save(desk, "complete-refused")

    class_id = db.session.scalar(select(TrainingClass.id))
    enrolment.enrol(db.session, db.session.get(Person, names["own"]), db.session.get(TrainingClass, class_id),
                    voucher_code=names["mine"])  # 孔秀兰 enrols on her phone with her own voucher
    db.session.close()
    bureau.goto("/bureau/issue")
    choose_template(bureau.get_by_label("定向券模板"), "济南市定向培训券")
    bureau.get_by_label("班期", exact=True).select_option(label=f"济南市历下区鲁班职业培训学校 · 焊工（四级）培训（{start}）")
    bureau.get_by_role("button", name="预览发放名单").click()
    expect(bureau.locator("#will-issue")).to_contain_text("将发放 1 张（花名册 2 人）")
    expect(bureau.locator("#skipped")).to_contain_text("孔*兰")
    expect(bureau.locator("#skipped")).to_contain_text(f"报名时已选用自己的培训券（尾号{names['mine'][-4:]}）")
    shots.check_and_save(bureau, "directed-preview")
    bureau.once("dialog", lambda dialog: dialog.accept())
    bureau.get_by_role("button", name="确认发放（1张）").click()
    expect(bureau.get_by_role("status")).to_contain_text("济南市定向培训券 发放结果：1 张已发放，1 人未发放")
    shots.check_and_save(bureau, "directed-issued")
    try:
        held = db.session.scalars(select(Voucher.person_id).where(Voucher.template_id == names["directed"])).all()
        assert held and names["own"] not in held
    finally:
        db.session.rollback()


def test_a_double_tap_on_a_form_sent_once_sends_it_once(page):
    """新建班期 and the other forms that create something (data-submit-once): a second tap while the
    first is on its way sends nothing more."""
    officer = f.staff("officer", institution_id=f.institution().id)
    username = officer.username
    commit()
    sign_in(page, username)
    page.goto("/institution/classes/new")

    # Which of two taps in a row would leave the page: the app's handler runs first, then this one
    # notes whether the app let it through (and keeps the page here, so that nothing is posted).
    sent = page.evaluate("""() => {
        const sent = [];
        window.addEventListener('submit', e => { sent.push(!e.defaultPrevented); e.preventDefault(); });
        const form = document.querySelector('form[data-submit-once]');
        form.requestSubmit(); form.requestSubmit();
        return sent; }""")

    assert sent == [True, False]
