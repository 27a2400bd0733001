"""培训机构 in the bureau console: onboarding by form and by CSV (all or nothing, every bad row named),
officer accounts with a first password shown once; strikes suspend at three, reinstatement needs a reason."""
import io
import re

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import Institution, StaffUser, Strike

from . import factories as f
from .auth_support import staff_sign_in


@pytest.fixture
def clerk(client):
    f.region("330602", "越城区", parent="330600")
    user = f.staff("bureau")
    db.session.commit()
    staff_sign_in(client, user)
    return user


def row(**values):
    return {"name": "越城职业培训学校", "code": "3306101", "region_code": "330602", "address": "越城区解放路1号",
            "phone": "0575-88001111", "type": "private_school", "officer_name": "周专员",
            "officer_id_number": f.valid_id_number(), "sites": "30.0023,120.5810", **values}


def test_onboarding_one_institution_creates_its_officer_with_a_one_time_password(app, client, clerk):
    page = client.post("/bureau/institutions", data=row()).get_data(as_text=True)
    password = re.search(r'<code class="password[^"]*">([^<]+)</code>', page).group(1)
    institution = db.session.scalar(select(Institution).where(Institution.code == "3306101"))
    officer = db.session.scalar(select(StaffUser).where(StaffUser.institution_id == institution.id))
    assert (officer.username, officer.role, officer.must_change_password) == ("officer_3306101", "officer", True)
    assert officer.check_password(password) and len(institution.sites) == 1
    assert password not in client.get("/bureau/institutions").get_data(as_text=True)


def test_a_csv_batch_is_all_or_nothing_with_every_bad_row(client, clerk):
    header = "机构名称,行政区划编码,机构地址,机构电话,机构编码,机构类型,机构专员姓名,机构专员身份证号码,培训机构经纬度\n"
    good = f"甲学校,330602,越城区1号,0575-88000001,3306201,民办职业培训学校,周专员,{f.valid_id_number()},30.0,120.5\n"
    bad = "乙学校,999999,越城区2号,0575-88000002,3306201,火星学校,周3,330602198501010000,北纬30度\n"
    response = client.post("/bureau/institutions", data={"file": (io.BytesIO((header + good + bad).encode()), "i.csv")},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    for message in ("行政区划编码不存在", "重复", "机构类型应为", "姓名格式不正确", "校验位不正确", "请填写培训地点经纬度"):
        assert message in page, message
    assert "第3行" in page
    assert db.session.scalar(select(func.count(Institution.id))) == 0


def test_codes_differing_only_in_case_are_one_institution(client, clerk):
    """Officers sign in by a case-blind username (officer_ZXA001): two such codes would share one."""
    header = "机构名称,行政区划编码,机构地址,机构电话,机构编码,机构专员姓名,机构专员身份证号码,培训机构经纬度\n"
    line = "{},330602,越城区1号,0575-88000001,{},周专员,{},30.0,120.5\n"
    batch = header + line.format("甲学校", "ZXA001", f.valid_id_number()) + line.format("乙学校", "zxa001", f.valid_id_number())
    response = client.post("/bureau/institutions", data={"file": (io.BytesIO(batch.encode()), "i.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and "机构编码与第2行重复（不区分大小写）" in response.get_data(as_text=True)
    client.post("/bureau/institutions", data=row(code="ZXA001"))
    again = client.post("/bureau/institutions", data=row(code="Zxa001", name="另一学校"))
    assert "该机构编码已存在（不区分大小写）" in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Institution.id))) == 1


def test_a_code_whose_officer_username_is_taken_is_refused(client, clerk):
    f.staff("bureau", username="OFFICER_ZXB002")
    db.session.commit()
    response = client.post("/bureau/institutions", data=row(code="zxb002"))
    assert "该机构编码对应的专员账号 officer_zxb002 已被使用" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Institution.id))) == 0


def test_a_good_csv_batch_with_two_sites(client, clerk):
    header = "机构名称,行政区划编码,机构地址,机构电话,机构编码,机构专员姓名,机构专员身份证号码,培训机构经纬度\n"
    line = f"甲学校,330602,越城区1号,0575-88000001,3306301,周专员,{f.valid_id_number()},\"30.0,120.5;30.1,120.6\"\n"
    client.post("/bureau/institutions", data={"file": (io.BytesIO((header + line).encode()), "i.csv")},
                content_type="multipart/form-data")
    institution = db.session.scalar(select(Institution))
    assert institution.code == "3306301" and len(institution.sites) == 2


def test_an_institution_outside_my_region_cannot_be_added(client, clerk):
    f.region("500103", "渝中区", parent="500000")
    db.session.commit()
    page = client.post("/bureau/institutions", data=row(region_code="500103")).get_data(as_text=True)
    assert "只能添加本地区的培训机构" in page
    assert db.session.scalar(select(func.count(Institution.id))) == 0


def test_three_strikes_suspend_and_reinstatement_needs_a_reason(client, clerk):
    institution = f.institution()
    db.session.commit()
    for n in range(3):
        client.post(f"/bureau/institutions/{institution.id}",
                    data={"action": "strike", "kind": "quality", "reason": f"抽查问题{n}"})
    db.session.refresh(institution)
    assert institution.is_suspended and db.session.scalar(select(func.count(Strike.id))) == 3
    client.post(f"/bureau/institutions/{institution.id}", data={"action": "reinstate", "reason": ""})
    assert "请填写恢复原因" in client.get(f"/bureau/institutions/{institution.id}").get_data(as_text=True)
    client.post(f"/bureau/institutions/{institution.id}", data={"action": "reinstate", "reason": "整改验收合格"})
    db.session.refresh(institution)
    assert not institution.is_suspended


def test_another_regions_institution_is_404(client, clerk):
    theirs = f.institution(region_code="500103")
    db.session.commit()
    assert client.get(f"/bureau/institutions/{theirs.id}").status_code == 404
    assert client.post(f"/bureau/institutions/{theirs.id}", data={"action": "strike", "kind": "quality",
                                                                   "reason": "x"}).status_code == 404
