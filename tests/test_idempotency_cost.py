"""What an Idempotency-Key costs: its first use adds only the INSERT of the answer, in the effect's
own transaction; a retry finds the key through that INSERT's refusal, and nothing of the retry's own
run is left behind."""
from sqlalchemy import event, func, select

from h5app.extensions import db
from h5app.models import AuditEvent, Enrolment, IdempotencyRecord, Voucher

from . import factories as f
from .api_support import auth, world


def _statements(run) -> list[str]:
    """Every statement sent while `run()` runs, first line only."""
    seen = []

    def record(_connection, _cursor, statement, _parameters, _context, _executemany):
        seen.append(" ".join(statement.split())[:60])

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def _verify(client, w, voucher, **headers):
    return _post(client, w, _body(w, voucher), **headers)


def _body(w, voucher) -> dict:
    return {"qr": f.qr_for(voucher), "class_id": w.training_class.id}


def _post(client, w, body, **headers):
    return client.post("/api/v1/verifications", json=body, headers=auth(w.institution_key, **headers))


def test_a_keys_first_use_adds_only_the_insert_of_its_answer(client, session):
    w = world()
    second = f.voucher(w.template, f.person(), claimed_at=f.utcnow_plus(days=-1), expires_at=f.utcnow_plus(days=30))
    session.commit()
    third = f.voucher(w.template, f.person(), claimed_at=f.utcnow_plus(days=-1), expires_at=f.utcnow_plus(days=30))
    session.commit()
    _verify(client, w, w.voucher)  # warm: the key cache, compiled statements
    bodies = _body(w, second), _body(w, third)  # what the test itself reads, before counting
    session.commit()
    plain = _statements(lambda: _post(client, w, bodies[0]))
    keyed = _statements(lambda: _post(client, w, bodies[1], **{"Idempotency-Key": "first-use"}))
    touching_keys = [s for s in keyed if "idempotency_records" in s]
    assert len(touching_keys) == 1 and touching_keys[0].startswith("INSERT INTO idempotency_records")
    assert [s for s in keyed if s not in touching_keys] == plain


def test_a_retry_replays_the_first_answer_and_leaves_nothing_of_its_own_run(client, session):
    w = world()
    first = _verify(client, w, w.voucher, **{"Idempotency-Key": "desk-1"})
    events_after_first = session.scalar(select(func.count(AuditEvent.id)))
    again = _verify(client, w, w.voucher, **{"Idempotency-Key": "desk-1"})
    assert first.status_code == again.status_code == 200
    assert first.get_json()["result"] == again.get_json()["result"] == "verified"  # not "already_verified"
    assert again.headers["Idempotent-Replayed"] == "true"
    session.expire_all()
    assert session.scalar(select(func.count(AuditEvent.id))) == events_after_first
    assert session.scalar(select(func.count(Enrolment.id))) == 1
    assert session.scalar(select(func.count(IdempotencyRecord.id))) == 1
    assert session.get(Voucher, w.voucher.id).status == "used"


def test_a_retry_with_another_body_is_refused_and_its_effect_undone(client, session):
    w = world()
    other = f.voucher(w.template, f.person(), claimed_at=f.utcnow_plus(days=-1), expires_at=f.utcnow_plus(days=30))
    session.commit()
    _verify(client, w, w.voucher, **{"Idempotency-Key": "desk-2"})
    reused = _verify(client, w, other, **{"Idempotency-Key": "desk-2"})
    assert reused.status_code == 422 and reused.get_json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    session.expire_all()
    assert session.get(Voucher, other.id).status == "claimed"  # its verification ran, and was rolled back
    assert session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.voucher_id == other.id)) == 0
