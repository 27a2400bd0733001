"""Helpers for the page tests: asking a page for its JSON answer, a GET as a server sees it, the text
a reader sees, the Chinese page of a 409, the statements a block sends, the weight budget of a
worker page and what counts as loading from another host, and the 新建班期 form as an officer fills
it in."""
import re
from contextlib import contextmanager

from sqlalchemy import event

from h5app.extensions import db

JSON = {"Accept": "application/json"}

BUDGET = 30 * 1024
ASSET = re.compile(r'(?:href|src)="(/static/[^"]+)"')
EXTERNAL = re.compile(r'<(?:script|link|img|iframe)[^>]+(?:src|href)="(?:https?:)?//', re.I)


def fresh_get(client, url: str):
    """A GET as a server sees it: a new session, nothing of the test's left in it."""
    db.session.close()
    return client.get(url)


def visible(response) -> str:
    """The text a reader sees."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def assert_chinese_conflict_page(response):
    text = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "页面内容已变化" in text and "请返回刷新后重试" in text
    assert "Conflict" not in text and "conflict happened" not in text


@contextmanager
def statements():
    """Every statement sent to the database inside the block (transaction control left out)."""
    seen = []

    def record(_connection, _cursor, statement, *_args):
        if not statement.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE")):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def form_data(officer, **overrides):
    site = officer.institution.sites[0]
    return {"course_name": "低压电工作业培训", "occupation": "电工", "level": "四级",
            "project_type": "employment_skills", "price": "1200", "capacity": "30",
            "starts_on": "2027-12-01", "ends_on": "2027-12-10", "sites": [str(site.id)],
            "sessions": "2027-12-01 09:00-12:00\n2027-12-03 14:00-17:30 3", "description": "", **overrides}
