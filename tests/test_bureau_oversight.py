"""发券 and 审计日志 in the bureau console."""
import re

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import Notification, Voucher
from h5app.vouchers import claim

from . import factories as f
from .auth_support import staff_sign_in


@pytest.fixture
def clerk(client):
    user = f.staff("bureau")
    db.session.commit()
    staff_sign_in(client, user)
    return user


def confirmation(preview) -> dict:
    """The hidden fields of a 定向发券 preview's confirm form."""
    html = preview.get_data(as_text=True)
    return {name: re.search(rf'name="{name}" type="hidden" value="([^"]*)"', html).group(1)
            for name in ("template_id", "class_id", "plan")}


def test_directed_issue_to_a_class_roster(client, clerk):
    template = f.directed_template(name="家政定向券")
    training_class = f.training_class(course_name="育婴员培训")
    people = [f.person(), f.person()]
    for person in people:
        f.enrol(training_class, person)
    db.session.commit()
    chosen = client.post("/bureau/issue", data={"kind": "directed", "template_id": template.id,
                                                "class_id": training_class.id})
    preview = client.get(chosen.headers["Location"])  # 定向发券 is previewed first (test_directed_issuance.py)
    assert "将发放 2 张" in preview.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Voucher.id))) == 0
    page = client.post("/bureau/issue/directed", data=confirmation(preview)).get_data(as_text=True)
    assert "2 张已发放" in page
    assert db.session.scalar(select(func.count(Voucher.id)).where(Voucher.status == "claimed")) == 2
    assert db.session.scalar(select(func.count(Notification.id))) == 2


def test_general_issue_with_a_live_count(client, clerk):
    template = f.template(name="通用券", audience="targeted", eligible_groups=[])
    f.person(groups=["graduate"])
    f.person(groups=["unemployed"])
    db.session.commit()
    assert client.get(f"/bureau/issue/count?template_id={template.id}&groups=graduate").get_json()["count"] == 1
    assert client.get(f"/bureau/issue/count?template_id={template.id}").get_json()["count"] == 2
    response = client.post("/bureau/issue/general", data={"template_id": template.id, "groups": ["graduate"],
                                                          "expected": 1})
    assert "已向 <strong id=\"offered-count\">1</strong> 人发放" in client.get(response.headers["Location"]).get_data(
        as_text=True)
    assert db.session.scalar(select(func.count(Voucher.id)).where(Voucher.status == "offered")) == 1


def test_issue_without_a_choice_is_explained(client, clerk):
    response = client.post("/bureau/issue", data={"kind": "directed", "template_id": "", "class_id": ""})
    assert response.status_code == 400 and "请选择定向券模板和班期" in response.get_data(as_text=True)


def test_another_regions_template_is_not_counted(client, clerk):
    f.region("500000", "重庆市")
    theirs = f.template(region_code="500000")
    db.session.commit()
    assert client.get(f"/bureau/issue/count?template_id={theirs.id}").status_code == 404


def test_audit_log_filters_by_code_and_by_person_shown_masked(client, clerk):
    worker = f.person(name="王建国")
    voucher = claim.claim(db.session, worker, f.template())
    other = claim.claim(db.session, f.person(), f.template(name="另一券"))
    page = client.get(f"/bureau/audit?code={voucher.code}").get_data(as_text=True)
    assert page.count("领券") >= 1 and "没有符合条件的记录" not in page
    by_person = client.get(f"/bureau/audit?id_number={worker.id_number}").get_data(as_text=True)
    assert worker.id_number not in by_person and worker.id_number[-4:] in by_person
    assert f'name="person" value="{worker.id}"' in by_person
    export = client.get(f"/bureau/audit.csv?person={worker.id}").get_data().decode("utf-8-sig")
    assert export.count("领券") == 1
    assert other.code  # a second person's claim exists and is filtered out above


def test_audit_log_explains_bad_filters(client, clerk):
    page = client.get("/bureau/audit?id_number=123&from=yesterday").get_data(as_text=True)
    assert "身份证号码应为18位" in page and "日期格式应为" in page


def test_the_home_counts_a_voucher_past_its_deadline_as_expired_before_any_job(client, clerk):
    from h5app.timeutil import utcnow
    from datetime import timedelta

    template = f.template()
    f.voucher(template, f.person(), "claimed", expires_at=utcnow() - timedelta(days=1))
    f.voucher(template, f.person(), "claimed", expires_at=utcnow() + timedelta(days=30))
    db.session.commit()

    page = client.get("/bureau/").get_data(as_text=True)

    assert "<li><strong>1</strong><span>已失效</span></li>" in page
    assert "<li><strong>1</strong><span>可使用</span></li>" in page
