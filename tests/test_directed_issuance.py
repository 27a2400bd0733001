"""定向发券 to a class roster goes only to those who hold no voucher for the class yet, and the bureau
sees who gets one and who is skipped, and why, before it confirms (issue 19). The defect it fixes:
a worker who enrolled with her own voucher got a directed one too (3 issued for a roster of 2), and
the officer's trainee list showed that one in place of hers. A class past 截止报名 still gets them;
a cancelled one does not, and its preview says so."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import Notification, Voucher
from h5app.models.classes import CLASS_CANCELLED, CLASS_CLOSED
from h5app.models.institutions import SUSPENDED
from h5app.models.vouchers import CLAIMED, EXPIRED, USED
from h5app.timeutil import utcnow
from h5app.vouchers import directed, enrolment, issuance
from h5app.vouchers.errors import InstitutionSuspended, PlanChanged

from . import factories as f
from .auth_support import staff_sign_in


@pytest.fixture
def roster(session):
    """A class with a roster of two: 陈小燕 enrolled herself, offering her own general voucher; 孙丽
    is on the institution's roster only. A directed template of the city for the class."""
    training_class = f.training_class(course_name="育婴员培训", occupation="育婴员", project_type="domestic_service")
    general = f.template(name="就业技能培训券")
    own = f.person(name="陈小燕")
    mine = f.voucher(general, own, CLAIMED, claimed_at=utcnow(), expires_at=utcnow() + timedelta(days=60))
    session.commit()
    enrolment.enrol(session, own, training_class, voucher_code=mine.code)
    listed = f.person(name="孙丽")
    f.enrol(training_class, listed)
    template = f.directed_template(name="家政服务定向培训券")
    session.commit()
    return training_class, template, own, mine, listed


def held_by(session, person):
    return session.scalars(select(Voucher).where(Voucher.person_id == person.id).order_by(Voucher.id)).all()


def test_a_worker_enrolled_with_her_own_voucher_gets_no_directed_one(session, roster):
    training_class, template, own, mine, listed = roster
    report = issuance.issue_directed(session, template, training_class, f.bureau_actor())
    assert [row.person_id for row in report.done] == [listed.id]
    [(person, code, reason)] = report.rejected
    assert (person.id, code) == (own.id, "ALREADY_IN_CLASS")
    assert reason == f"报名时已选用自己的培训券（尾号{mine.code[-4:]}），无需再发"
    assert [v.id for v in held_by(session, own)] == [mine.id]
    assert session.scalar(select(func.count(Voucher.id)).where(Voucher.template_id == template.id)) == 1
    assert template.claimed_count == 1
    assert session.scalar(select(func.count(Notification.id)).where(Notification.kind == "directed_issued")) == 1


def test_a_worker_verified_with_her_own_voucher_gets_no_directed_one(session, roster):
    training_class, template, own, mine, _listed = roster
    mine.status, mine.used_at, mine.class_id = USED, utcnow(), training_class.id
    mine.institution_id = training_class.institution_id
    session.commit()
    plan = directed.plan(session, template, training_class, f.bureau_actor(), now=utcnow())
    assert [(p.id, reason) for p, _code, reason in plan.skipped] == [
        (own.id, f"已用自己的培训券（尾号{mine.code[-4:]}）在本班期验券")]


def test_a_worker_whose_chosen_voucher_lapsed_does_get_a_directed_one(session, roster):
    training_class, template, own, mine, listed = roster
    mine.status = EXPIRED
    session.commit()
    plan = directed.plan(session, template, training_class, f.bureau_actor(), now=utcnow())
    assert [p.id for p in plan.chosen] == [own.id, listed.id] and plan.skipped == []


def test_a_directed_voucher_of_another_template_for_the_class_counts(session, roster):
    training_class, template, _own, _mine, listed = roster
    other = f.directed_template(name="另一张定向券")
    session.commit()
    issuance.issue_directed(session, other, training_class, f.bureau_actor())
    plan = directed.plan(session, template, training_class, f.bureau_actor(), now=utcnow())
    assert plan.chosen == [] and {code for _p, code, _r in plan.skipped} == {"ALREADY_IN_CLASS"}
    assert any("另一张定向券" in reason for p, _c, reason in plan.skipped if p.id == listed.id)


def test_a_confirmation_of_a_list_that_has_changed_issues_nothing(session, roster):
    training_class, template, *_ = roster
    seen = directed.plan(session, template, training_class, f.bureau_actor(), now=utcnow()).digest
    f.enrol(training_class, f.person(name="周杰"))  # a trainee added after the preview
    session.commit()
    with pytest.raises(PlanChanged):
        issuance.issue_directed(session, template, training_class, f.bureau_actor(), expected=seen)
    assert session.scalar(select(func.count(Voucher.id)).where(Voucher.template_id == template.id)) == 0
    fresh = directed.plan(session, template, training_class, f.bureau_actor(), now=utcnow()).digest
    report = issuance.issue_directed(session, template, training_class, f.bureau_actor(), expected=fresh)
    assert len(report.done) == 2


def test_another_regions_bureau_cannot_issue_to_the_class(session, roster):
    training_class, template, *_ = roster
    with pytest.raises(Exception) as refused:
        directed.plan(session, template, training_class, f.bureau_actor("500000"), now=utcnow())
    assert refused.value.code == "FORBIDDEN"


def test_a_class_whose_enrolment_is_closed_still_gets_directed_vouchers_for_its_roster(session):
    """The roster of a class past 截止报名 still trains (and is verified): the bureau may issue to it."""
    training_class = f.training_class(status=CLASS_CLOSED)
    trainee = f.person(name="孙丽")
    f.enrol(training_class, trainee)
    template = f.directed_template()
    session.commit()
    report = issuance.issue_directed(session, template, training_class, f.bureau_actor())
    assert [row.person_id for row in report.done] == [trainee.id]


def test_the_trainee_list_shows_her_own_voucher_even_beside_an_extra_directed_one(client, session, roster):
    training_class, template, own, mine, _listed = roster
    extra = f.voucher(template, own, CLAIMED, bound_class_id=training_class.id)  # as the defect left it
    officer = f.staff("officer", institution_id=training_class.institution_id)
    session.commit()
    staff_sign_in(client, officer)
    export = client.get(f"/institution/classes/{training_class.id}/trainees.csv").get_data(as_text=True)
    her_row = next(line for line in export.splitlines() if line.startswith("陈*燕"))
    assert mine.code in her_row and extra.code not in her_row
    assert len(export.strip().splitlines()) == 3  # the header and the roster of two


# --- the page: preview, then confirm -------------------------------------------------------------

@pytest.fixture
def clerk(client):
    user = f.staff("bureau")
    db.session.commit()
    staff_sign_in(client, user)
    return user


def hidden(html, name):
    return re.search(rf'name="{name}" type="hidden" value="([^"]*)"', html).group(1)


def test_the_bureau_previews_who_gets_one_and_who_is_skipped_then_confirms(client, clerk, session, roster):
    training_class, template, own, mine, listed = roster
    preview = client.get(f"/bureau/issue/directed?template_id={template.id}&class_id={training_class.id}")
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "将发放 1 张（花名册 2 人）" in html and "孙*" in html
    assert "不发放 1 人" in html and "陈*燕" in html and f"报名时已选用自己的培训券（尾号{mine.code[-4:]}）" in html
    assert own.id_number not in html and listed.id_number not in html  # masked
    assert "确认发放（1张）" in html
    assert session.scalar(select(func.count(Voucher.id)).where(Voucher.template_id == template.id)) == 0

    done = client.post("/bureau/issue/directed", data={name: hidden(html, name)
                                                        for name in ("template_id", "class_id", "plan")})
    assert done.status_code == 200 and "家政服务定向培训券 发放结果：1 张已发放，1 人未发放" in done.get_data(as_text=True)
    assert [v.template_id for v in held_by(session, listed)] == [template.id]


def test_a_confirmation_after_the_roster_changed_shows_the_new_list_and_issues_nothing(client, clerk, session, roster):
    training_class, template, *_ = roster
    html = client.get(f"/bureau/issue/directed?template_id={template.id}&class_id={training_class.id}"
                      ).get_data(as_text=True)
    f.enrol(training_class, f.person(name="周杰"))
    session.commit()
    again = client.post("/bureau/issue/directed", data={name: hidden(html, name)
                                                         for name in ("template_id", "class_id", "plan")})
    text = again.get_data(as_text=True)
    assert again.status_code == 409 and "花名册或学员持券情况已变化" in text and "将发放 2 张（花名册 3 人）" in text
    assert session.scalar(select(func.count(Voucher.id)).where(Voucher.template_id == template.id)) == 0


@pytest.mark.parametrize("query", ["template_id=&class_id=", "template_id=abc&class_id=1", "class_id=99999999999"])
def test_a_preview_without_a_good_choice_is_explained(client, clerk, roster, query):
    response = client.get(f"/bureau/issue/directed?{query}")
    assert response.status_code == 400 and "请选择本地区的定向券模板和班期" in response.get_data(as_text=True)


def test_a_forged_confirmation_is_refused_and_issues_nothing(client, clerk, session, roster):
    training_class, template, *_ = roster
    response = client.post("/bureau/issue/directed", data={"template_id": template.id, "class_id": training_class.id,
                                                            "plan": "0" * 20})
    assert response.status_code == 409
    empty = client.post("/bureau/issue/directed", data={"template_id": template.id, "class_id": training_class.id})
    assert empty.status_code == 400
    assert session.scalar(select(func.count(Voucher.id)).where(Voucher.template_id == template.id)) == 0


def test_another_regions_class_is_not_previewed(client, clerk, session, roster):
    _training_class, template, *_ = roster
    f.region("500000", "重庆市")
    theirs = f.training_class(f.institution(region_code="500103"))
    session.commit()
    response = client.get(f"/bureau/issue/directed?template_id={template.id}&class_id={theirs.id}")
    assert response.status_code == 400


def test_the_bureau_preview_of_a_cancelled_class_says_it_is_cancelled(client, session):
    training_class = f.training_class(course_name="育婴员培训", status=CLASS_CANCELLED)
    f.enrol(training_class, f.person(name="孙丽"))
    template = f.directed_template()
    clerk = f.staff("bureau", region_code="330600")
    session.commit()
    staff_sign_in(client, clerk)
    response = client.get(f"/bureau/issue/directed?template_id={template.id}&class_id={training_class.id}")
    assert response.status_code == 409
    assert "班期“育婴员培训”已取消，不能发放定向券" in response.get_data(as_text=True)


# --- the API -------------------------------------------------------------------------------------

def test_the_api_reports_the_skipped_worker_and_issues_to_the_others(client, session, roster):
    from .api_support import auth, key_for

    training_class, template, own, _mine, listed = roster
    key = key_for("bureau", "330600")
    people = [{"id_number": p.id_number, "name": p.name} for p in (own, listed)]
    response = client.post(f"/api/v1/templates/{template.id}/issuances",
                           json={"people": people, "class_id": training_class.id}, headers=auth(key))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert len(body["done"]) == 1 and [r["code"] for r in body["rejected"]] == ["ALREADY_IN_CLASS"]
    assert body["rejected"][0]["id_number"] == own.id_number


def test_no_directed_voucher_for_a_suspended_institutions_class(session, roster):
    training_class, template, _own, _mine, listed = roster
    training_class.institution.status = SUSPENDED
    session.commit()
    with pytest.raises(InstitutionSuspended, match="已被暂停验券资格"):
        issuance.issue_directed(session, template, training_class, f.bureau_actor())
    assert held_by(session, listed) == []
    assert session.scalar(select(func.count(Voucher.id)).where(Voucher.template_id == template.id)) == 0
