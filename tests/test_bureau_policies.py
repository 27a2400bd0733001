"""地区政策 (PRODUCT.md §10): a province's administrator changes the policy its regions follow on a
page, audited; the rules read it at once; nobody else may, nor may a province change a policy
another province follows too."""
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from h5app.extensions import db
from h5app.models import AuditEvent, Policy
from h5app.models.vouchers import USED
from h5app.timeutil import utcnow
from h5app.vouchers.verify import yearly_limit_problem

from . import factories as f
from .auth_support import signed_in_staff, text_of


@pytest.fixture
def shaoxing():
    f.region("330000", "浙江省")
    region = f.region("330600", "绍兴市", "shaoxing")
    f.region("330602", "越城区", "shaoxing", parent="330600")
    db.session.commit()
    return region.policy


@pytest.fixture
def admin(client, shaoxing):
    return signed_in_staff(client, "bureau", region_code="330000", is_supervisor=True)


def form(policy: Policy, **changes) -> dict:
    """The page's form as it stands for `policy`, with `changes`."""
    data = {"uses_per_year": policy.uses_per_year or "", "activation_days": policy.activation_days or "",
            "valid_days_after_activation": policy.valid_days_after_activation or "",
            "min_insurance_months_general": policy.min_insurance_months_general or "",
            "attendance_percent": str(Decimal(policy.attendance_threshold) * 100),
            "exam_required": "y" if policy.exam_required else "",
            "pays_worker_for_general_certificate": "y" if policy.pays_worker_for_general_certificate else "",
            "attendance_by_time_present": "y" if policy.attendance_by_time_present else "",
            "eligibility_region_fields": list(policy.eligibility_region_fields or [])}
    data.update(changes)
    return {name: value for name, value in data.items() if value != ""}


def changes_recorded() -> list[AuditEvent]:
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == "policy.update")).all()


def test_the_province_admin_finds_the_policy_its_cities_follow(client, admin, shaoxing):
    home = text_of(client.get("/bureau/"))
    assert "地区政策" in home
    page = text_of(client.get("/bureau/policies"))
    assert "绍兴市规则" in page and "绍兴市、越城区" in page
    assert "每人每年用券（激活）次数上限" in page and "1次" in page and "60%" in page


def test_a_change_is_saved_audited_and_applies_to_the_next_use(client, admin, shaoxing):
    worker = f.person()
    f.voucher(f.template("shaoxing", name="上次的券"), worker, USED, claimed_at=f.earlier_this_year(days=3),
              used_at=f.earlier_this_year(days=1))
    second = f.voucher(f.template("shaoxing", name="这次的券"), worker, "claimed", claimed_at=utcnow(), expires_at=utcnow() + timedelta(days=30))
    training_class = f.training_class()
    db.session.commit()
    assert yearly_limit_problem(db.session, second, training_class, utcnow())  # one a year, used

    response = client.post(f"/bureau/policies/{shaoxing.id}", data=form(shaoxing, uses_per_year="2",
                                                                       attendance_percent="70"))
    assert response.status_code == 302
    db.session.expire_all()
    policy = db.session.get(Policy, shaoxing.id)
    assert (policy.uses_per_year, policy.attendance_threshold) == (2, Decimal("0.700"))
    assert yearly_limit_problem(db.session, db.session.merge(second), training_class, utcnow()) is None
    [event] = changes_recorded()
    assert (event.actor_id, event.region_code) == (admin.id, "330000")
    assert event.details == {"policy": "shaoxing", "changes": {"uses_per_year": [1, 2],
                                                               "attendance_threshold": ["0.600", "0.700"]}}
    page = text_of(client.get(f"/bureau/policies/{shaoxing.id}"))
    assert "每人每年用券（激活）次数上限：1次 → 2次" in page and "补贴所需打卡率（%）：60% → 70%" in page
    assert "修改地区政策" in text_of(client.get("/bureau/audit"))


def test_saving_the_policy_unchanged_records_nothing(client, admin, shaoxing):
    response = client.post(f"/bureau/policies/{shaoxing.id}", data=form(shaoxing), follow_redirects=True)
    assert "没有修改" in text_of(response)
    assert changes_recorded() == []


@pytest.mark.parametrize("changes, words", [
    ({"attendance_percent": "150"}, "打卡率应在0%至100%之间"),
    ({"attendance_percent": ""}, "请填写补贴所需打卡率"),
    ({"uses_per_year": "0"}, "次数应在1至100之间"),
    ({"activation_days": "99999"}, "天数应在1至3650之间"),
    ({"uses_per_year": "两次"}, "不是有效的整数"),
])
def test_a_bad_setting_is_explained_and_nothing_changes(client, admin, shaoxing, changes, words):
    response = client.post(f"/bureau/policies/{shaoxing.id}", data=form(shaoxing, **changes))
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Policy, shaoxing.id).uses_per_year == 1 and changes_recorded() == []
    assert words in text_of(response)


def test_a_policy_another_province_follows_too_is_shown_not_changed(client, admin, shaoxing):
    f.region("320200", "无锡市", "shaoxing")
    db.session.commit()
    page = text_of(client.get(f"/bureau/policies/{shaoxing.id}"))
    assert "也适用于本省以外的地区（无锡市）" in page and "保存政策" not in page
    client.post(f"/bureau/policies/{shaoxing.id}", data=form(shaoxing, uses_per_year="5"))
    db.session.expire_all()
    assert db.session.get(Policy, shaoxing.id).uses_per_year == 1 and changes_recorded() == []


def test_a_policy_no_region_of_the_province_follows_is_not_found(client, admin):
    chongqing = f.region("500000", "重庆市", "chongqing").policy
    db.session.commit()
    assert client.get(f"/bureau/policies/{chongqing.id}").status_code == 404


@pytest.mark.parametrize("values", [dict(region_code="330600", is_supervisor=True), dict(region_code="330000")])
def test_only_a_provinces_supervisor_keeps_its_policies(client, shaoxing, values):
    signed_in_staff(client, "bureau", **values)
    assert "地区政策" not in text_of(client.get("/bureau/"))
    assert client.get("/bureau/policies").status_code == 403
    assert client.post(f"/bureau/policies/{shaoxing.id}", data=form(shaoxing, uses_per_year="5")).status_code == 403
    db.session.expire_all()
    assert db.session.get(Policy, shaoxing.id).uses_per_year == 1


def test_the_default_policy_is_not_a_provinces_to_change(client, admin):
    default = f.region("330700", "金华市", "default").policy
    db.session.commit()
    page = text_of(client.get(f"/bureau/policies/{default.id}"))
    assert "通用规则是全国未配置政策地区的默认规则" in page and "保存政策" not in page
    client.post(f"/bureau/policies/{default.id}", data=form(default, uses_per_year="1"))
    db.session.expire_all()
    assert db.session.get(Policy, default.id).uses_per_year is None and changes_recorded() == []


def test_a_policy_another_provinces_template_follows_is_not_changed(client, admin, shaoxing):
    f.region("370100", "济南市", "shandong")
    f.template("shaoxing", name="济南按绍兴规则的旧券", region_code="370100")
    db.session.commit()
    page = text_of(client.get(f"/bureau/policies/{shaoxing.id}"))
    assert "本省以外地区的券模板也按该政策执行" in page
    client.post(f"/bureau/policies/{shaoxing.id}", data=form(shaoxing, uses_per_year="5"))
    db.session.expire_all()
    assert db.session.get(Policy, shaoxing.id).uses_per_year == 1 and changes_recorded() == []
