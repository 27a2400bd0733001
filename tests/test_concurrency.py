"""Never double-spent: many threads verify one voucher and claim the last units of stock at the
same instant; exactly one verification and exactly `stock` claims succeed. Runs on whichever
database the suite runs on (SQLite, or PostgreSQL with TEST_DATABASE_URL)."""
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import (
    AuditEvent, PaymentBatch, Person, Settlement, SettlementLine, TrainingClass, Voucher, VoucherTemplate,
)
from h5app.timeutil import utcnow
from h5app.vouchers import app_qr_secret, audit
from h5app.vouchers import claim as claim_service
from h5app.vouchers import settlement
from h5app.vouchers import verify as verify_service

from . import factories
from .concurrency_support import THREADS, race


def test_concurrent_verifications_of_one_voucher_for_different_classes_use_it_once(app):
    template = factories.template()
    worker = factories.person()
    institution = factories.institution()
    classes = [factories.training_class(institution) for _ in range(THREADS)]
    voucher = claim_service.claim(db.session, worker, template)
    class_ids, qr = [c.id for c in classes], factories.qr_for(voucher)
    actor = factories.institution_actor(institution)
    secret = app_qr_secret()

    def work(i):
        return verify_service.verify(db.session, qr=qr, class_id=class_ids[i], actor=actor,
                                     qr_secret=secret).result

    outcomes = race(app, work)
    assert Counter(outcomes) == Counter({"verified": 1, "VOUCHER_ALREADY_USED": THREADS - 1}), outcomes
    db.session.expire_all()
    stored = db.session.get(Voucher, voucher.id)
    assert stored.status == "used" and stored.class_id in class_ids
    uses = db.session.scalar(select(func.count(AuditEvent.id)).where(
        AuditEvent.voucher_id == voucher.id, AuditEvent.to_status == "used"))
    assert uses == 1


def test_concurrent_verifications_for_the_same_class_give_one_verified_rest_already_verified(app):
    template = factories.template()
    worker = factories.person()
    training_class = factories.training_class()
    voucher = claim_service.claim(db.session, worker, template)
    class_id, qr = training_class.id, factories.qr_for(voucher)
    actor = factories.institution_actor(training_class.institution)
    secret = app_qr_secret()

    def work(_i):
        return verify_service.verify(db.session, qr=qr, class_id=class_id,
                                     actor=actor, qr_secret=secret).result

    outcomes = race(app, work)
    assert Counter(outcomes) == Counter({"verified": 1, "already_verified": THREADS - 1}), outcomes


def test_concurrent_claims_never_exceed_stock(app):
    stock = 5
    template = factories.template(stock=stock)
    people_ids = [factories.person().id for _ in range(THREADS)]
    template_id = template.id
    db.session.commit()

    def work(i):
        person = db.session.get(Person, people_ids[i])
        return claim_service.claim(db.session, person, db.session.get(VoucherTemplate, template_id)).status

    outcomes = race(app, work)
    assert Counter(outcomes) == Counter({"claimed": stock, "OUT_OF_STOCK": THREADS - stock}), outcomes
    db.session.expire_all()
    assert db.session.get(VoucherTemplate, template_id).claimed_count == stock
    assert db.session.scalar(select(func.count(Voucher.id)).where(Voucher.template_id == template_id)) == stock


def test_one_person_claiming_from_many_devices_at_once_gets_one_voucher(app):
    template = factories.template(stock=100)
    person_id, template_id = factories.person().id, template.id
    db.session.commit()

    def work(_i):
        return claim_service.claim(db.session, db.session.get(Person, person_id),
                                   db.session.get(VoucherTemplate, template_id)).status

    outcomes = race(app, work)
    assert Counter(outcomes) == Counter({"claimed": 1, "ALREADY_CLAIMED": THREADS - 1}), outcomes
    db.session.expire_all()
    assert db.session.get(VoucherTemplate, template_id).claimed_count == 1


def test_two_vouchers_of_one_person_racing_past_a_one_use_a_year_policy_use_one(app):
    """Shaoxing: one activation per person per year. Two different vouchers of the same person,
    verified at two classes at the same instant: the person lock lets exactly one through."""
    worker = factories.person()
    institution = factories.institution()
    templates = [factories.template("shaoxing", name=f"券{n}") for n in range(2)]
    vouchers = [factories.voucher(t, worker, claimed_at=utcnow(), expires_at=utcnow() + timedelta(days=30))
                for t in templates]
    classes = [factories.training_class(institution) for _ in range(2)]
    actor, secret = factories.institution_actor(institution), app_qr_secret()
    jobs = [(factories.qr_for(v), c.id) for v, c in zip(vouchers, classes, strict=True)]

    def work(i):
        qr, class_id = jobs[i]
        return verify_service.verify(db.session, qr=qr, class_id=class_id,
                                     actor=actor, qr_secret=secret).result

    outcomes = race(app, work, count=2)
    assert Counter(outcomes) == Counter({"verified": 1, "YEARLY_LIMIT_REACHED": 1}), outcomes


def test_two_settlement_applications_at_once_never_share_a_voucher(app):
    template = factories.template()
    training_class = factories.training_class(status="completed")  # 结业, then 结算
    for _ in range(3):
        factories.voucher(template, factories.person(), "used", used_at=utcnow(), class_id=training_class.id,
                          institution_id=training_class.institution_id)
    class_id, actor = training_class.id, factories.institution_actor(training_class.institution)

    def work(_i):
        return len(settlement.apply(db.session, db.session.get(TrainingClass, class_id), actor).lines)

    outcomes = race(app, work, count=4)
    assert sorted(outcomes, key=str) == sorted([3, "SETTLEMENT_INVALID", "SETTLEMENT_INVALID", "SETTLEMENT_INVALID"],
                                               key=str), outcomes
    assert db.session.scalar(select(func.count(SettlementLine.id))) == 3


def test_two_clerks_paying_one_settlement_at_once_settle_each_voucher_once(app):
    template = factories.template()
    training_class = factories.training_class(status="completed")  # 结业, then 结算
    for _ in range(3):
        person = factories.person()
        factories.voucher(template, person, "used", used_at=utcnow(), class_id=training_class.id,
                          institution_id=training_class.institution_id)
        for lesson in training_class.sessions:
            factories.check_in(lesson, person)
        factories.exam_result(training_class, person, True)
    applied = settlement.apply(db.session, training_class, factories.institution_actor(training_class.institution))
    settlement.review(db.session, applied, factories.bureau_actor(),
                      approve=[line.voucher.code for line in applied.lines])
    cashiers = [factories.staff("bureau") for _ in range(4)]
    actors = [audit.Actor.for_staff(c) for c in cashiers]
    settlement_id = applied.id

    def work(i):
        batch = settlement.pay(db.session, db.session.get(Settlement, settlement_id), actors[i], reference=f"HD{i}")
        return batch.paid_lines

    outcomes = race(app, work, count=4)
    assert sorted(outcomes, key=str) == sorted([3, "VOUCHER_SETTLED", "VOUCHER_SETTLED", "VOUCHER_SETTLED"],
                                               key=str), outcomes
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "voucher.settle")) == 3
    assert db.session.scalar(select(func.count(PaymentBatch.id))) == 1


def test_one_idempotency_key_sent_four_times_at_once_has_one_effect_and_one_answer(app):
    """The stored answer and the effect share a transaction: whichever request wins, the others
    replay its answer and nothing of theirs stays."""
    from .api_support import auth, key_for

    template = factories.template()
    worker = factories.person()
    institution = factories.institution()
    training_class = factories.training_class(institution)
    voucher = claim_service.claim(db.session, worker, template)
    body = {"qr": factories.qr_for(voucher), "class_id": training_class.id}
    headers = auth(key_for("institution", institution.code), **{"Idempotency-Key": "same-scan"})

    def work(_i):
        response = app.test_client().post("/api/v1/verifications", json=body, headers=headers)
        return response.status_code, response.get_json()["result"], response.headers.get("Idempotent-Replayed")

    outcomes = race(app, work, count=4)
    assert sorted(outcomes, key=str) == sorted([(200, "verified", None)] + [(200, "verified", "true")] * 3,
                                               key=str), outcomes
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "voucher.verify")) == 1
