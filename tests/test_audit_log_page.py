"""审计日志 as a clerk reads it: 50 a page with 更早的记录, a voucher column, words instead of action
codes, dates at the calendar's edges refused instead of a 500, and a page cost that does not grow
with the rows shown."""
import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from h5app.extensions import db
from h5app.vouchers import audit

from . import factories as f
from .auth_support import staff_sign_in


@pytest.fixture
def clerk(client):
    user = f.staff("bureau")
    db.session.commit()
    staff_sign_in(client, user)
    return user


@contextmanager
def counted():
    seen = []

    def count(_connection, _cursor, statement, *_args):
        seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def vouchers_moved(n):
    template = f.template()
    actor = f.bureau_actor()
    made = []
    for _ in range(n):
        voucher = f.voucher(template, f.person())
        audit.record(db.session, actor, "voucher.revoke", voucher=voucher, from_status="claimed",
                     to_status="revoked", reason="测试作废")
        made.append(voucher)
    db.session.commit()
    return made


def test_fifty_a_page_and_the_older_ones_behind_a_link(client, clerk):
    made = vouchers_moved(60)

    first = client.get("/bureau/audit").get_data(as_text=True)
    assert first.count("测试作废") == 50
    older = re.search(r'href="(/bureau/audit\?before=\d+)"', first).group(1)
    second = client.get(older).get_data(as_text=True)

    assert second.count("测试作废") == 10 and "更早的记录" not in second and "最新记录" in second
    assert made[0].code in second and made[-1].code in first  # the voucher column, newest first


def test_actions_are_shown_in_words(client, clerk):
    actor = f.bureau_actor()
    audit.record(db.session, actor, "person.sso_login", region_code="330600")
    db.session.commit()

    page = client.get("/bureau/audit").get_data(as_text=True)

    assert "渠道登录" in page and "person.sso_login" not in page


@pytest.mark.parametrize("query", ["to=9999-12-31", "from=0001-01-01&to=9999-12-31", "to=99999-01-01"])
def test_dates_at_the_calendars_edges_are_refused_not_a_server_error(client, clerk, query):
    response = client.get(f"/bureau/audit?{query}")
    assert response.status_code == 200
    assert "日期格式应为" in response.get_data(as_text=True)


def test_a_page_costs_the_same_statements_for_five_rows_and_for_fifty(client, clerk):
    vouchers_moved(5)
    db.session.commit()  # each request starts as a server's would: nothing loaded
    with counted() as few:
        client.get("/bureau/audit")
    vouchers_moved(55)
    db.session.commit()
    with counted() as many:
        client.get("/bureau/audit")
    assert len(few) == len(many) <= 3, (few, many)  # (BEGIN,) the clerk, the page of events with vouchers
