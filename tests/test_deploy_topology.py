"""The production topology end to end (tests/topology.py): nginx with the shipped site (TLS, HSTS,
gzip, static files) → two gunicorn instances → PgBouncer in transaction mode → PostgreSQL, limits
in Redis. A worker → institution → bureau journey through nginx; an instance killed with SIGKILL
in the middle of 200 verifications loses and doubles none of them and shows its clients only
errors to retry; the per-address limits count the real client's address, whichever instance
answers.

Needs TEST_DATABASE_URL on PostgreSQL and Debian's nginx, pgbouncer, redis-server and openssl
(.ci/run installs them); skipped without them, except in CI, where their absence fails."""
import http.client
import os
import re
import ssl
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from h5app.auth.sso import mint_ticket
from h5app.models import AuditEvent, Settlement, Voucher
from h5app.models.classes import CLASS_COMPLETED
from h5app.timeutil import local_today, utcnow
from h5app.vouchers import app_qr_secret, qrtoken

from . import factories as f
from .api_support import auth, key_for
from .auth_support import SECRET
from .conftest import TEST_CONFIG
from .topology import Topology, missing_binaries

ON_POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
MISSING = missing_binaries()
if MISSING and ON_POSTGRES and os.environ.get("CI"):
    raise RuntimeError(f"CI must install {', '.join(MISSING)} for the topology test (.ci/run does)")
pytestmark = [
    pytest.mark.skipif(not ON_POSTGRES, reason="needs TEST_DATABASE_URL on PostgreSQL"),
    pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} (apt-get install nginx pgbouncer redis-server)"),
]
RETRYABLE = {502, 503, 504}


@pytest.fixture(scope="module")
def topology(app, database_url):
    """Started once for the module (about 15 s), on the suite's database: each test's rows are
    emptied after it as usual."""
    with Topology(database_url, TEST_CONFIG["SECRET_KEY"], instances=2) as running:
        yield running


def browser(topology) -> requests.Session:
    client = requests.Session()
    client.trust_env = False  # no proxy and no CA bundle from the environment: our nginx, our certificate
    client.verify = str(topology.cert)
    return client


def form_token(page) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


def instance_metrics(topology) -> list[str]:
    """Each live instance's /metrics, fetched from the instance itself (nginx refuses it)."""
    return [browser(topology).get(f"http://127.0.0.1:{p.port}/metrics", timeout=10).text
            for p in topology.instances if p.alive()]


def metric_total(texts: list[str], name: str, **labels) -> float:
    total = 0.0
    for text in texts:
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                if all(f'{k}="{v}"' in line for k, v in labels.items()):
                    total += float(line.rsplit(" ", 1)[1])
    return total


def test_the_shipped_site_serves_https_only_with_hsts_gzip_and_year_long_static(topology):
    plain = browser(topology).get(f"http://127.0.0.1:{topology.http_port}/worker/?from=sms", allow_redirects=False,
                                  timeout=10)
    assert plain.status_code == 301
    assert plain.headers["Location"] == f"https://127.0.0.1:{topology.https_port}/worker/?from=sms"
    page = browser(topology).get(topology.url + "/login", headers={"Accept-Encoding": "gzip"})
    assert page.status_code == 200 and "登录" in page.text
    assert page.headers["Strict-Transport-Security"] == "max-age=63072000"
    assert page.headers["Content-Encoding"] == "gzip"
    stylesheet = re.search(r'href="(/static/css/[^"]+\.[0-9a-f]{12}\.css)"', page.text).group(1)
    static = browser(topology).get(topology.url + stylesheet, headers={"Accept-Encoding": "gzip"})
    assert static.status_code == 200 and static.headers["Cache-Control"] == "max-age=31536000, public, immutable"
    assert static.headers["Content-Encoding"] == "gzip" and static.headers["Strict-Transport-Security"]
    assert browser(topology).get(topology.url + "/metrics").status_code == 404  # Prometheus only
    ready = browser(topology).get(topology.url + "/readyz").json()
    assert ready["status"] == "ok" and ready["checks"]["database"] == "ok" and ready["checks"]["rate_limit_store"] == "ok"


def test_worker_institution_bureau_journey_through_nginx(topology, session):
    f.channel(secret=SECRET)
    f.region("330602", "越城区", parent="330600")
    institution = f.institution(region_code="330602")
    training_class = f.training_class(institution)
    template = f.template()
    clerk = f.staff("bureau", username="clerk_topology")
    session.commit()
    institution_key, bureau_key = key_for("institution", institution.code), key_for("bureau", "330600")
    cashier_key = key_for("bureau", "330600")
    id_number = f.valid_id_number(serial=321)

    # The worker: signed in by the channel, claims through 卡券中心, shows the voucher's QR. The
    # requests go to either instance; the session cookie is good on both.
    worker = browser(topology)
    ticket = mint_ticket(SECRET, id_number=id_number, name="王建国", phone="13912345678", nonce=uuid.uuid4().hex,
                         region_code="330602", insurance_months=24, groups=["unemployed"])
    signed_in = worker.get(topology.url + "/sso/zhrs", params={"ticket": ticket})
    assert signed_in.status_code == 200 and signed_in.url.startswith(topology.url + "/worker/")
    confirm = worker.get(f"{topology.url}/worker/cards/{template.id}")
    assert confirm.status_code == 200, confirm.text[:300]
    claimed = worker.post(confirm.url, data={"csrf_token": form_token(confirm)},
                          headers={"Referer": confirm.url}, allow_redirects=False)
    assert claimed.status_code == 302, re.findall(r"notice[^>]*>(.*?)</", claimed.text, re.S)
    code = re.search(r"/worker/vouchers/([^?]+)\?claimed=1", claimed.headers["Location"]).group(1)
    qr = worker.get(f"{topology.url}/worker/vouchers/{code}/qr.json").json()["token"]

    # The institution: verifies the QR, records the exam, applies for the subsidy (partner API).
    api = browser(topology)
    verified = api.post(topology.url + "/api/v1/verifications", json={"qr": qr, "class_id": training_class.id},
                        headers=auth(institution_key, **{"Idempotency-Key": "journey-1"}))
    assert verified.status_code == 200 and verified.json()["result"] == "verified", verified.text
    voucher = session.scalar(select(Voucher).where(Voucher.code == code))
    for class_session in training_class.sessions:
        f.check_in(class_session, voucher.person)
    session.commit()
    results = api.post(f"{topology.url}/api/v1/classes/{training_class.id}/results",
                       json={"results": [{"id_number": id_number, "passed": True}]}, headers=auth(institution_key))
    assert results.status_code == 200, results.text
    training_class.status, training_class.completed_at = CLASS_COMPLETED, utcnow()  # 结业, on the officer's page
    session.commit()
    applied = api.post(topology.url + "/api/v1/settlements", json={"class_id": training_class.id},
                       headers=auth(institution_key))
    assert applied.status_code == 201 and applied.json()["lines"][0]["eligible"] is True, applied.text
    settlement_id = applied.json()["id"]

    # The bureau: a clerk signs in on the page and finds it under 结算审核; it is approved and paid.
    staff = browser(topology)
    login = staff.get(topology.url + "/login")
    home = staff.post(login.url, data={"csrf_token": form_token(login), "username": clerk.username,
                                       "password": f.PASSWORD}, headers={"Referer": login.url})
    assert home.status_code == 200 and "/bureau" in home.url, home.text[:300]
    review_page = staff.get(f"{topology.url}/bureau/settlements/{settlement_id}")
    assert review_page.status_code == 200 and institution.name in review_page.text
    path = f"{topology.url}/api/v1/settlements/{settlement_id}"
    assert api.post(path + "/review", json={"approve": [code]}, headers=auth(bureau_key)).status_code == 200
    paid = api.post(path + "/payment", json={"reference": "HD-TOPOLOGY-1", "paid_on": local_today().isoformat()},
                    headers=auth(cashier_key))
    assert paid.status_code == 200 and paid.json()["status"] == "paid", paid.text

    session.expire_all()
    assert session.scalar(select(Voucher.status).where(Voucher.code == code)) == "settled"
    assert session.get(Settlement, settlement_id).status == "paid"
    # Both instances' workers, added up: one claim, one verification, 1,500 yuan paid.
    texts = instance_metrics(topology)
    assert metric_total(texts, "h5app_claims_total") == 1
    assert metric_total(texts, "h5app_verifications_total", actor="api_key") == 1
    assert metric_total(texts, "h5app_settlement_amount_fen_total", stage="paid") == 150000


def _address_client(topology, source: str):
    context = ssl.create_default_context(cafile=str(topology.cert))

    def get(path: str, headers: dict | None = None) -> int:
        connection = http.client.HTTPSConnection("127.0.0.1", topology.https_port, context=context, timeout=30,
                                                 source_address=(source, 0))
        try:
            connection.request("GET", path, headers=headers or {})
            return connection.getresponse().status
        finally:
            connection.close()

    return get


def test_limits_count_the_real_client_address_across_both_instances(topology, session):
    """The SSO sign-in allows 60 a minute per address: nginx passes the client's address on, the
    app takes it (PROXY_FIX_X_FOR=1), and the count is kept in Redis for every process — so one
    address gets exactly 60, whichever instance answers, and a second address its own 60."""
    f.channel(secret=SECRET)
    session.commit()
    first, second = _address_client(topology, "127.0.0.2"), _address_client(topology, "127.0.0.3")
    before = metric_total(instance_metrics(topology), "h5app_requests_total", endpoint="auth.sso_login", status="400")
    answers = Counter(first("/sso/zhrs?ticket=forged") for _ in range(60))
    assert answers == {400: 60}  # refused tickets, but counted
    assert first("/sso/zhrs?ticket=forged") == 429
    assert first("/sso/zhrs?ticket=forged", {"X-Forwarded-For": "203.0.113.9"}) == 429  # a forged header changes nothing
    assert second("/sso/zhrs?ticket=forged") == 400
    per_instance = [metric_total([text], "h5app_requests_total", endpoint="auth.sso_login", status="400")
                    for text in instance_metrics(topology)]
    assert sum(per_instance) - before == 61 and all(count > 0 for count in per_instance)  # both answered


def test_an_instance_killed_mid_run_loses_and_doubles_no_verification(topology, session):
    """200 verifications, 16 at a time through nginx, each with its Idempotency-Key; after the
    50th answer one instance (master and workers) is killed with SIGKILL. Requests it held end
    in a 502 from nginx, and the client sends them again with the same key: the survivor does
    the verification, or replays the answer the dead one had committed."""
    f.region("330602", "越城区", parent="330600")
    institution = f.institution(region_code="330602")
    training_class = f.training_class(institution, capacity=None)
    template = f.template(stock=1000)
    vouchers = [f.voucher(template, f.person(), claimed_at=f.utcnow_plus(days=-1), expires_at=f.utcnow_plus(days=30))
                for _ in range(200)]
    session.commit()
    token, class_id = key_for("institution", institution.code), training_class.id
    codes, secret = [v.code for v in vouchers], app_qr_secret()
    victim = topology.instances[0]
    answered, half_time, lock = [0], threading.Event(), threading.Lock()
    transient, replayed = Counter(), Counter()

    def verify(code: str):
        key, body = str(uuid.uuid4()), {"qr": qrtoken.sign(secret, qrtoken.KIND_VOUCHER, code), "class_id": class_id}
        client = browser(topology)
        for _attempt in range(20):
            try:
                response = client.post(topology.url + "/api/v1/verifications", json=body, timeout=60,
                                       headers=auth(token, **{"Idempotency-Key": key}))
            # The connection lost before the answer began, or in the middle of its body (the instance
            # died while nginx was passing the answer on): a partner sends the request again, same key.
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                transient["connection"] += 1
                continue
            data = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else {}
            error = (data.get("error") or {}).get("code")
            if response.status_code in RETRYABLE or error == "IDEMPOTENCY_IN_PROGRESS":
                transient[response.status_code] += 1
                continue
            with lock:
                answered[0] += 1
                if answered[0] == 50:
                    half_time.set()
            replayed[response.headers.get("Idempotent-Replayed") == "true"] += 1
            return response.status_code, data.get("result") or error
        return "gave up", None

    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(verify, code) for code in codes]
        assert half_time.wait(300), topology.logs()
        victim.kill()
        outcomes = Counter(future.result() for future in futures)

    assert not victim.alive()
    assert outcomes == {(200, "verified"): 200}, (outcomes, transient, topology.logs())
    assert set(transient) <= RETRYABLE | {"connection"}, transient
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Voucher).where(
        Voucher.code.in_(codes), Voucher.status == "used", Voucher.class_id == class_id)) == 200
    per_voucher = session.execute(select(AuditEvent.voucher_id, func.count()).where(
        AuditEvent.action == "voucher.verify").group_by(AuditEvent.voucher_id)).all()
    assert len(per_voucher) == 200 and {count for _, count in per_voucher} == {1}
    print(f"\nkilled instance {victim.port} after 50 answers; retried: {dict(transient)}; "
          f"answers replayed from the idempotency store: {replayed[True]}")
