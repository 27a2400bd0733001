"""通用券 to a matched population, as a bureau clerk does it on a phone (issue 18): 发券 → pick the
Shaoxing general template → the live count follows each filter (地区, 就业状态) → 预览 with a sample of
masked people → 确认 (asked first) → the background task's page until it is done → 人员信息: one of
the people by the full ID number, the record with its regions and the offer just made. Then the
same issuance without JavaScript: the count on the 预览 page, confirmed with no script at all.
Every page is checked at 375 px and saved under <artifacts>/screens-population/."""
import re
from datetime import date

import pytest
from sqlalchemy import select

from h5app.models import AuditEvent, Voucher, VoucherTemplate

from .. import factories as f
from .conftest import CHROMIUM, choose_template, commit, expect, reading, save, staff_sign_in

SCREENS = "screens-population"
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="browser tests need Debian's chromium at /usr/bin/chromium "
                                  "(apt-get install -y chromium); it is not installed")

TEMPLATE = "2026年绍兴市通用职业技能培训券"
RECORD = dict(record_as_of=date(2026, 11, 30), record_source="import")


@pytest.fixture
def office():
    """绍兴市 (Shaoxing policy: 36 months of local unemployment insurance, read where it is paid) with
    越城区 and 柯桥区; the general template; people on record: six insured in 越城区 (four of them
    registered unemployed there), three in 柯桥区, two short of 36 months, one already holding it."""
    f.region("330600", "绍兴市", "shaoxing")
    f.region("330602", "越城区", "shaoxing", parent="330600")
    f.region("330603", "柯桥区", "shaoxing", parent="330600")
    clerk = f.staff("bureau", name="何经办")
    template = f.template("shaoxing", name=TEMPLATE, stock=100, audience="targeted")
    yuecheng = []
    for n, name in enumerate(("陈国华", "林秀英", "黄志强", "周丽娟", "吴建平", "徐春梅")):
        registered = "330602" if n < 4 else None
        yuecheng.append(f.person(name=name, groups=["unemployed"], insurance_months=40 + n,
                                 insurance_region_code="330602", region_code="330602",
                                 unemployment_registered_region_code=registered, **RECORD))
    for name in ("朱晓燕", "马俊杰", "胡玉兰"):
        f.person(name=name, groups=["graduate"], insurance_months=48, insurance_region_code="330603",
                 region_code="330603", **RECORD)
    for name in ("郭新民", "何小红"):
        f.person(name=name, groups=["unemployed"], insurance_months=20, insurance_region_code="330602",
                 region_code="330602", **RECORD)
    holder = f.person(name="罗建军", groups=["unemployed"], insurance_months=60, insurance_region_code="330602",
                      region_code="330602", unemployment_registered_region_code="330602", **RECORD)
    f.voucher(template, holder, "claimed")
    seeded = dict(clerk=clerk.username, first=yuecheng[0].id_number, first_name=yuecheng[0].name,
                  registered={p.id for p in yuecheng[:4]})
    commit()
    return seeded


def offered(template_name=TEMPLATE) -> set[int]:
    with reading() as s:
        return set(s.scalars(select(Voucher.person_id).join(VoucherTemplate)
                             .where(VoucherTemplate.name == template_name, Voucher.status == "offered")))


def test_bureau_issues_a_general_template_to_a_filtered_population(page, shots, office):
    staff_sign_in(page, office["clerk"], "/bureau/")
    page.get_by_role("link", name="发券").click()
    page.wait_for_url("**/bureau/issue")
    page.wait_for_load_state("load")  # the live count's script runs deferred
    general = page.locator("#general-issue")
    count = page.locator("#population-count")
    choose_template(general.get_by_label("通用券模板"), TEMPLATE)
    expect(count).to_have_text("符合条件的人数：9 人（另有 1 人已持有该券，不再发放）")  # 36 months and more
    general.get_by_label("地区（人员信息中的地区在此范围内）").select_option(label="越城区")
    expect(count).to_have_text("符合条件的人数：6 人（另有 1 人已持有该券，不再发放）")
    general.get_by_label("就业状态").select_option(label="已办理失业登记")
    expect(count).to_have_text("符合条件的人数：4 人（另有 1 人已持有该券，不再发放）")
    general.get_by_label("失业保险缴费月数不少于（选填）").fill("42")
    expect(count).to_have_text("符合条件的人数：2 人（另有 1 人已持有该券，不再发放）")
    general.get_by_label("失业保险缴费月数不少于（选填）").fill("")
    expect(count).to_have_text("符合条件的人数：4 人（另有 1 人已持有该券，不再发放）")
    save(shots, page, "issue-filters-live-count")

    general.get_by_role("button", name="预览").click()
    page.wait_for_url("**/bureau/issue/general?**")
    expect(page.locator("#preview-count")).to_have_text("4")
    preview = page.locator("#population-preview")
    expect(preview).to_contain_text("发放条件：地区：越城区；已办理失业登记")
    rows = preview.locator("tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text("陈*华")
    expect(rows.first).to_contain_text("参保地：越城区")
    text = preview.inner_text()
    assert office["first"] not in text and office["first_name"] not in text
    assert re.search(r"3306\*{10}\w{4}", text) and re.search(r"139\*{4}\d{4}", text)
    save(shots, page, "preview-sample")

    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="确认向4人发放").click()  # asked first; 取消 issues nothing
    expect(page.locator("#preview-count")).to_be_visible()
    assert asked and f"确定向这4人发放“{TEMPLATE}”吗" in asked[0]
    assert offered() == set()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="确认向4人发放").click()
    page.wait_for_url("**/bureau/issue/tasks/*")
    expect(page.get_by_role("status")).to_contain_text("发放完成：已向 4 人发放，1 人已持有该券未重复发放")
    expect(page.get_by_role("status")).to_contain_text("未配置短信通知网关，未发送短信（4人登记了手机号）")
    save(shots, page, "issue-done")
    assert offered() == office["registered"]

    # The same preview again: the four now hold it, nobody is offered twice.
    page.go_back()
    page.reload()
    expect(page.locator("#population-preview")).to_contain_text("没有符合条件且尚未持有该券的人员（5人已持有该券）")
    expect(page.get_by_role("button", name=re.compile("确认向"))).to_have_count(0)
    save(shots, page, "preview-again-nobody-left")

    # 人员信息: one of them, by the full ID number.
    page.goto("/bureau/")
    page.get_by_role("link", name="人员信息", exact=True).click()
    page.get_by_label("身份证号码").fill("123")
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_text("身份证号码应为18位")).to_be_visible()
    save(shots, page, "people-bad-number")
    page.get_by_label("身份证号码").fill(office["first"])
    page.get_by_role("button", name="查询").click()
    page.wait_for_url(re.compile(r".*/bureau/people/\d+$"))
    assert office["first"] not in page.url
    body = page.locator("main").inner_text()
    assert office["first"] not in body and office["first_name"] not in body
    for words in ("参保地\n越城区（330602）", "失业登记地\n越城区（330602）", "失业保险缴费月数\n40个月",
                  "信息日期 2026-11-30 · 来源 人员信息导入", TEMPLATE, "待领取"):
        assert words in body, words
    save(shots, page, "person-record")
    with reading() as s:
        views = s.scalars(select(AuditEvent.actor_label).where(AuditEvent.action == "person.view")).all()
        assert views == [f"人社部门 {office['clerk']}"]


def test_the_same_issuance_works_without_javascript(make_page, shots, office):
    page = make_page(java_script_enabled=False)
    staff_sign_in(page, office["clerk"], "/bureau/")
    page.goto("/bureau/issue")
    general = page.locator("#general-issue")
    choose_template(general.get_by_label("通用券模板"), TEMPLATE)
    general.get_by_label("地区（人员信息中的地区在此范围内）").select_option(label="柯桥区")
    general.get_by_role("button", name="预览").click()
    expect(page.locator("#preview-count")).to_have_text("3")
    save(shots, page, "nojs-preview")
    page.get_by_role("button", name="确认向3人发放").click()  # no script: no confirm dialog either
    page.wait_for_url("**/bureau/issue/tasks/*")
    expect(page.get_by_role("status")).to_contain_text("发放完成：已向 3 人发放")
    save(shots, page, "nojs-done")
    assert len(offered()) == 3
