"""人社部门工作人员: a supervisor adds clerks (first password shown once), disables and resets them; a
clerk cannot; a district clerk sees only the district's data."""
import re

import pytest
from sqlalchemy import select

from h5app.extensions import db
from h5app.models import StaffUser

from . import factories as f
from .auth_support import staff_sign_in


@pytest.fixture
def supervisor(client):
    f.region("330602", "越城区", parent="330600")
    user = f.staff("bureau", is_supervisor=True)
    db.session.commit()
    staff_sign_in(client, user)
    return user


def test_supervisor_adds_a_district_clerk_with_a_one_time_password(app, client, supervisor):
    page = client.post("/bureau/staff", data={"name": "何经办", "username": "clerk.he", "region_code": "330602"}
                       ).get_data(as_text=True)
    password = re.search(r'<code class="password[^"]*">([^<]+)</code>', page).group(1)
    clerk = db.session.scalar(select(StaffUser).where(StaffUser.username == "clerk.he"))
    assert (clerk.region_code, clerk.must_change_password, clerk.is_supervisor) == ("330602", True, False)
    assert clerk.check_password(password)


def test_a_clerk_sees_only_the_districts_data(app, supervisor):
    clerk = f.staff("bureau", region_code="330602")
    f.region("330603", "柯桥区", parent="330600")
    mine = f.training_class(f.institution(region_code="330602"))
    theirs = f.training_class(f.institution(region_code="330603"))
    for training_class in (mine, theirs):
        f.voucher(f.template(), f.person(), "used", class_id=training_class.id,
                  institution_id=training_class.institution_id)
    db.session.commit()
    browser = app.test_client()
    staff_sign_in(browser, clerk)
    page = browser.get("/bureau/institutions").get_data(as_text=True)
    assert mine.institution.name in page and theirs.institution.name not in page
    assert browser.get(f"/bureau/institutions/{theirs.institution_id}").status_code == 404


def test_a_clerk_cannot_manage_staff(client, supervisor):
    clerk = f.staff("bureau")
    colleague = f.staff("bureau")
    db.session.commit()
    staff_sign_in(client, clerk)
    assert client.get("/bureau/staff").status_code == 403
    assert client.post(f"/bureau/staff/{colleague.id}/disable").status_code == 403


def test_supervisor_disables_and_resets_a_clerk(client, supervisor):
    clerk = f.staff("bureau")
    db.session.commit()
    client.post(f"/bureau/staff/{clerk.id}/disable")
    db.session.refresh(clerk)
    assert not clerk.active
    assert "初始密码" in client.post(f"/bureau/staff/{clerk.id}/reset").get_data(as_text=True)


def test_staff_of_another_region_is_404(client, supervisor):
    f.region("500000", "重庆市")
    outsider = f.staff("bureau", region_code="500000")
    db.session.commit()
    assert client.post(f"/bureau/staff/{outsider.id}/disable").status_code == 404
