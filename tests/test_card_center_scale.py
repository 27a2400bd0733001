"""卡券中心 at national scale: the statements one page costs do not grow with the number of templates,
what the worker can claim comes first, the rest is one line each or behind a link, the page stays
under 50 KB with 300 templates, and cached region names follow a rename."""
import time
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import event, update

from h5app import region_names as region_cache
from h5app.extensions import db
from h5app.models import Person, Region, VoucherTemplate
from h5app.timeutil import local_today

from . import factories as f
from .auth_support import sign_in, text_of
from .page_support import fresh_get

# The signed-in person, my vouchers (their templates joined), the templates in their claim window
# (policies joined). Region names come from the per-process cache: no statement once it is warm.
CARD_CENTER_STATEMENTS = 3


@contextmanager
def statements():
    """Every statement sent to the database inside the block (transaction control left out: SQLite's
    BEGIN IMMEDIATE is ours, PostgreSQL's the driver's)."""
    seen = []

    def record(_connection, _cursor, statement, *_args):
        if not statement.lstrip().upper().startswith("BEGIN"):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


@pytest.fixture
def worker(client):
    """A worker of 越城区 (under 绍兴市) with 20 months of insurance: Shaoxing's general vouchers
    (36 months) are out of reach, default-policy ones are not."""
    f.region("330600", "绍兴市")
    f.region("330602", "越城区", parent="330600")
    person = f.person(name="王建国", region_code="330602", insurance_months=20, groups=["unemployed"])
    db.session.commit()
    sign_in(client, person)
    return person


def nationwide_templates(count: int, start: int = 0) -> None:
    """`count` open templates spread over 60 prefectures outside Zhejiang, under all four policies."""
    policies = ["default", "shaoxing", "chongqing", "wuxi"]
    for i in range(start, start + count):
        code = f"{11 + i % 60:02d}{i // 60 + 1:02d}00"
        if code.startswith("33"):
            code = f"99{code[2:]}"
        f.region(code, f"测试地区{code}", policies[i % 4])
        f.template(policies[i % 4], name=f"外地培训券{i}", region_code=code, voucher_type=f"类型{i % 7}")


def card_center(client) -> tuple[str, list[str]]:
    """One GET of 卡券中心 with the region names already cached: (page, statements)."""
    fresh_get(client, "/worker/cards")
    with statements() as seen:
        response = fresh_get(client, "/worker/cards")
    assert response.status_code == 200
    return text_of(response), seen


def test_card_center_statements_do_not_grow_with_the_number_of_templates(client, worker):
    f.template(name="本地培训券")
    held = f.template("chongqing", name="已领的重庆券", region_code="500000")  # yearly limit counts my claims
    f.voucher(held, worker, "claimed", claimed_at=f.utcnow_plus(days=-1))
    nationwide_templates(3)
    db.session.commit()
    _page, few = card_center(client)

    nationwide_templates(55, start=3)
    db.session.commit()
    page, many = card_center(client)

    assert "本地培训券" in page and "共 58 张" in page
    assert len(few) == len(many) == CARD_CENTER_STATEMENTS, many
    assert ["FROM people" in many[0], "FROM vouchers" in many[1], "FROM voucher_templates" in many[2]] == [True] * 3


def test_the_first_page_after_a_region_write_reads_the_names_once(client, worker):
    f.template(name="本地培训券")
    nationwide_templates(20)
    db.session.commit()
    with statements() as seen:
        fresh_get(client, "/worker/cards")
    assert len(seen) == CARD_CENTER_STATEMENTS + 1
    assert sum("FROM regions" in statement for statement in seen) == 1


def test_what_i_can_claim_comes_first_then_why_not_for_my_region_and_the_rest_behind_a_link(client, worker):
    today = local_today()
    f.template("shaoxing", name="绍兴通用券", claim_ends_on=today + timedelta(days=3))  # needs 36 months
    f.template(name="越城区就业技能培训券", claim_ends_on=today + timedelta(days=20))
    f.region("500000", "重庆市", "chongqing")
    f.template("chongqing", name="重庆通用券", region_code="500000", claim_ends_on=today + timedelta(days=1))
    db.session.commit()

    page = text_of(client.get("/worker/cards"))
    claimable, rest = page.split("您暂时不能领取", 1)
    assert "越城区就业技能培训券" in claimable and "剩余数量" in claimable and "/worker/cards/" in claimable
    assert "绍兴通用券" in rest and "不能领取：需在本地缴纳失业保险满36个月，您目前为20个月" in rest
    assert "重庆通用券" not in page
    assert "/worker/cards/others" in rest and "共 2 张" in rest

    others = text_of(client.get("/worker/cards/others"))
    assert others.index("绍兴通用券") < others.index("重庆通用券")  # mine before other regions'
    assert "不能领取：该券限重庆市的劳动者领取，您登记的所在地区为越城区" in others
    assert "越城区就业技能培训券" not in others


def test_nothing_claimable_says_so_and_still_explains_why_not(client, worker):
    f.template("shaoxing", name="绍兴通用券")
    db.session.commit()
    page = text_of(client.get("/worker/cards"))
    assert "目前没有您可以领取的培训券" in page and "需在本地缴纳失业保险满36个月" in page
    assert "/worker/cards/others" not in page  # nothing more to see


def test_card_center_with_300_templates_nationwide_stays_under_50kb(client, worker):
    for i in range(25):
        f.template(name=f"本地可领券{i}")
    for i in range(15):
        f.template("shaoxing", name=f"本地不可领券{i}")
    nationwide_templates(260)
    db.session.commit()

    first = client.get("/worker/cards")
    page = text_of(first)
    assert len(first.get_data()) < 50 * 1024
    assert page.count("领取</a>") == 20 and "第 1 / 2 页" in page
    assert page.count("不能领取：") == 10 and "共 275 张" in page

    second = text_of(client.get("/worker/cards?page=2"))
    assert second.count("领取</a>") == 5
    for number in range(1, 11):
        response = client.get(f"/worker/cards/others?page={number}")
        assert len(response.get_data()) < 50 * 1024
        assert text_of(response).count("不能领取：") == (5 if number == 10 else 30)


def test_renaming_a_region_shows_the_new_name_at_once(client, worker):
    f.template(name="本地培训券")
    db.session.commit()
    assert "绍兴市" in card_center(client)[0]

    region = db.session.query(Region).filter_by(code="330600").one()
    region.name = "绍兴市（新）"
    db.session.commit()
    assert "绍兴市（新）" in text_of(client.get("/worker/cards"))

    db.session.execute(update(Region).where(Region.code == "330600").values(name="绍兴"))
    db.session.commit()
    page = text_of(client.get("/worker/cards"))
    assert "绍兴</dd>" in page and "绍兴市" not in page


def test_a_rename_by_another_process_shows_once_the_cache_is_older_than_max_age(client, worker, monkeypatch):
    f.template(name="本地培训券")
    db.session.commit()
    assert "绍兴市" in card_center(client)[0]

    # Another process's write: straight through the driver, unseen by this process's engine events.
    db.session.commit()  # end the page's read transaction (SQLite's BEGIN IMMEDIATE holds the write lock)
    raw = db.engine.raw_connection()
    try:
        raw.cursor().execute("UPDATE regions SET name = '绍兴市（新）' WHERE code = '330600'")
        raw.commit()
    finally:
        raw.close()
    assert "绍兴市（新）" not in text_of(client.get("/worker/cards"))

    later = time.monotonic() + region_cache.MAX_AGE + 1
    monkeypatch.setattr(region_cache, "time", SimpleNamespace(monotonic=lambda: later))
    assert "绍兴市（新）" in text_of(client.get("/worker/cards"))


def test_the_yearly_limit_counted_from_loaded_vouchers_says_what_the_claim_page_says(client, worker):
    f.region("500000", "重庆市", "chongqing")
    f.region("500101", "万州区", parent="500000")
    worker.region_code = "500101"
    taken = f.template("chongqing", name="去年领过的同类券", region_code="500000", voucher_type="创业培训券")
    f.voucher(taken, worker, "claimed", claimed_at=f.utcnow_plus(days=-400))
    first = f.template("chongqing", name="重庆创业培训券", region_code="500000", voucher_type="创业培训券")
    db.session.commit()
    first_id, worker_id = first.id, worker.id
    assert "不能领取" not in text_of(fresh_get(client, "/worker/cards"))  # last year's claim does not count

    f.voucher(db.session.get(VoucherTemplate, first_id), db.session.get(Person, worker_id), "claimed",
              claimed_at=f.earlier_this_year(days=1))
    second = f.template("chongqing", name="重庆创业培训券（二期）", region_code="500000", voucher_type="创业培训券")
    f.template("chongqing", name="重庆技能提升券", region_code="500000", voucher_type="技能提升券")
    db.session.commit()
    second_id = second.id
    reason = "本年度同类型培训券（创业培训券）每人限领1次，您已领取"
    page = text_of(fresh_get(client, "/worker/cards"))
    assert f"不能领取：{reason}" in page and page.count("不能领取：") == 1
    assert "重庆技能提升券" in page.split("您暂时不能领取")[0]
    assert reason in text_of(client.get(f"/worker/cards/{second_id}"))  # counted by the database there
