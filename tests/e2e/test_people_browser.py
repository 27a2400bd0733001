"""People records in the browser (issue 18), as the people involved would go about it: the Shaoxing
bureau's clerk imports the social-insurance file on the 人员信息导入 page (a bad row among good ones),
watches the import finish and downloads the masked result file; a worker in that file signs in by
phone + SMS code, binds name and ID number, is matched to the imported record and claims the
Shaoxing general voucher (36 months of local unemployment insurance); a worker the file does not
name is told plainly that the bureau has no record of their insurance and what to do. Screenshots in
<artifacts>/screens-people/."""
import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from h5app.extensions import db
from h5app.identity import mask_id_number
from h5app.models import Person, Voucher
from h5app.timeutil import local_today

from .. import factories as f
from .conftest import CHROMIUM, commit, expect, staff_sign_in

SCREENS = "screens-people"
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="browser tests need Debian's chromium at /usr/bin/chromium "
                                  "(apt-get install -y chromium); it is not installed")

HEADER = ["身份证号", "姓名", "手机号", "户籍地", "常住地", "参保地", "参保月数", "重点群体", "信息日期"]
TEMPLATE = "绍兴市2026年通用职业培训券"


@pytest.fixture
def import_dir(server, tmp_path):
    server.app.config["IMPORT_DIR"] = str(tmp_path)
    yield tmp_path
    server.app.config.pop("IMPORT_DIR", None)


def sms_sign_in_and_bind(page, server, phone, name, id_number):
    page.goto("/")
    page.get_by_role("link", name="手机号验证码登录").click()
    page.get_by_label("手机号").fill(phone)
    page.get_by_role("button", name="获取验证码").click()
    page.wait_for_url("**/sms/verify*")
    sent = [text for to, text in server.app.extensions.get("sms_outbox", []) if to == phone]
    page.get_by_label("短信验证码").fill(re.search(r"\d{6}", sent[-1]).group())
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/bind*")
    page.get_by_label("真实姓名").fill(name)
    page.get_by_label("身份证号").fill(id_number)
    page.get_by_role("button", name="确认绑定").click()
    page.wait_for_url("**/worker/")


def test_bureau_import_then_an_sms_worker_claims_and_another_is_told_why_not(make_page, server, shots, import_dir):
    f.region("330600", "绍兴市", "shaoxing")
    f.region("330602", "越城区", "shaoxing", parent="330600")
    f.template(policy_code="shaoxing", name=TEMPLATE, face_value_fen=200000, stock=100)
    clerk = f.staff("bureau", name="何经办").username
    insured = f.valid_id_number(region="330602", born="19780312")
    not_in_file = f.valid_id_number(region="330602", born="19900506")
    as_of = (local_today() - timedelta(days=2)).isoformat()
    commit()

    out = io.StringIO()
    csv.writer(out).writerows([
        HEADER,
        [insured, "陈小燕", "", "330602", "330602", "330602", "52", "失业人员", as_of],
        [f.valid_id_number(region="330602"), "王建国", "", "330602", "", "越城区", "40", "", as_of],
        [insured[:17] + ("0" if insured[17] != "0" else "1"), "李四", "", "", "", "330602", "700", "", as_of],
    ])
    bureau = make_page()
    staff_sign_in(bureau, clerk, "/bureau/")
    bureau.get_by_role("link", name="人员信息导入").click()
    bureau.wait_for_url("**/bureau/people/import")
    shots.check_and_save(bureau, "import-page")
    bureau.get_by_label("人员信息文件（CSV 或 Excel）").set_input_files(
        {"name": "社保系统导出.csv", "mimeType": "text/csv", "buffer": out.getvalue().encode("gbk")})
    bureau.get_by_role("button", name="上传并导入").click()
    bureau.wait_for_url(re.compile(r".*/bureau/people/import/\d+$"))
    expect(bureau.get_by_text("导入完成")).to_be_visible()
    expect(bureau.locator("#created-count")).to_have_text("2")
    expect(bureau.locator("#rejected-count")).to_have_text("1")
    shots.check_and_save(bureau, "import-done")
    with bureau.expect_download() as download:
        bureau.get_by_role("link", name="下载结果文件（CSV）").click()
    with open(download.value.path(), encoding="utf-8-sig") as result:
        lines = list(csv.reader(result))
    assert lines[1][0] == "4" and "身份证号码校验位不正确" in lines[1][4] and "参保月数" in lines[1][4]
    assert insured[:17] not in lines[1][1]  # masked

    worker = make_page()
    sms_sign_in_and_bind(worker, server, "13805751234", "陈小燕", insured)
    worker.get_by_role("navigation", name="主导航").get_by_role("link", name="卡券中心").click()
    worker.wait_for_url("**/worker/cards")
    card = worker.locator(".voucher-offer").filter(has_text=TEMPLATE)
    expect(card).to_be_visible()
    shots.check_and_save(worker, "matched-worker-card-center")
    card.get_by_role("link", name="领取").click()
    expect(worker.get_by_text(mask_id_number(insured))).to_be_visible()
    worker.get_by_role("button", name="确认领取").click()
    worker.wait_for_url("**/worker/vouchers/*")
    expect(worker.get_by_role("status")).to_contain_text("领取成功")
    shots.check_and_save(worker, "matched-worker-claimed")
    worker.get_by_role("navigation", name="主导航").get_by_role("link", name="我的", exact=True).click()
    expect(worker.get_by_text("累计 52 个月")).to_be_visible()
    shots.check_and_save(worker, "matched-worker-me")

    other = make_page()
    sms_sign_in_and_bind(other, server, "13805755678", "赵明", not_in_file)
    other.get_by_role("navigation", name="主导航").get_by_role("link", name="卡券中心").click()
    other.wait_for_url("**/worker/cards")
    expect(other.get_by_text("人社部门尚未登记您的参保信息，如已参保请联系当地人社部门")).to_be_visible()
    expect(other.locator(".voucher-offer")).to_have_count(0)
    shots.check_and_save(other, "unmatched-worker-card-center")
    other.get_by_role("link", name=re.compile("查看其他暂不能领取的培训券")).click()
    expect(other.get_by_text(TEMPLATE)).to_be_visible()
    expect(other.get_by_text(re.compile("该券限绍兴市的劳动者领取，人社部门尚未登记您的参保信息"))).to_be_visible()
    assert "未登记" not in other.locator("main").inner_text().replace("尚未登记", "")
    shots.check_and_save(other, "unmatched-worker-why-not")

    try:
        matched = db.session.scalar(select(Person).where(Person.id_number == insured))
        assert (matched.verified_via, matched.phone, matched.insurance_months) == ("sms", "13805751234", 52)
        assert db.session.scalar(select(Voucher.status).where(Voucher.person_id == matched.id)) == "claimed"
    finally:
        db.session.rollback()
