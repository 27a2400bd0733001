"""审计日志 as a clerk reads it: 50 a page with 更早的记录, a voucher column, words instead of action
codes (every action the app writes has a Chinese label, checked against the source so a new one
cannot go unlabelled), dates at the calendar's edges refused instead of a 500, and a page cost that
does not grow with the rows shown."""
import ast
import re
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event
from werkzeug.routing.converters import AnyConverter

import h5app
from h5app.extensions import db
from h5app.models.class_review import REVIEW_APPROVE, REVIEW_RESUBMIT, REVIEW_RETURN, REVIEW_SUBMIT
from h5app.models.classes import CLASS_CLOSED, CLASS_OPEN
from h5app.vouchers import audit, presence, states

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


def test_people_imports_are_shown_in_words_in_the_log_and_its_export(client, clerk):
    actor = f.bureau_actor()
    audit.record(db.session, actor, "people.import", region_code="330600", details={"task_id": 1})
    audit.record(db.session, actor, "people.upsert", region_code="330600", details={"items": 2})
    db.session.commit()
    page = client.get("/bureau/audit").get_data(as_text=True)
    export = client.get("/bureau/audit.csv").get_data().decode("utf-8-sig")
    for text in (page, export):
        assert "导入人员信息" in text and "接口推送人员信息" in text and "people." not in text


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


# --- every action the app writes has a Chinese label ------------------------------------------------

SOURCE = Path(h5app.__file__).resolve().parent
RECORDERS = {"record": 2, "record_selected": 2, "values": 1}  # audit.<name>: the action's position


def _action_argument(call: ast.Call, module: Path):
    """The action argument of an audit write, or None when `call` is not one: audit.record,
    audit.values, audit.record_selected, staffing.record (and `record` inside staffing.py)."""
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        if func.value.id == "audit" and func.attr in RECORDERS:
            position = RECORDERS[func.attr]
        elif func.value.id == "staffing" and func.attr == "record":
            position = 0
        else:
            return None
    elif isinstance(func, ast.Name) and func.id == "record" and module.name == "staffing.py":
        position = 0
    else:
        return None
    if len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == "action"), None)


def _written_actions():
    """(constants, f-string prefixes, other expressions) of every audit write in h5app, read from
    the source tree, so a new call site is checked without anyone listing it here."""
    constants, prefixes, dynamic = set(), set(), set()
    for module in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            if isinstance(node.func, ast.Name) and node.func.id == "dict":  # rows written by a plain INSERT
                found = next((k.value for k in node.keywords if k.arg == "action"), None)
                if isinstance(found, ast.Constant) and isinstance(found.value, str) and "." in found.value:
                    constants.add(found.value)
                continue
            argument = _action_argument(node, module)
            if argument is None:
                continue
            choices = [argument.body, argument.orelse] if isinstance(argument, ast.IfExp) else [argument]
            for choice in choices:  # 'settlement.submit' if submit else 'settlement.draft'
                if isinstance(choice, ast.Constant):
                    constants.add(choice.value)
                elif isinstance(choice, ast.JoinedStr):
                    prefixes.add(choice.values[0].value)
                else:
                    dynamic.add((module.relative_to(SOURCE).as_posix(), ast.unparse(choice)))
    return constants, prefixes, dynamic


def _staff_actions(app):
    """The actions the staff pages' <any(...)> route offers; `reset` is written as staff.reset_password."""
    items = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("bureau.staff_action", "institution.staff_action"):
            items |= next(c for c in rule._converters.values() if isinstance(c, AnyConverter)).items
    return items - {"reset"}


def test_every_action_the_app_writes_to_the_audit_log_has_a_chinese_label(app):
    from h5app.bureau.oversight import ACTION_LABELS  # once the app is built: its blueprint's modules import each other

    constants, prefixes, dynamic = _written_actions()
    # What each f-string's placeholder can be, from the constants that fill it.
    expansions = {
        "class.": {CLASS_OPEN, CLASS_CLOSED, REVIEW_SUBMIT, REVIEW_RESUBMIT, REVIEW_APPROVE, REVIEW_RETURN},
        "checkin.": set(presence.IN_PERSON),
        "checkout.": set(presence.IN_PERSON),
        "staff.": _staff_actions(app),
        "attendance.correction.": {"approve", "refuse"},
    }
    # The two writes whose action is not spelled at the call: the state machine's and staffing.record's.
    assert dynamic == {("vouchers/states.py", "action_for(from_status, to_status)"), ("staffing.py", "action")}
    assert prefixes <= set(expansions), f"an f-string action to list here: {prefixes - set(expansions)}"
    written = constants | set(states.ACTIONS.values()) | set(states.MOVE_ACTIONS.values())
    written |= {prefix + value for prefix in prefixes for value in expansions[prefix]}
    assert {"people.import", "people.upsert", "voucher.claim", "staff.login"} <= written  # the walk found them
    assert sorted(written - set(ACTION_LABELS)) == []
    assert all(re.search(r"[\u4e00-\u9fff]", ACTION_LABELS[a]) for a in written)


def test_each_row_names_what_it_acted_on(client, clerk):
    """制券, 生效, 发券 and a target import said only who and when: now which template, how many, which year."""
    template = f.template(name="2026年电工培训券")
    actor = f.bureau_actor()
    audit.record(db.session, actor, "template.activate", region_code="330600", details={"template_id": template.id})
    audit.record(db.session, actor, "issuance.general", region_code="330600",
                 details={"template_id": template.id, "count": 53})
    audit.record(db.session, actor, "targets.import", region_code="330600",
                 details={"kind": "region", "year": 2027, "rows": 5})
    audit.record(db.session, actor, "settlement.pay", region_code="330600",
                 details={"settlement_id": 7, "reference": "HX001", "paid_total_fen": 150000})
    db.session.commit()

    page = client.get("/bureau/audit").get_data(as_text=True)
    export = client.get("/bureau/audit.csv").get_data().decode("utf-8-sig")

    for said in ("券模板“2026年电工培训券”", "券模板“2026年电工培训券”；53张", "2027年地区任务5行",
                 "结算申请 7；1,500.00元；回单号 HX001"):
        assert said in page and said in export, said
