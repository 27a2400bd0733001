"""发券 → 通用券 to a population, as a bureau clerk uses it: the filters and their live count, 预览
with a masked sample, 确认 run as a background task (inline in tests) and its result page; every
bad input answered in words with nothing written."""
import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from h5app.bureau import population as population_views
from h5app.extensions import db
from h5app.models import BackgroundTask, Issuance, Notification, Voucher
from h5app.models.tasks import RUNNING
from h5app.timeutil import utcnow

from . import factories as f
from .auth_support import staff_sign_in


@pytest.fixture
def clerk(client):
    f.region("330602", "越城区", parent="330600")
    f.region("330603", "柯桥区", parent="330600")
    user = f.staff("bureau", name="何经办")
    db.session.commit()
    staff_sign_in(client, user)
    return user


def vouchers(*where) -> int:
    return db.session.scalar(select(func.count(Voucher.id)).where(*where))


def confirm_data(template, expected, **filters):
    return {"template_id": template.id, "expected": expected, **filters}


def test_the_issue_page_offers_the_population_filters(client, clerk):
    template = f.template(name="2026年失业人员技能培训券")
    db.session.commit()
    page = client.get("/bureau/issue").get_data(as_text=True)
    for words in ("通用券：向目标人群发放", "重点群体", "越城区", "柯桥区", "失业保险缴费月数不少于", "就业状态",
                  "已办理失业登记", template.name, 'action="/bureau/issue/general"', "预览"):
        assert words in page


def test_the_live_count_follows_the_filters(client, clerk):
    template = f.template(name="通用券", audience="targeted", eligible_groups=[])
    f.person(groups=["graduate"], region_code="330603")
    f.person(groups=["unemployed"], insurance_months=12)
    holder = f.person(groups=["unemployed"])
    f.voucher(template, holder, "claimed")
    db.session.commit()
    url = f"/bureau/issue/count?template_id={template.id}"
    assert client.get(url).get_json() == {"count": 2, "held": 1, "stock_problem": None}
    assert client.get(url + "&groups=graduate").get_json()["count"] == 1
    assert client.get(url + "&region_code=330603").get_json()["count"] == 1
    assert client.get(url + "&min_insurance_months=24").get_json()["count"] == 1
    assert client.get(url + "&employment=unemployment_registered").get_json()["count"] == 0


@pytest.mark.parametrize("query, status, code, words", [
    ("min_insurance_months=abc", 400, "VALIDATION_FAILED", "不是有效的整数"),
    ("min_insurance_months=900", 400, "VALIDATION_FAILED", "缴费月数应为0至600之间的整数"),
    ("groups=astronaut", 400, "VALIDATION_FAILED", "不是可选的值"),
    ("region_code=110000", 422, "VALIDATION_FAILED", "所选地区不在该券的使用地区内"),
    ("employment=retired", 422, "VALIDATION_FAILED", "就业状态不在可选范围内"),
])
def test_the_live_count_explains_a_bad_filter(client, clerk, query, status, code, words):
    template = f.template()
    db.session.commit()
    response = client.get(f"/bureau/issue/count?template_id={template.id}&{query}")
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code and words in error["message"]


def test_the_live_count_of_another_regions_template_is_not_found(client, clerk):
    f.region("500000", "重庆市")
    theirs = f.template(region_code="500000")
    db.session.commit()
    response = client.get(f"/bureau/issue/count?template_id={theirs.id}")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "NOT_FOUND"
    assert client.get("/bureau/issue/count?template_id=abc").status_code == 400


def test_preview_shows_the_count_the_holders_and_a_masked_sample_with_the_confirm_button(client, clerk):
    template = f.template(name="2026年失业人员技能培训券", stock=None)
    people = [f.person(name="欧阳建国", phone=f"1390000{n:04d}") for n in range(22)]
    f.voucher(template, people[0], "claimed")
    db.session.commit()

    response = client.get(f"/bureau/issue/general?template_id={template.id}&region_code=330602")
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "2026年失业人员技能培训券：发放预览" in page and "地区：越城区" in page
    assert '<strong id="preview-count">21</strong>' in page and "人已持有该券，不再发放" in page
    assert "抽样核对（前20人，信息已脱敏）" in page and page.count("欧**国") == 20
    assert "确认向21人发放" in page and 'name="expected"' in page and 'value="21"' in page
    assert 'name="region_code" value="330602"' in page
    for person in people:
        assert person.id_number not in page and person.phone not in page


def test_confirm_offers_exactly_the_previewed_people_and_shows_the_result(client, clerk):
    template = f.template(name="退役军人技能培训券", stock=None)
    veterans = [f.person(groups=["veteran"]) for _ in range(3)]
    f.person(groups=["unemployed"])
    db.session.commit()

    response = client.post("/bureau/issue/general", data=confirm_data(template, 3, groups="veteran"))

    assert response.status_code == 302 and "/bureau/issue/tasks/" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "发放完成：已向 <strong id=\"offered-count\">3</strong> 人发放，0 人已持有该券未重复发放" in page
    assert "重点群体：退役军人" in page and "未配置短信通知网关，未发送短信（3人登记了手机号）" in page
    db.session.expire_all()
    offered = set(db.session.scalars(select(Voucher.person_id).where(Voucher.template_id == template.id)))
    assert offered == {v.id for v in veterans}
    assert db.session.scalar(select(func.count(Notification.id)).where(Notification.kind == "general_offered")) == 3
    task = db.session.scalar(select(BackgroundTask))
    assert (task.status, task.processed, task.succeeded, task.total) == ("done", 3, 3, 3)
    assert task.created_by_id == clerk.id and task.region_code == "330600"
    assert "id_number" not in str(task.params) and "phone" not in str(task.params)


def test_an_offered_worker_is_told_sees_it_in_the_card_center_and_claims_it(client, clerk):
    template = f.template(name="2026年失业人员技能培训券", audience="targeted", stock=10)
    worker = f.person(name="王建国")
    db.session.commit()
    client.post("/bureau/issue/general", data=confirm_data(template, 1))

    phone = client  # the worker's phone, after the clerk
    with phone.session_transaction() as sess:
        sess["_user_id"], sess["_fresh"] = worker.get_id(), True
    messages = phone.get("/worker/messages").get_data(as_text=True)
    assert "您有一张职业培训券可以领取" in messages and f"/worker/cards/{template.id}" in messages
    assert "2026年失业人员技能培训券" in phone.get("/worker/cards").get_data(as_text=True)
    claimed = phone.post(f"/worker/cards/{template.id}")
    assert claimed.status_code == 302 and "claimed=1" in claimed.headers["Location"]
    db.session.expire_all()
    assert db.session.scalar(select(Voucher.status).where(Voucher.person_id == worker.id)) == "claimed"


def test_confirming_again_offers_nobody_twice(client, clerk):
    template = f.template(stock=None)
    f.person(), f.person()
    db.session.commit()
    client.post("/bureau/issue/general", data=confirm_data(template, 2))
    again = client.post("/bureau/issue/general", data=confirm_data(template, 2))
    assert again.status_code == 400
    page = again.get_data(as_text=True)
    assert "没有符合条件且尚未持有该券的人员（2人已持有该券）" in page and "2</strong><span>人已持有该券" in page
    assert "确认向" not in page
    assert vouchers() == 2 and db.session.scalar(select(func.count(Issuance.id))) == 1


def test_a_population_changed_since_the_preview_is_shown_again_and_nothing_written(client, clerk):
    template = f.template(stock=None)
    f.person(), f.person()
    db.session.commit()
    response = client.post("/bureau/issue/general", data=confirm_data(template, 5))
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "符合条件的人数已从预览时的5人变为2人" in page and "确认向2人发放" in page
    assert vouchers() == 0 and db.session.scalar(select(func.count(BackgroundTask.id))) == 0


@pytest.mark.parametrize("make_template, words", [
    (lambda: f.directed_template(), "定向券请按班期花名册发放"),
    (f.lapsed_template, "领取时间已于"),
    (lambda: f.template(status="closed"), "该券模板已关闭"),
    (lambda: f.template(eligible_groups=["disabled"]), "没有符合条件且尚未持有该券的人员"),
    (lambda: f.template(stock=1), "超出库存，请增加筛选条件缩小发放范围"),
])
def test_preview_and_confirm_explain_a_template_that_cannot_go_to_this_population(client, clerk, make_template, words):
    template = make_template()
    f.person(), f.person()
    db.session.commit()
    preview = client.get(f"/bureau/issue/general?template_id={template.id}")
    assert words in preview.get_data(as_text=True) and "确认向" not in preview.get_data(as_text=True)
    confirm = client.post("/bureau/issue/general", data=confirm_data(template, 2))
    assert confirm.status_code == 400 and words in confirm.get_data(as_text=True)
    assert vouchers() == 0 and db.session.scalar(select(func.count(BackgroundTask.id))) == 0


def test_the_issue_page_refuses_a_lapsed_template_in_the_same_words(client, clerk, session):
    template = f.lapsed_template("claim_ended")
    f.person()
    session.commit()
    response = client.post("/bureau/issue/general", data={"template_id": template.id, "expected": 1})
    assert response.status_code == 400
    assert "领取时间已于" in response.get_data(as_text=True)
    assert vouchers(Voucher.template_id == template.id) == 0


@pytest.mark.parametrize("data, words", [
    ({"template_id": ""}, "请选择通用券模板"),
    ({"template_id": "99999"}, "未找到该券模板，请从列表中选择本地区的通用券模板"),
    ({"min_insurance_months": "-1"}, "缴费月数应为0至600之间的整数"),
    ({"expected": ""}, "请先预览再确认发放"),
    ({"expected": "many"}, "请先预览再确认发放"),
    ({"employment": "retired"}, "就业状态不在可选范围内"),
    ({"region_code": "330100"}, "所选地区不在该券的使用地区内"),
    ({"groups": "astronaut"}, "不是可选的值"),
])
def test_a_bad_confirmation_is_explained_and_writes_nothing(client, clerk, data, words):
    template = f.template()
    f.person()
    db.session.commit()
    response = client.post("/bureau/issue/general", data={**confirm_data(template, 1), **data})
    assert response.status_code == 400 and words in response.get_data(as_text=True)
    assert vouchers() == 0


def test_another_regions_template_is_not_found_on_preview_or_confirm(client, clerk):
    f.region("500000", "重庆市")
    theirs = f.template(region_code="500000")
    f.person(region_code="500103")
    db.session.commit()
    preview = client.get(f"/bureau/issue/general?template_id={theirs.id}")
    assert preview.status_code == 400 and "未找到该券模板" in preview.get_data(as_text=True)
    confirm = client.post("/bureau/issue/general", data=confirm_data(theirs, 1))
    assert confirm.status_code == 400 and "未找到该券模板" in confirm.get_data(as_text=True)
    assert vouchers() == 0


def test_a_second_issuance_of_a_template_while_one_runs_is_refused(client, clerk):
    template = f.template(stock=None)
    f.person()
    db.session.add(BackgroundTask(kind="population_issue", status=RUNNING, params={"template_id": template.id},
                                  region_code="330600", heartbeat_at=utcnow()))
    db.session.commit()
    response = client.post("/bureau/issue/general", data=confirm_data(template, 1))
    assert response.status_code == 409 and "该券正在向人群发放中" in response.get_data(as_text=True)
    assert vouchers() == 0


def test_another_regions_task_page_is_not_found(client, clerk):
    task = BackgroundTask(kind="population_issue", status="done", params={}, region_code="500000")
    db.session.add(task)
    db.session.commit()
    assert client.get(f"/bureau/issue/tasks/{task.id}").status_code == 404
    assert client.get("/bureau/issue/tasks/99999").status_code == 404


def test_the_console_sms_backend_sends_nothing_in_bulk_and_logs_a_count(client, clerk, app, caplog):
    template = f.template(stock=None)
    f.person(phone="13900000001"), f.person(phone="13900000002")
    db.session.commit()
    with caplog.at_level(logging.INFO, logger="h5app.bureau.population"):
        client.post("/bureau/issue/general", data=confirm_data(template, 2))
    assert app.extensions.get("sms_outbox", []) == []
    assert any("已向2人发送站内消息，其中2人有手机号" in r.getMessage() for r in caplog.records)
    assert not any("13900000001" in r.getMessage() for r in caplog.records)


def test_a_login_code_gateway_is_not_used_for_offer_notices(client, clerk, app, monkeypatch):
    """A provider sends only its approved templates: the sign-in code's would read as a code."""
    from h5app.auth import sms

    template = f.template(stock=None)
    f.person(phone="13900000001")
    db.session.commit()
    sent = []
    monkeypatch.setitem(sms.BACKENDS, "aliyun", lambda phone, text, **kw: sent.append(phone))
    monkeypatch.setitem(app.config, "SMS_BACKEND", "aliyun")
    location = client.post("/bureau/issue/general", data=confirm_data(template, 1)).headers["Location"]
    assert sent == [] and "未配置短信通知网关" in client.get(location).get_data(as_text=True)


def test_a_configured_sms_gateway_tells_each_person_with_a_phone(client, clerk, app, monkeypatch):
    template = f.template(name="家政培训券", stock=None)
    f.person(phone="13900000001"), f.person(phone=None)
    db.session.commit()
    sent = []
    monkeypatch.setitem(population_views.NOTICE_SENDERS, "gateway", lambda phone, text: sent.append((phone, text)))
    monkeypatch.setitem(app.config, "SMS_BACKEND", "gateway")
    location = client.post("/bureau/issue/general", data=confirm_data(template, 2)).headers["Location"]
    assert [phone for phone, _ in sent] == ["13900000001"] and "家政培训券" in sent[0][1]
    assert "短信通知：已发送1条" in client.get(location).get_data(as_text=True)


def test_a_task_that_finds_the_population_changed_when_it_starts_writes_nothing_and_says_why(client, clerk, app):
    """Queued behind another task while an import changed the records: it refuses rather than offer
    a count nobody confirmed."""
    from h5app import tasks

    template = f.template(stock=None)
    f.person()
    task = BackgroundTask(kind="population_issue", params={"template_id": template.id, "filters": {}, "expected": 7},
                          region_code="330600", created_by_id=clerk.id, total=7)
    db.session.add(task)
    db.session.flush()
    task_id = task.id
    db.session.commit()  # and no read after it: on SQLite a read would hold the lock the task needs
    tasks.run(app, task_id)
    page = client.get(f"/bureau/issue/tasks/{task_id}").get_data(as_text=True)
    assert "未发放：符合条件的人数已从7人变为1人" in page
    assert vouchers() == 0 and db.session.scalar(select(func.count(Issuance.id))) == 0


def test_an_interrupted_task_says_so(client, clerk):
    task = BackgroundTask(kind="population_issue", status=RUNNING, params={}, region_code="330600",
                          heartbeat_at=utcnow() - timedelta(hours=1), succeeded=5000, total=9000)
    db.session.add(task)
    db.session.commit()
    page = client.get(f"/bureau/issue/tasks/{task.id}").get_data(as_text=True)
    assert "发放任务中断（已发放的5000张已保存）" in page and 'http-equiv="refresh"' not in page


def test_a_running_task_page_reloads_itself_and_shows_progress(client, clerk):
    task = BackgroundTask(kind="population_issue", status=RUNNING, params={}, region_code="330600",
                          heartbeat_at=utcnow(), processed=2500, total=10000)
    db.session.add(task)
    db.session.commit()
    page = client.get(f"/bureau/issue/tasks/{task.id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' in page and "已处理 2500 / 10000 人" in page and 'value="25"' in page
