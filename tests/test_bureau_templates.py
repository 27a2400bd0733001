"""制券: templates with every attribute, editable only while nothing is issued, closable, previewed."""
import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import AuditEvent, VoucherTemplate
from h5app.policies import ensure_policies

from . import factories as f
from .auth_support import staff_sign_in


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
    assert "劳动者看到的样子" in page and "¥1,500.00" in page and "领取后90天内须验券激活" in page
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "template.create")) == 1


@pytest.mark.parametrize("overrides,message", [
    ({"face_value": ""}, "面值券须填写面值（大于0元）"),
    ({"function_mode": "credential", "standard": ""}, "抵用券须填写补贴标准"),
    ({"claim_ends_on": "2026-12-01"}, "领取截止不能早于领取开始"),
    ({"valid_days": ""}, "请设置使用期限"),
    ({"name": ""}, "请填写券名称"),
])
def test_bad_templates_are_explained_and_not_saved(client, clerk, overrides, message):
    response = client.post("/bureau/templates/new", data=data(**overrides))
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(VoucherTemplate.id))) == 0


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
