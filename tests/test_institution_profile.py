"""机构信息: standing and strikes, a suspended institution sees why; the officer edits contacts and adds
check-in sites, each bad value explained."""
import pytest
from sqlalchemy import select

from h5app.extensions import db
from h5app.models import Site, Strike

from . import factories as f
from .auth_support import signed_in_staff, staff_sign_in


@pytest.fixture
def officer(client):
    return signed_in_staff(client, "officer")


def test_profile_shows_standing_and_sites(client, officer):
    db.session.add(Strike(institution_id=officer.institution_id, kind="quality", reason="抽查发现代签到"))
    db.session.commit()
    page = client.get("/institution/profile").get_data(as_text=True)
    assert "资格审核把关不严 0 次、培训质量问题 1 次" in page and "抽查发现代签到" in page and "签到半径300米" in page


def test_a_suspended_institution_sees_why(client, officer):
    officer.institution.status = "suspended"
    officer.institution.suspended_reason = "本年度累计3次资格审核把关不严"
    db.session.commit()
    assert "本年度累计3次资格审核把关不严" in client.get("/institution/").get_data(as_text=True)
    assert "已暂停验券资格" in client.get("/institution/profile").get_data(as_text=True)


def test_officer_adds_a_site(client, officer):
    response = client.post("/institution/profile", data={
        "site-name": "钱清教学点", "site-lat": "30.1012", "site-lng": "120.3921", "site-radius_m": "200",
        "site-submit": "添加培训地点"})
    assert response.status_code == 302
    assert db.session.scalar(select(Site).where(Site.name == "钱清教学点")).radius_m == 200


@pytest.mark.parametrize("data,message", [
    ({"site-name": "x", "site-lat": "95", "site-lng": "120", "site-radius_m": "200"}, "纬度应在-90到90之间"),
    ({"site-name": "x", "site-lat": "30", "site-lng": "120", "site-radius_m": "5"}, "签到半径应在50到2000米之间"),
    ({"site-name": "", "site-lat": "30", "site-lng": "120", "site-radius_m": "300"}, "请填写地点名称"),
])
def test_bad_sites_are_refused(client, officer, data, message):
    response = client.post("/institution/profile", data={**data, "site-submit": "添加培训地点"})
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert db.session.scalar(select(Site).where(Site.name == "x")) is None


def test_officer_edits_contacts_and_verifiers_cannot(client, officer):
    client.post("/institution/profile", data={"contact-address": "越城区新地址8号", "contact-phone": "0575-88001234",
                                              "contact-submit": "保存"})
    db.session.refresh(officer.institution)
    assert officer.institution.phone == "0575-88001234"
    verifier = f.staff("verifier", institution_id=officer.institution_id)
    db.session.commit()
    staff_sign_in(client, verifier)
    client.post("/institution/profile", data={"contact-address": "改掉", "contact-phone": "0575-1",
                                              "contact-submit": "保存"})
    db.session.refresh(officer.institution)
    assert officer.institution.address == "越城区新地址8号"
