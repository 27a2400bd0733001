"""制券: templates with every attribute, editable only while nothing is issued (a template closed in
another tab is a Chinese 409 page), closable, previewed, and a draft put in force (生效) from its
page as through the API — unless it was closed meanwhile or its claim window has passed."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import AuditEvent, VoucherTemplate
from h5app.models.vouchers import TEMPLATE_ACTIVE, TEMPLATE_CLOSED, TEMPLATE_DRAFT
from h5app.policies import ensure_policies
from h5app.timeutil import local_today

from . import factories as f
from .auth_support import staff_sign_in
from .page_support import assert_chinese_conflict_page


@pytest.fixture
def clerk(client):
    f.region("330600", "绍兴市", "shaoxing")
    user = f.staff("bureau")
    db.session.commit()
    staff_sign_in(client, user)
    return user


def data(**overrides):
    policy = ensure_policies(db.session)["shaoxing"]
    return {"name": "2027年就业技能培训券", "voucher_type": "就业技能培训券", "region_code": "330600",
            "policy_id": str(policy.id), "function_mode": "face_value", "distribution_mode": "general",
            "audience": "open", "face_value": "1500", "standard": "1200", "eligible_groups": ["unemployed"],
            "project_types": ["employment_skills"], "claim_starts_on": "2027-01-01", "claim_ends_on": "2027-03-31",
            "valid_days": "180", "stock": "500", **overrides}


def test_a_template_is_created_as_a_draft_and_previewed(client, clerk):
    response = client.post("/bureau/templates/new", data=data())
    template = db.session.scalar(select(VoucherTemplate))
    assert response.status_code == 302 and template.status == "draft"
    assert (template.face_value_fen, template.standard_fen, template.eligible_groups, template.stock) == (
        150000, 120000, ["unemployed"], 500)
    page = client.get(f"/bureau/templates/{template.id}").get_data(as_text=True)
    assert "劳动者看到的样子" in page and "¥1,500.00" in page and "领取后90天内须到培训机构验券" in page
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "template.create")) == 1


@pytest.mark.parametrize("overrides,message", [
    ({"face_value": ""}, "面值券须填写面值（大于0元）"),
    ({"function_mode": "credential", "standard": ""}, "抵用券须填写补贴标准"),
    ({"function_mode": "credential", "face_value": "1800"}, "抵用券不设面值，请清空面值"),
    ({"claim_ends_on": "2026-12-01"}, "领取截止不能早于领取开始"),
    ({"valid_days": ""}, "请设置使用期限"),
    ({"name": ""}, "请填写券名称"),
])
def test_bad_templates_are_explained_and_not_saved(client, clerk, overrides, message):
    response = client.post("/bureau/templates/new", data=data(**overrides))
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(VoucherTemplate.id))) == 0


@pytest.mark.parametrize("overrides, said, not_said", [
    ({"face_value": "12.345"}, "金额最多到分", "金额应在0至"),
    ({"face_value": "一千"}, "请填写金额（元）", "面值券须填写面值"),
    ({"stock": "2.5"}, "不是有效的整数", "发放数量"),
])
def test_a_value_that_cannot_be_read_is_told_once(client, clerk, overrides, said, not_said):
    """Not also the range or 'missing' message the unread value would otherwise set off."""
    page = client.post("/bureau/templates/new", data=data(**overrides)).get_data(as_text=True)
    errors = " ".join(re.findall(r'class="field-error"[^>]*>([^<]+)<', page))
    assert said in errors and not_said not in errors, errors


def test_a_bad_template_form_lists_every_problem_at_the_top_with_a_link_to_the_field(client, clerk):
    page = client.post("/bureau/templates/new", data=data(name="", claim_ends_on="2026-12-01")).get_data(as_text=True)
    summary = page[page.index("error-summary"):page.index("</div>", page.index("error-summary"))]
    assert "有 2 项需要修改" in summary
    assert 'href="#name"' in summary and 'href="#claim_ends_on"' in summary and "领取截止不能早于领取开始" in summary


def test_a_template_cannot_be_edited_once_issued_and_can_be_closed(client, clerk):
    client.post("/bureau/templates/new", data=data())
    template = db.session.scalar(select(VoucherTemplate))
    f.voucher(template, f.person(), "claimed")
    db.session.commit()
    assert client.post(f"/bureau/templates/{template.id}", data=data(name="改名")).status_code == 409
    client.post(f"/bureau/templates/{template.id}/close")
    db.session.refresh(template)
    assert (template.name, template.status) == ("2027年就业技能培训券", "closed")


def test_a_draft_template_can_be_edited(client, clerk):
    client.post("/bureau/templates/new", data=data())
    template = db.session.scalar(select(VoucherTemplate))
    client.post(f"/bureau/templates/{template.id}", data=data(name="改名后的券"))
    db.session.refresh(template)
    assert template.name == "改名后的券"


def test_a_template_outside_my_region_cannot_be_made_or_seen(client, clerk):
    f.region("500000", "重庆市")
    theirs = f.template(region_code="500000")
    db.session.commit()
    assert client.post("/bureau/templates/new", data=data(region_code="500000")).status_code == 400
    assert client.get(f"/bureau/templates/{theirs.id}").status_code == 404


def test_the_policy_choices_are_the_rules_in_force_in_the_bureaus_own_area(client, clerk):
    f.region("500000", "重庆市", "chongqing")
    f.region("320200", "无锡市", "wuxi")
    db.session.commit()
    page = client.get("/bureau/templates/new").get_data(as_text=True)
    choices = page[page.index('id="policy_id"'):page.index("</select>", page.index('id="policy_id"'))]
    shaoxing = ensure_policies(db.session)["shaoxing"]
    assert f'value="{shaoxing.id}" selected' in choices or f'selected value="{shaoxing.id}"' in choices
    assert choices.count("<option") == 1  # not 重庆's, not 无锡's, not the default the region does not follow


def test_another_provinces_policy_is_refused_and_nothing_is_saved(client, clerk):
    chongqing = ensure_policies(db.session)["chongqing"]
    response = client.post("/bureau/templates/new", data=data(policy_id=str(chongqing.id)))
    assert response.status_code == 400
    assert db.session.scalar(select(func.count(VoucherTemplate.id))) == 0


# --- a draft changed in another tab; 生效 (put in force) from the template's page --------------------

def open_draft(**values):
    """A draft general template for open claiming (符合条件者均可领取，领完为止), claimable now."""
    template = f.template(name="2027年就业技能培训券", status=TEMPLATE_DRAFT, audience="open", **values)
    db.session.commit()
    return template


def activations():
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == "template.activate")).all()


def test_saving_a_template_closed_in_another_tab_shows_a_chinese_page(client, clerk):
    template = open_draft()
    template.status = TEMPLATE_CLOSED
    db.session.commit()
    assert_chinese_conflict_page(client.post(f"/bureau/templates/{template.id}", data={"name": "改名"}))


def test_a_draft_open_template_is_put_in_force_from_its_page_and_audited_as_the_apis(client, clerk):
    template = open_draft()
    page = client.get(f"/bureau/templates/{template.id}").get_data(as_text=True)
    assert re.search(rf'<form method="post" action="/bureau/templates/{template.id}/activation"\s+'
                     r'data-confirm="确定让“2027年就业技能培训券”生效吗？[^"]*卡券中心领取[^"]*">.*?生效（开始发放）</button>',
                     page, re.S)

    response = client.post(f"/bureau/templates/{template.id}/activation")

    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(type(template), template.id).status == TEMPLATE_ACTIVE
    [event] = activations()
    assert (event.details, event.region_code, event.actor_id) == (
        {"template_id": template.id, "from": TEMPLATE_DRAFT}, "330600", clerk.id)
    after = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "券模板已生效" in after and "卡券中心领取" in after and "生效（开始发放）" not in after


def test_putting_in_force_a_template_closed_in_another_tab_is_refused_in_words(client, clerk):
    template = open_draft()
    client.get(f"/bureau/templates/{template.id}")
    template.status = TEMPLATE_CLOSED  # closed in another tab
    db.session.commit()

    response = client.post(f"/bureau/templates/{template.id}/activation")

    assert response.status_code == 409
    assert "该券模板已关闭，不能再启用" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(type(template), template.id).status == TEMPLATE_CLOSED and activations() == []


def test_a_lapsed_draft_offers_no_button_and_its_activation_is_refused_in_words(client, clerk):
    today = local_today()
    template = open_draft(claim_starts_on=today - timedelta(days=40), claim_ends_on=today - timedelta(days=1))
    page = client.get(f"/bureau/templates/{template.id}").get_data(as_text=True)
    assert "生效（开始发放）" not in page and "不能再生效" in page

    response = client.post(f"/bureau/templates/{template.id}/activation")

    text = response.get_data(as_text=True)
    assert response.status_code == 409 and "领取时间已于" in text and "不能再启用" in text
    assert 'value="2027年就业技能培训券"' in text  # the edit form shows the template, not the empty post
    db.session.expire_all()
    assert db.session.get(type(template), template.id).status == TEMPLATE_DRAFT and activations() == []


def test_putting_in_force_needs_the_pages_csrf_token(make_app, clerk):
    template_id = open_draft().id
    client = make_app(WTF_CSRF_ENABLED=True).test_client()
    staff_sign_in(client, clerk)
    db.session.rollback()  # the other app's requests must not wait for this session's SQLite lock

    refused = client.post(f"/bureau/templates/{template_id}/activation")

    assert refused.status_code == 400 and "页面已过期" in refused.get_data(as_text=True)
    page = client.get(f"/bureau/templates/{template_id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post(f"/bureau/templates/{template_id}/activation", data={"csrf_token": token}).status_code == 302
    assert [e.details["from"] for e in activations()] == [TEMPLATE_DRAFT]  # once: the refused post changed nothing


def test_another_regions_draft_cannot_be_put_in_force(client, clerk):
    f.region("370100", "济南市")
    theirs = f.template(region_code="370100", status=TEMPLATE_DRAFT)
    db.session.commit()
    assert client.post(f"/bureau/templates/{theirs.id}/activation").status_code == 404
    db.session.expire_all()
    assert db.session.get(type(theirs), theirs.id).status == TEMPLATE_DRAFT


def test_the_type_field_offers_the_types_the_area_already_uses(client, clerk):
    f.template(name="2026年就业技能培训券", voucher_type="就业技能培训券")
    f.template(name="外省的券", voucher_type="外省类型", region_code="500000")
    db.session.commit()
    page = client.get("/bureau/templates/new").get_data(as_text=True)
    listed = page[page.index('<datalist id="voucher-types">'):page.index("</datalist>")]
    assert '<option value="就业技能培训券">' in listed and "外省类型" not in listed
    assert 'list="voucher-types"' in page


def test_the_list_says_when_an_active_template_no_longer_gives_out_vouchers(client, clerk):
    today = local_today()
    f.template(name="进行中的券")
    f.template(name="过期的券", claim_starts_on=today - timedelta(days=60), claim_ends_on=today - timedelta(days=1))
    f.template(name="领完的券", stock=3, claimed_count=3)
    db.session.commit()
    page = client.get("/bureau/templates").get_data(as_text=True)
    status = {name: re.search(rf"{name}.*?data-label=\"状态\">([^<]+)<", page, re.S).group(1)
              for name in ("进行中的券", "过期的券", "领完的券")}
    assert status == {"进行中的券": "发放中", "过期的券": "领取已截止", "领完的券": "已领完"}
