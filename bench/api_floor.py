"""The framework floor of bench/api_verify.py: a keyed verification with only what the spec asks of
it, on the fixed stack and nothing of the app's — Flask reading the JSON body, the bearer key found
by its digest in a per-process dict (the app caches keys too), the dynamic QR's signature and age
checked, and in one transaction: one read of what PRODUCT.md §4's checks look at (the class, its
institution, the voucher, its template and policy, the owner's enrolment in the class), the guarded
UPDATE, the voucher's audit row (every state change is audited), the enrolment, and the
Idempotency-Key's stored answer (written with the effect); then the JSON answer. The checks
themselves are not run, nor a rate limit, nor a look-up of an earlier answer: the least an
idempotent, audited verification through the API can cost, whatever the app does."""
import hashlib
import hmac
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask, jsonify, request  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from h5app.database import configure_engine  # noqa: E402
from h5app.vouchers import qrtoken  # noqa: E402
from h5app.timeutil import utcnow  # noqa: E402

engine = create_engine(os.environ["DATABASE_URL"], pool_size=10)
configure_engine(engine, 30000)
QR_SECRET = hmac.new(os.environ["SECRET_KEY"].encode(), b"voucher-qr-token", hashlib.sha256).digest()
with engine.connect() as connection:  # every key there is, by digest: what the app's cache holds
    KEYS = dict(connection.execute(text("SELECT key_hash, id FROM api_keys")).all())
READ = text("SELECT c.status, c.ends_on, i.status, v.id, v.status, v.person_id, t.project_types, p.code, e.id "
            "FROM classes c JOIN institutions i ON i.id = c.institution_id "
            "LEFT JOIN vouchers v ON v.code = :code "
            "LEFT JOIN voucher_templates t ON t.id = v.template_id LEFT JOIN policies p ON p.id = t.policy_id "
            "LEFT JOIN enrolments e ON e.class_id = c.id AND e.person_id = v.person_id WHERE c.id = :class_id")
USE = text("UPDATE vouchers SET status = 'used', used_at = :now, class_id = :class_id "
           "WHERE code = :code AND status = 'claimed' RETURNING id, person_id")
AUDIT = text("INSERT INTO audit_events (at, actor_type, actor_id, actor_label, action, voucher_id, from_status, "
             "to_status, person_id, details) VALUES (:now, 'api_key', :key_id, 'API', 'voucher.verify', :voucher_id, "
             "'claimed', 'used', :person_id, '{}')")
ENROL = text("INSERT INTO enrolments (class_id, person_id, voucher_id, source, status, created_at) "
             "VALUES (:class_id, :person_id, :voucher_id, 'verify', 'enrolled', :now)")
KEEP = text("INSERT INTO idempotency_records (owner, key, request_hash, status_code, response_body, "
            "response_headers, created_at) VALUES (:owner, :key, :request_hash, :status_code, :body, '{}', :now)")

app = Flask(__name__)


@app.post("/api/v1/verifications")
def verify():
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    key_id = KEYS.get(hashlib.sha256(token.strip().encode()).hexdigest())
    if scheme.lower() != "bearer" or key_id is None:
        return jsonify({"error": {"code": "UNAUTHORIZED"}}), 401
    body = request.get_json()
    try:
        _kind, code = qrtoken.verify(QR_SECRET, body["qr"])
    except (qrtoken.QrInvalid, qrtoken.QrExpired):
        return jsonify({"error": {"code": "QR_INVALID"}}), 422
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(READ, {"class_id": body["class_id"], "code": code}).first()
        used = connection.execute(USE, {"now": now, "class_id": body["class_id"], "code": code}).first()
        if used is not None:
            connection.execute(AUDIT, {"now": now, "key_id": key_id, "voucher_id": used.id,
                                       "person_id": used.person_id})
            connection.execute(ENROL, {"class_id": body["class_id"], "person_id": used.person_id, "now": now,
                                       "voucher_id": used.id})
        answer, status = ({"result": "verified", "code": code}, 200) if used else ({"result": "already_used"}, 409)
        payload = json.dumps(answer).encode()
        connection.execute(KEEP, {"owner": f"key:{key_id}", "key": request.headers["Idempotency-Key"],
                                  "request_hash": hashlib.sha256(request.get_data()).hexdigest(),
                                  "status_code": status, "body": payload, "now": now})
    return app.response_class(payload, status=status, mimetype="application/json")
