"""A cancellation racing a verification of the same voucher (issue 19): whichever commits first, the
voucher ends in exactly one consistent state — given back (verified, then returned by the
cancellation) or never used (the verification refused with CLASS_CANCELLED) — never used at a
cancelled class. The free-for-all runs on both databases; on PostgreSQL two tests also force each
order, holding one side at the worst moment until the other is seen waiting for its lock. A directed
issuance or an enrolment queued behind the cancellation's lock reads the class as cancelled too."""
import threading
from collections import Counter

from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import AuditEvent, Enrolment, Person, TrainingClass, Voucher, VoucherTemplate
from h5app.models.classes import CLASS_CANCELLED
from h5app.vouchers import app_qr_secret, cancellation, claim, enrolment, issuance
from h5app.vouchers import verify as verify_service

from . import factories
from .concurrency_support import (
    hold_after_cancellation_lock, in_thread, postgresql_only, race, release_when_blocked_or_done,
)

PAIRS = 8


def _consistent(class_id: int, voucher_id: int, outcome) -> None:
    """The class is cancelled and nobody is in it; the voucher is claimed, used nowhere, and its audit
    trail is either verify → return (the verification won) or nothing after the claim (it lost)."""
    db.session.expire_all()
    assert db.session.get(TrainingClass, class_id).status == CLASS_CANCELLED
    voucher = db.session.get(Voucher, voucher_id)
    assert (voucher.status, voucher.class_id, voucher.used_at) == ("claimed", None, None), outcome
    moves = db.session.scalars(select(AuditEvent.action).where(AuditEvent.voucher_id == voucher_id,
                                                               AuditEvent.action != "voucher.claim")
                               .order_by(AuditEvent.id)).all()
    assert moves == (["voucher.verify", "voucher.return"] if outcome == "verified" else []), (outcome, moves)
    assert not db.session.scalar(select(Enrolment.id).where(Enrolment.class_id == class_id,
                                                            Enrolment.status == "enrolled"))


def _pairs(count: int):
    template = factories.template()
    institution = factories.institution()
    pairs = []
    for _ in range(count):
        training_class = factories.training_class(institution)
        voucher = claim.claim(db.session, factories.person(), template)
        pairs.append((training_class.id, voucher.id, factories.qr_for(voucher)))
    return institution, pairs


def test_cancellations_racing_verifications_leave_every_voucher_consistent(app):
    institution, pairs = _pairs(PAIRS)
    desk, bureau, secret = factories.institution_actor(institution), factories.bureau_actor(), app_qr_secret()

    def work(i):
        class_id, _voucher_id, qr = pairs[i // 2]
        if i % 2 == 0:
            return verify_service.verify(db.session, qr=qr, class_id=class_id, actor=desk, qr_secret=secret).result
        cancellation.cancel_class(db.session, db.session.get(TrainingClass, class_id), "场地被征用", bureau)
        return "cancelled"

    outcomes = race(app, work, count=2 * PAIRS)

    assert Counter(outcomes[1::2]) == Counter({"cancelled": PAIRS}), outcomes
    assert set(outcomes[0::2]) <= {"verified", "CLASS_CANCELLED"}, outcomes
    for (class_id, voucher_id, _qr), outcome in zip(pairs, outcomes[0::2], strict=True):
        _consistent(class_id, voucher_id, outcome)


# --- each order forced (PostgreSQL: SQLite's BEGIN IMMEDIATE lets one writer in at a time) ---------

def test_a_cancellation_after_a_verification_read_waits_for_it_and_gives_the_voucher_back(app, monkeypatch):
    postgresql_only()
    institution, [(class_id, voucher_id, qr)] = _pairs(1)
    db.session.commit()
    read_done, go, results = threading.Event(), threading.Event(), {}
    real_read = verify_service.read

    def read_then_hold(session, *args):
        reading = real_read(session, *args)
        if not read_done.is_set():
            read_done.set()
            go.wait()
        return reading

    monkeypatch.setattr(verify_service, "read", read_then_hold)
    verifying = in_thread(app, lambda: verify_service.verify(
        db.session, qr=qr, class_id=class_id, actor=factories.institution_actor(institution),
        qr_secret=app_qr_secret()).result, results, "verify")
    cancelling = in_thread(app, lambda: len(cancellation.cancel_class(
        db.session, db.session.get(TrainingClass, class_id), "场地被征用", factories.bureau_actor()).returned),
        results, "cancel")
    verifying.start()
    read_done.wait()
    cancelling.start()
    release_when_blocked_or_done(cancelling, go)
    verifying.join()
    cancelling.join()

    assert results == {"verify": "verified", "cancel": 1}
    _consistent(class_id, voucher_id, "verified")


def test_a_verification_after_the_cancellation_locked_the_class_is_refused(app, monkeypatch):
    postgresql_only()
    institution, [(class_id, voucher_id, qr)] = _pairs(1)
    db.session.commit()
    locked, go = hold_after_cancellation_lock(monkeypatch)
    results = {}
    cancelling = in_thread(app, lambda: len(cancellation.cancel_class(
        db.session, db.session.get(TrainingClass, class_id), "场地被征用", factories.bureau_actor()).returned),
        results, "cancel")
    verifying = in_thread(app, lambda: verify_service.verify(
        db.session, qr=qr, class_id=class_id, actor=factories.institution_actor(institution),
        qr_secret=app_qr_secret()).result, results, "verify")
    cancelling.start()
    locked.wait()
    verifying.start()
    release_when_blocked_or_done(verifying, go)
    cancelling.join()
    verifying.join()

    assert results == {"cancel": 0, "verify": "CLASS_CANCELLED"}
    _consistent(class_id, voucher_id, "CLASS_CANCELLED")


def test_a_directed_issuance_after_the_cancellation_locked_the_class_is_refused(app, session, monkeypatch):
    """PostgreSQL: the issuance waits for the cancellation's lock and then sees the class cancelled,
    instead of binding vouchers to it after the cancellation unbound the others."""
    postgresql_only()
    training_class = factories.training_class()
    factories.enrol(training_class, factories.person(name="孙丽"))
    template = factories.directed_template()
    session.commit()
    class_id, template_id = training_class.id, template.id
    locked, go = hold_after_cancellation_lock(monkeypatch)
    results = {}
    cancelling = in_thread(app, lambda: cancellation.cancel_class(
        db.session, db.session.get(TrainingClass, class_id), "场地被征用", factories.bureau_actor()) and "cancelled",
        results, "cancel")
    issuing = in_thread(app, lambda: len(issuance.issue_directed(
        db.session, db.session.get(VoucherTemplate, template_id), db.session.get(TrainingClass, class_id),
        factories.bureau_actor()).done), results, "issue")
    cancelling.start()
    locked.wait()
    issuing.start()
    release_when_blocked_or_done(issuing, go)
    cancelling.join()
    issuing.join()

    assert results == {"cancel": "cancelled", "issue": "CLASS_CANCELLED"}
    session.expire_all()
    assert session.scalar(select(func.count(Voucher.id)).where(Voucher.template_id == template_id)) == 0


def test_an_enrolment_waiting_for_the_cancellations_lock_then_reads_the_class_as_cancelled(app, monkeypatch):
    """The enrolment loaded the class as open before it queued for the lock: what it reads under
    the lock, not what it loaded, decides."""
    postgresql_only()
    institution, [(class_id, _voucher_id, _qr)] = _pairs(1)
    person_id = factories.person().id
    db.session.commit()
    locked, go = hold_after_cancellation_lock(monkeypatch)
    results = {}

    def enrol():
        person, training_class = db.session.get(Person, person_id), db.session.get(TrainingClass, class_id)
        locked.wait()  # the class was loaded as open, before the cancellation's lock
        return enrolment.enrol(db.session, person, training_class).status

    cancelling = in_thread(app, lambda: len(cancellation.cancel_class(
        db.session, db.session.get(TrainingClass, class_id), "场地被征用", factories.bureau_actor()).returned),
        results, "cancel")
    enrolling = in_thread(app, enrol, results, "enrol")
    enrolling.start()
    cancelling.start()
    locked.wait()
    release_when_blocked_or_done(enrolling, go)
    cancelling.join()
    enrolling.join()

    assert results == {"cancel": 0, "enrol": "CLASS_CANCELLED"}
    assert not db.session.scalar(select(Enrolment.id).where(Enrolment.class_id == class_id))
