"""A signed-in worker is read as a row (h5app/auth/users.py): pages read it, nothing can change it
by accident, and the pages that do change the person go through the Person model."""
import pytest
from flask_login import current_user
from sqlalchemy import select

from h5app.auth.users import SignedInWorker, signed_in_person
from h5app.models import AuditEvent, Person

from . import factories as f
from .auth_support import ticket_for


def sign_in(client, id_number: str) -> None:
    response = client.get("/sso/zhrs", query_string={"ticket": ticket_for(id_number, "李秀英", "13805751234")})
    assert response.status_code == 302


def test_a_worker_page_sees_the_row_with_the_persons_own_rules_read_only(app, client, channel, session):
    number = f.valid_id_number()
    sign_in(client, number)
    person = session.scalar(select(Person).where(Person.id_number == number))
    person.groups = ["unemployed"]
    session.commit()
    with client:
        assert client.get("/worker/me").status_code == 200
        user = current_user._get_current_object()
        assert isinstance(user, SignedInWorker)
        assert (user.id, user.id_number, user.role, user.get_id()) == (person.id, number, "worker", f"p:{person.id}")
        assert user.group_labels == ["失业人员"] and user.identity_proven and user.verified_by_channel
        with pytest.raises(AttributeError, match="read-only"):
            user.job_consent = True
        assert signed_in_person() is session.get(Person, person.id)


def test_consent_and_sign_out_change_the_person_through_the_model(client, channel, session):
    number = f.valid_id_number()
    sign_in(client, number)
    client.get("/worker/me")  # the CSRF secret is in the session from sign-in; the page renders the forms
    assert client.post("/worker/me/consent", data={"give": "1"}).status_code == 302
    person = session.scalar(select(Person).where(Person.id_number == number))
    session.refresh(person)
    assert person.job_consent is True
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "person.job_consent",
                                                   AuditEvent.person_id == person.id)) is not None
    epoch = person.session_epoch
    assert client.post("/logout").status_code in (302, 303)
    session.refresh(person)
    assert person.session_epoch == epoch + 1
    assert client.get("/worker/me").status_code == 302  # that cookie no longer signs anyone in
