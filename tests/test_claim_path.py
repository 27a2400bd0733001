"""The claim path under a crowd: the confirm page and the claim each cost a pinned handful of
statements and end their transaction before any page is drawn; a template's immutable terms come
from a per-process cache that follows its invalidation rule; admission control refuses at once
(503, Retry-After) when a template's claims in flight are at the limit, writes nothing then, and
never leaks a slot; and the stock comes out exact when many workers press 确认领取 at once."""
import re
import socket
import time
from collections import Counter
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from flask import before_render_template
from sqlalchemy import event, func, select, text

from h5app import admission
from h5app.extensions import db
from h5app.models import Voucher, VoucherTemplate
from h5app.vouchers import claim as claim_service
from h5app.vouchers.errors import OutOfStock

from . import factories as f
from .auth_support import sign_in, text_of
from .concurrency_support import THREADS, race
from .page_support import fresh_get

# The confirm page: the signed-in person, then the template's status and stock with the voucher I
# hold of it (one outer join). Its terms and the region names come from the per-process caches.
CONFIRM_PAGE_STATEMENTS = 2
# The claim: those two, then the voucher, its audit row, and the guarded stock UPDATE, last.
CLAIM_STATEMENTS = 5
BUSY = "领券人数较多，请稍后再试"


@contextmanager
def transaction_log(engine):
    """Statements, COMMITs and page renders in the order they happen (BEGIN left out: SQLite's
    BEGIN IMMEDIATE is ours, PostgreSQL's the driver's)."""
    seen = []

    def statement(_connection, _cursor, sql, *_args):
        if not sql.lstrip().upper().startswith("BEGIN"):
            seen.append(sql)

    def commit(_connection):
        seen.append("COMMIT")

    def render(_app, template, **_extra):
        seen.append(f"RENDER {template.name}")

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    before_render_template.connect(render)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
        before_render_template.disconnect(render)


def statements_only(seen: list[str]) -> list[str]:
    return [entry for entry in seen if entry != "COMMIT" and not entry.startswith("RENDER")]


@pytest.fixture
def worker(client):
    """A signed-in worker, as ids: the tests close the session between requests, as a server does."""
    person = f.person(name="王建国")
    db.session.commit()
    sign_in(client, person)
    return SimpleNamespace(id=person.id)


def voucher_count(template_id: int, person_id: int | None = None) -> int:
    query = select(func.count(Voucher.id)).where(Voucher.template_id == template_id)
    if person_id is not None:
        query = query.where(Voucher.person_id == person_id)
    return ended(db.session.scalar(query))


def claimed_count(template_id: int) -> int:
    db.session.expire_all()
    return ended(db.session.get(VoucherTemplate, template_id).claimed_count)


def ended(value):
    """`value`, read, with the test's transaction ended: on SQLite it holds the write lock, and the
    next request of another app on the same database would wait for it."""
    db.session.commit()
    return value


# --- statements and the transaction -------------------------------------------------------------

def test_confirm_page_costs_two_statements_and_commits_before_it_renders(client, worker):
    template_id = f.template(stock=10).id
    db.session.commit()
    fresh_get(client, f"/worker/cards/{template_id}")  # warm: region names, the template's terms

    db.session.close()
    with transaction_log(db.engine) as seen:
        page = client.get(f"/worker/cards/{template_id}")

    assert page.status_code == 200 and "确认领取" in text_of(page) and "10 张" in text_of(page)
    statements = statements_only(seen)
    assert len(statements) == CONFIRM_PAGE_STATEMENTS, statements
    assert "FROM people" in statements[0] and "FROM voucher_templates LEFT OUTER JOIN vouchers" in statements[1]
    assert seen[-2:] == ["COMMIT", "RENDER worker/claim.html"]  # no transaction open while it renders


def test_claim_costs_five_statements_with_the_stock_update_last_before_commit(client, worker):
    template_id = f.template(stock=10).id
    db.session.commit()
    fresh_get(client, f"/worker/cards/{template_id}")

    db.session.close()
    with transaction_log(db.engine) as seen:
        response = client.post(f"/worker/cards/{template_id}")

    voucher = db.session.scalar(select(Voucher).where(Voucher.person_id == worker.id))
    assert response.status_code == 302 and response.headers["Location"] == f"/worker/vouchers/{voucher.code}?claimed=1"
    statements = statements_only(seen)
    assert len(statements) == CLAIM_STATEMENTS, statements
    assert ["INSERT INTO vouchers" in statements[2], "INSERT INTO audit_events" in statements[3],
            statements[4].startswith("UPDATE voucher_templates")] == [True] * 3
    # The template's row is locked from that UPDATE on: the COMMIT comes next, nothing else.
    assert seen[-2:] == [statements[4], "COMMIT"]


def test_a_cold_cache_reads_the_terms_once(client, worker):
    template_id = f.template().id
    db.session.commit()
    claim_service.forget_terms()
    fresh_get(client, "/worker/cards")  # region names warm: only the terms are cold

    db.session.close()
    with transaction_log(db.engine) as first:
        fresh_get(client, f"/worker/cards/{template_id}")
    with transaction_log(db.engine) as second:
        fresh_get(client, f"/worker/cards/{template_id}")

    assert len(statements_only(first)) == CONFIRM_PAGE_STATEMENTS + 1
    assert sum("JOIN policies" in s for s in statements_only(first)) == 1
    assert len(statements_only(second)) == CONFIRM_PAGE_STATEMENTS


def test_the_claim_still_needs_its_csrf_token(make_app, worker):
    """The page writes its one-button form out by hand; CSRFProtect guards the POST all the same."""
    strict = make_app(WTF_CSRF_ENABLED=True)
    template_id = f.template().id
    db.session.commit()
    client = signed_in_client(strict, worker.id)

    assert client.post(f"/worker/cards/{template_id}").status_code == 400
    assert voucher_count(template_id) == 0
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      text_of(client.get(f"/worker/cards/{template_id}"))).group(1)
    assert client.post(f"/worker/cards/{template_id}", data={"csrf_token": token}).status_code == 302


# --- the terms cache's invalidation rule --------------------------------------------------------

def raw_update(sql: str, **params) -> None:
    """A write the app's engine events never see: another process's."""
    db.session.commit()
    with db.engine.connect() as connection:
        connection.execute(text(sql), params)
        connection.commit()


def test_stock_and_status_are_read_live_never_from_the_cache(client, worker):
    template_id = f.template(stock=10).id
    db.session.commit()
    assert "10 张" in text_of(fresh_get(client, f"/worker/cards/{template_id}"))

    raw_update("UPDATE voucher_templates SET claimed_count = 7 WHERE id = :id", id=template_id)
    assert "3 张" in text_of(fresh_get(client, f"/worker/cards/{template_id}"))

    raw_update("UPDATE voucher_templates SET status = 'closed' WHERE id = :id", id=template_id)
    closed = fresh_get(client, f"/worker/cards/{template_id}")
    assert closed.status_code == 302 and "该券已停止发放" in text_of(fresh_get(client, "/worker/cards"))


def test_a_cached_entry_serves_only_the_row_it_was_read_from(client, worker):
    """Another template under the same id (SQLite takes a deleted row's id again) is read afresh."""
    template_id = f.template(name="旧的培训券").id
    db.session.commit()
    assert "旧的培训券" in text_of(fresh_get(client, f"/worker/cards/{template_id}"))

    raw_update("UPDATE voucher_templates SET name = '新的培训券', created_at = :later WHERE id = :id",
               later=f.utcnow_plus(seconds=1), id=template_id)
    assert "新的培训券" in text_of(fresh_get(client, f"/worker/cards/{template_id}"))


def test_a_policy_adjusted_in_the_database_applies_once_the_entry_is_older_than_max_age(client, worker,
                                                                                       monkeypatch):
    template_id = f.template().id
    db.session.commit()
    assert "领取后90天内须到培训机构验券" not in text_of(fresh_get(client, f"/worker/cards/{template_id}"))

    raw_update("UPDATE policies SET activation_days = 90 WHERE code = 'default'")
    assert "领取后90天内须到培训机构验券" not in text_of(fresh_get(client, f"/worker/cards/{template_id}"))

    later = time.monotonic() + claim_service.TERMS_MAX_AGE + 1
    monkeypatch.setattr(claim_service, "time", SimpleNamespace(monotonic=lambda: later))
    assert "领取后90天内须到培训机构验券" in text_of(fresh_get(client, f"/worker/cards/{template_id}"))


def test_a_draft_is_never_cached(session, worker):
    draft = f.template(status="draft", name="草稿")
    session.commit()
    assert claim_service.read_offer(session, worker.id, draft.id).template.name == "草稿"
    draft.name = "改过的草稿"  # a draft may still be edited
    session.commit()
    assert claim_service.read_offer(session, worker.id, draft.id).template.name == "改过的草稿"


# --- admission control --------------------------------------------------------------------------

@pytest.fixture
def one_at_a_time(make_app):
    """Another app on the same database with room for one claim of a template at a time."""
    return make_app(CLAIM_ADMISSION_LIMIT=1, CLAIM_ADMISSION_RETRY_AFTER=3)


def signed_in_client(app, person_id: int):
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie["_user_id"], cookie["_fresh"] = f"p:{person_id}", True
    return client


def test_a_claim_past_the_limit_gets_503_at_once_writes_nothing_and_succeeds_after(one_at_a_time, worker):
    template_id = f.template(stock=10).id
    db.session.commit()
    client = signed_in_client(one_at_a_time, worker.id)

    with one_at_a_time.app_context():
        with admission.claim_slot(template_id):  # another worker's claim, in flight
            busy = client.post(f"/worker/cards/{template_id}")
            assert admission.in_flight(template_id) == 1
        assert admission.in_flight(template_id) == 0

    page = text_of(busy)
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "3"
    assert BUSY in page and "再试一次" in page and 'method="post"' in page
    assert "领完" not in page  # never told the stock is gone
    assert voucher_count(template_id, worker.id) == 0 and claimed_count(template_id) == 0

    again = client.post(f"/worker/cards/{template_id}")
    assert again.status_code == 302 and voucher_count(template_id, worker.id) == 1
    with one_at_a_time.app_context():
        assert admission.in_flight(template_id) == 0


def test_a_refusal_needs_no_slot_and_holds_none(one_at_a_time, worker):
    """Stock already gone: the worker is told so at once, even with every slot taken."""
    template_id = f.template(stock=1, claimed_count=1).id
    db.session.commit()
    client = signed_in_client(one_at_a_time, worker.id)

    with one_at_a_time.app_context(), admission.claim_slot(template_id):
        response = client.post(f"/worker/cards/{template_id}")
    assert response.status_code == 400 and "已领完" in text_of(response)
    with one_at_a_time.app_context():
        assert admission.in_flight(template_id) == 0


def test_the_slot_is_given_back_when_the_claim_fails_inside_it(one_at_a_time, worker, monkeypatch):
    template_id = f.template(stock=10).id
    db.session.commit()
    client = signed_in_client(one_at_a_time, worker.id)

    def gone(*_args):
        raise OutOfStock("该培训券已被领完，请关注其他培训券")

    monkeypatch.setattr(claim_service, "take_stock", gone)  # the last unit went after the page read it
    refused = client.post(f"/worker/cards/{template_id}")
    assert refused.status_code == 400 and "已被领完" in text_of(refused)

    def broken(*_args):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(claim_service, "take_stock", broken)
    with pytest.raises(RuntimeError):  # TESTING lets it through; a server answers 500
        client.post(f"/worker/cards/{template_id}")

    assert voucher_count(template_id) == 0 and claimed_count(template_id) == 0  # both rolled back
    with one_at_a_time.app_context():
        assert admission.in_flight(template_id) == 0
    monkeypatch.undo()
    assert client.post(f"/worker/cards/{template_id}").status_code == 302


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_instances_sharing_redis_share_the_limit(make_app, worker):
    settings = {"CLAIM_ADMISSION_LIMIT": 1, "CLAIM_ADMISSION_STORAGE_URI": "redis://127.0.0.1:6379/15"}
    one, two = make_app(**settings), make_app(**settings)
    template_id = f.template(stock=10).id
    db.session.commit()

    with one.app_context(), admission.claim_slot(template_id):  # in flight on the first instance
        busy = signed_in_client(two, worker.id).post(f"/worker/cards/{template_id}")
        with two.app_context():
            assert admission.in_flight(template_id) == 1
    assert busy.status_code == 503 and BUSY in text_of(busy)
    with two.app_context():
        assert admission.in_flight(template_id) == 0
    assert signed_in_client(two, worker.id).post(f"/worker/cards/{template_id}").status_code == 302


def test_while_the_store_is_unreachable_claims_go_ahead_and_say_so_in_the_log(make_app, worker, caplog):
    """The guarded UPDATE keeps the stock exact without admission control; a Redis outage must not
    stop every claim."""
    unreachable = make_app(CLAIM_ADMISSION_LIMIT=1, CLAIM_ADMISSION_STORAGE_URI="redis://127.0.0.1:1/0")
    template_id = f.template(stock=10).id
    db.session.commit()

    response = signed_in_client(unreachable, worker.id).post(f"/worker/cards/{template_id}")

    assert response.status_code == 302 and voucher_count(template_id, worker.id) == 1
    assert "claim admission store unreachable" in caplog.text


def test_a_slot_inside_a_failing_block_is_given_back(app):
    with pytest.raises(OutOfStock):
        with admission.claim_slot(424242):
            raise OutOfStock()
    with pytest.raises(RuntimeError):
        with admission.claim_slot(424242):
            raise RuntimeError
    assert admission.in_flight(424242) == 0


# --- many at once -------------------------------------------------------------------------------

def crowd(app, template_id: int, count: int = THREADS) -> list[int]:
    """`count` signed-in workers pressing 确认领取 at the same instant; their HTTP answers."""
    clients = [signed_in_client(app, f.person().id) for _ in range(count)]

    def work(i):
        return clients[i].post(f"/worker/cards/{template_id}").status_code

    return race(app, work, count)


def test_the_stock_comes_out_exact_when_a_crowd_claims_at_once(make_app):
    roomy = make_app(CLAIM_ADMISSION_LIMIT=THREADS)
    stock = 5
    template_id = f.template(stock=stock).id

    answers = crowd(roomy, template_id)

    assert Counter(answers) == Counter({302: stock, 400: THREADS - stock}), answers
    assert voucher_count(template_id) == claimed_count(template_id) == stock


def test_under_admission_control_a_crowd_gets_claimed_gone_or_busy_never_a_wrong_answer(make_app):
    tight = make_app(CLAIM_ADMISSION_LIMIT=1)
    stock = 5
    template_id = f.template(stock=stock).id

    answers = Counter(crowd(tight, template_id))

    assert set(answers) <= {302, 400, 503}, answers
    assert voucher_count(template_id) == claimed_count(template_id) == answers[302] <= stock
    if answers[400]:  # someone was told the stock is gone: then it is
        assert answers[302] == stock
    with tight.app_context():
        assert admission.in_flight(template_id) == 0
