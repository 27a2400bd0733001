"""核券人员: the officer adds, disables and resets verifiers; the first password is shown once and
must be changed; a verifier cannot manage staff; another institution's verifier is 404."""
import re

import pytest
from sqlalchemy import select

from h5app.extensions import db
from h5app.models import AuditEvent, StaffUser

from . import factories as f
from .auth_support import signed_in_staff, staff_sign_in


@pytest.fixture
def officer(client):
    return signed_in_staff(client, "officer")


def test_officer_adds_a_verifier_who_must_change_the_shown_password(app, client, officer):
    response = client.post("/institution/staff", data={"name": "前台小李", "username": "desk.li", "phone": ""})
    page = response.get_data(as_text=True)
    password = re.search(r'<code class="password[^"]*">([^<]+)</code>', page).group(1)
    user = db.session.scalar(select(StaffUser).where(StaffUser.username == "desk.li"))
    assert (user.role, user.institution_id, user.must_change_password) == ("verifier", officer.institution_id, True)
    assert user.check_password(password) and password not in user.password_hash
    assert client.get("/institution/staff").get_data(as_text=True).count(password) == 0  # shown once

    desk = app.test_client()
    desk.post("/login", data={"username": "desk.li", "password": password})
    assert desk.get("/institution/").headers["Location"].endswith("/password")


@pytest.mark.parametrize("data,message", [
    ({"name": "", "username": "abc"}, "请填写姓名"),
    ({"name": "小李", "username": "有中文"}, "用户名只能用"),
    ({"name": "小李", "username": "desk", "phone": "123"}, "11位手机号"),
])
def test_bad_verifier_forms_are_refused(client, officer, data, message):
    response = client.post("/institution/staff", data=data)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert db.session.scalar(select(StaffUser).where(StaffUser.role == "verifier")) is None


def test_a_taken_username_is_refused(client, officer):
    f.staff("bureau", username="taken")
    db.session.commit()
    response = client.post("/institution/staff", data={"name": "小李", "username": "taken"})
    assert response.status_code == 400 and "已被使用" in response.get_data(as_text=True)


def test_a_username_taken_but_for_its_case_is_refused(client, officer):
    """DESK1 beside desk1 would be two accounts nobody can tell apart."""
    f.staff("verifier", username="desk1", institution_id=officer.institution_id)
    db.session.commit()
    response = client.post("/institution/staff", data={"name": "小李", "username": "DESK1"})
    assert response.status_code == 400 and "已被使用" in response.get_data(as_text=True)


def test_disable_enable_and_reset_a_verifier(app, client, officer):
    verifier = f.staff("verifier", institution_id=officer.institution_id)
    db.session.commit()
    client.post(f"/institution/staff/{verifier.id}/disable")
    db.session.refresh(verifier)
    assert not verifier.active
    assert app.test_client().post("/login", data={"username": verifier.username, "password": f.PASSWORD}
                                  ).status_code == 400
    client.post(f"/institution/staff/{verifier.id}/enable")
    page = client.post(f"/institution/staff/{verifier.id}/reset").get_data(as_text=True)
    db.session.refresh(verifier)
    assert verifier.active and verifier.must_change_password and "初始密码" in page
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("staff.%"))
                                 .order_by(AuditEvent.id)).all()
    assert actions == ["staff.disable", "staff.enable", "staff.reset_password"]


def test_another_institutions_verifier_is_404(client, officer):
    theirs = f.staff("verifier")
    db.session.commit()
    assert client.post(f"/institution/staff/{theirs.id}/disable").status_code == 404
    db.session.refresh(theirs)
    assert theirs.active


def test_a_verifier_cannot_manage_staff(client, officer):
    verifier = f.staff("verifier", institution_id=officer.institution_id)
    colleague = f.staff("verifier", institution_id=officer.institution_id)
    db.session.commit()
    staff_sign_in(client, verifier)
    assert client.get("/institution/staff").status_code == 403
    assert client.post(f"/institution/staff/{colleague.id}/disable").status_code == 403
