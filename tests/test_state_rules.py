"""Rules on states asked of one place: what a class's status allows (the pages and templates ask the
model), opening and closing enrolment and closing a template as services, an identity's trust, and
one 批量作废 cap for the page and the API."""
import pytest

from h5app.api.schemas import RevocationIn
from h5app.models import AuditEvent, Person, Voucher
from h5app.models.classes import (
    CLASS_CANCELLED, CLASS_CLOSED, CLASS_COMPLETED, CLASS_DRAFT, CLASS_OPEN, CLASS_PENDING_REVIEW, CLASS_RETURNED,
)
from h5app.models.people import VIA_IMPORT, VIA_ROSTER, VIA_SMS, via_sso
from h5app.models.vouchers import TEMPLATE_ACTIVE, TEMPLATE_CLOSED
from h5app.vouchers import classes, lifecycle, templates
from h5app.vouchers.errors import (
    ClassCancelled, ClassCompleted, ClassPendingReview, OutOfScope, ValidationFailed,
)

from . import factories as f
from .api_support import auth, error_code, world
from .auth_support import staff_sign_in


# status → is_editable, can_open_enrolment, can_close_enrolment, can_complete, is_running, is_ended
@pytest.mark.parametrize("status, allowed", [
    (CLASS_DRAFT, (True, True, False, True, False, False)),
    (CLASS_OPEN, (True, False, True, True, True, False)),
    (CLASS_CLOSED, (True, True, False, True, True, False)),
    (CLASS_PENDING_REVIEW, (True, False, False, False, False, False)),
    (CLASS_RETURNED, (True, False, False, False, False, False)),
    (CLASS_COMPLETED, (False, False, False, False, False, True)),
    (CLASS_CANCELLED, (False, False, False, False, False, True)),
])
def test_what_a_class_status_allows(session, status, allowed):
    training_class = f.training_class(status=status)
    assert (training_class.is_editable, training_class.can_open_enrolment, training_class.can_close_enrolment,
            training_class.can_complete, training_class.is_running, training_class.is_ended) == allowed


def test_opening_and_closing_enrolment_is_recorded(session):
    training_class = f.training_class(status=CLASS_DRAFT)
    actor = f.institution_actor(training_class.institution)
    classes.set_enrolment_open(session, training_class, True, actor)
    assert training_class.status == CLASS_OPEN
    classes.set_enrolment_open(session, training_class, False, actor)
    assert training_class.status == CLASS_CLOSED
    assert [e.action for e in f.audit_events()] == ["class.open", "class.closed"]


@pytest.mark.parametrize("status, refusal", [
    (CLASS_COMPLETED, ClassCompleted), (CLASS_CANCELLED, ClassCancelled),
    (CLASS_PENDING_REVIEW, ClassPendingReview), (CLASS_RETURNED, ClassPendingReview),
])
def test_enrolment_of_a_class_that_may_not_change_is_neither_opened_nor_closed(session, status, refusal):
    training_class = f.training_class(status=status)
    session.commit()
    with pytest.raises(refusal):
        classes.set_enrolment_open(session, training_class, True, f.institution_actor(training_class.institution))
    session.expire_all()
    assert training_class.status == status and f.audit_events() == []


def test_another_institution_cannot_open_enrolment(session):
    training_class = f.training_class(status=CLASS_DRAFT)
    other = f.institution()
    session.commit()
    with pytest.raises(OutOfScope):
        classes.set_enrolment_open(session, training_class, True, f.institution_actor(other))
    assert training_class.status == CLASS_DRAFT


def test_closing_a_template_stops_it_and_is_recorded_in_its_region_only(session):
    template = f.template()
    session.commit()
    with pytest.raises(OutOfScope):
        templates.close_template(session, template, f.bureau_actor("500000"))
    assert template.status == TEMPLATE_ACTIVE and not template.is_closed
    templates.close_template(session, template, f.bureau_actor())
    assert template.status == TEMPLATE_CLOSED and template.is_closed and template.status_label == "已关闭"
    assert [e.action for e in f.audit_events()] == ["template.close"]


def test_a_template_is_editable_while_a_draft_nothing_was_issued_from(session):
    draft = f.template(status="draft")
    assert templates.issued_count(session, draft) == 0 and templates.editable(draft, 0)
    f.voucher(draft, f.person())
    assert templates.issued_count(session, draft) == 1 and not templates.editable(draft, 1)
    assert not templates.editable(f.template(name="发放中"), 0)


@pytest.mark.parametrize("was, proven_by, becomes", [
    (VIA_ROSTER, VIA_SMS, VIA_SMS),
    (VIA_IMPORT, via_sso("zhrs"), "sso:zhrs"),
    (None, VIA_SMS, VIA_SMS),
    (VIA_SMS, via_sso("zhrs"), VIA_SMS),  # proven once: how it was first proven stays
    ("sso:zhrs", VIA_SMS, "sso:zhrs"),
])
def test_an_owner_proves_an_unproven_identity_and_a_proven_one_keeps_its_proof(was, proven_by, becomes):
    person = Person(name="陈小燕", id_number="330602198501010011", verified_via=was)
    person.prove_identity(proven_by)
    assert person.verified_via == becomes and person.identity_proven
    assert person.verified_by_channel == becomes.startswith("sso:")


def test_the_page_and_the_api_revoke_at_most_the_same_number_of_codes(client, session):
    w = world()
    claimed = f.voucher(f.template(name="另一张"), f.person())
    clerk = f.staff("bureau")
    session.commit()
    cap = lifecycle.MAX_REVOKE_CODES
    assert cap == 10_000 and RevocationIn.model_json_schema()["properties"]["codes"]["maxItems"] == cap
    with pytest.raises(ValidationFailed, match=f"一次最多作废{cap}张"):
        lifecycle.revoke(session, ["X"] * (cap + 1), "重复发放", f.bureau_actor())

    too_many = client.post("/api/v1/vouchers/revocations", json={"codes": ["X"] * (cap + 1), "reason": "重复发放"},
                           headers=auth(w.bureau_key))
    assert too_many.status_code == 422 and error_code(too_many) == "VALIDATION_FAILED"

    staff_sign_in(client, clerk)
    refused = client.post("/bureau/revoke", data={"codes": "\n".join([claimed.code] * (cap + 1)), "reason": "重复发放"})
    assert refused.status_code == 400 and f"一次最多作废{cap}张，请分批处理" in refused.get_data(as_text=True)
    assert session.get(Voucher, claimed.id).status == "claimed"
    done = client.post("/bureau/revoke", data={"codes": "\n".join([claimed.code] * cap), "reason": "重复发放"})
    assert done.status_code == 200
    session.expire_all()
    assert session.get(Voucher, claimed.id).status == "revoked"
    assert session.query(AuditEvent).filter_by(action="voucher.revoke").count() == 1
