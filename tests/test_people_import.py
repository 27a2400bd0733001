"""人员信息导入 (issue 18): the bureau's page and `flask people import` — CSV in UTF-8 (BOM or not)
or GBK and XLSX, read row by row in a background task with a progress page, good rows merged by
the record rule, bad rows listed with line numbers and reasons in a masked result file, only the
bureau's own people, and the same file twice changing nothing."""
import csv
import io
from datetime import date, datetime, timedelta

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.identity import mask_id_number
from h5app.models import AuditEvent, BackgroundTask, Person, PersonRecordChange
from h5app.models.tasks import RUNNING
from h5app.people import importer
from h5app.timeutil import local_today, utcnow

from . import factories as f
from .auth_support import staff_sign_in

HEADER = ["身份证号", "姓名", "手机号", "户籍地", "常住地", "就业地", "参保地", "参保月数", "失业登记地", "重点群体", "信息日期"]
AS_OF = (local_today() - timedelta(days=3)).isoformat()


def row(id_number=None, name="王建国", phone="", hukou="", residence="", employment="", insurance="330602",
        months="40", unemployment="", groups="失业人员", as_of=AS_OF) -> list:
    return [id_number or f.valid_id_number(), name, phone, hukou, residence, employment, insurance, months,
            unemployment, groups, as_of]


def csv_bytes(rows, encoding="utf-8", header=HEADER) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows, header=HEADER) -> bytes:
    book = Workbook()
    for cells in [header, *rows]:
        book.active.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def import_dir(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_DIR", str(tmp_path))
    f.region("330600", "绍兴市", "shaoxing")
    f.region("330602", "越城区", "shaoxing", parent="330600")
    f.region("330603", "柯桥区", "shaoxing", parent="330600")
    db.session.commit()
    return tmp_path


@pytest.fixture
def clerk(client):
    user = f.staff("bureau")
    db.session.commit()
    staff_sign_in(client, user)
    return user


def upload(client, data: bytes, filename="人员信息.csv"):
    return client.post("/bureau/people/import", data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def imported(client, data: bytes, filename="人员信息.csv") -> BackgroundTask:
    """Upload through the page (tasks run inline in tests) and follow to the task page."""
    response = upload(client, data, filename)
    assert response.status_code == 302, response.get_data(as_text=True)
    task_id = int(response.headers["Location"].rsplit("/", 1)[1])
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    db.session.expire_all()
    return db.session.get(BackgroundTask, task_id)


def result_lines(client, task) -> list[list[str]]:
    response = client.get(f"/bureau/people/import/{task.id}/result.csv")
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def people_count() -> int:
    return db.session.scalar(select(func.count(Person.id)))


def history_count() -> int:
    return db.session.scalar(select(func.count(PersonRecordChange.id)))


def test_good_rows_are_imported_with_their_record(client, clerk):
    numbers = [f.valid_id_number() for _ in range(3)]
    task = imported(client, csv_bytes([row(numbers[0], phone="13900000001", residence="330603", months="40"),
                                       row(numbers[1], insurance="越城区", months="12", groups="高校毕业生、失业人员"),
                                       row(numbers[2], hukou="410102", insurance="330603", groups="")]))
    assert (task.status, task.processed, task.succeeded, task.rejected) == ("done", 3, 3, 0)
    assert task.result["created"] == 3
    first = db.session.scalar(select(Person).where(Person.id_number == numbers[0]))
    assert (first.insurance_region_code, first.insurance_months, first.residence_region_code, first.region_code,
            first.phone, first.groups, first.record_source, first.record_as_of.isoformat()) == (
        "330602", 40, "330603", "330603", "13900000001", ["unemployed"], "import", AS_OF)
    second = db.session.scalar(select(Person).where(Person.id_number == numbers[1]))
    assert second.insurance_region_code == "330602" and second.groups == ["unemployed", "graduate"]
    assert history_count() == 3
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "people.import"))
    assert audit.details["created"] == 3 and audit.actor_label.endswith(clerk.username)


def test_the_task_page_shows_the_counts_and_no_result_file_when_all_went_in(client, clerk):
    task = imported(client, csv_bytes([row()]))
    page = client.get(f"/bureau/people/import/{task.id}").get_data(as_text=True)
    assert "导入完成" in page and "所有行都已导入" in page and "下载结果文件" not in page
    assert 'http-equiv="refresh"' not in page


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_in_utf8_with_or_without_bom_and_gbk(client, clerk, encoding):
    number = f.valid_id_number()
    task = imported(client, csv_bytes([row(number, name="欧阳修远", groups="农村转移就业劳动者")], encoding))
    person = db.session.scalar(select(Person).where(Person.id_number == number))
    assert task.result["created"] == 1 and person.name == "欧阳修远" and person.groups == ["rural_migrant"]


def test_xlsx_with_numbers_and_dates_in_cells(client, clerk):
    number = f.valid_id_number()
    cells = row(number, months=40, insurance=330602, phone=13900000009)
    cells[-1] = datetime(2026, 11, 30)
    task = imported(client, xlsx_bytes([cells, [None] * 11]), "人员信息.xlsx")  # a blank row is skipped
    person = db.session.scalar(select(Person).where(Person.id_number == number))
    assert task.result == {**task.result, "created": 1, "rows": 1}
    assert (person.insurance_months, person.insurance_region_code, person.phone, person.record_as_of) == (
        40, "330602", "13900000009", date(2026, 11, 30))


def test_an_id_number_excel_turned_into_a_number_is_refused_with_how_to_fix_it(client, clerk):
    task = imported(client, xlsx_bytes([row(330602198501010011)]), "人员信息.xlsx")
    [_, line] = result_lines(client, task)
    assert line[0] == "2" and "身份证号被存成了数字" in line[4]


def test_alternative_headers_of_the_systems_exports_are_recognised(client, clerk):
    number = f.valid_id_number()
    header = ["公民身份号码", "姓名", "失业保险参保地", "失业保险缴费月数", "数据日期"]
    task = imported(client, csv_bytes([[number, "王建国", "330602", "37", AS_OF]], header=header))
    assert task.result["created"] == 1
    assert db.session.scalar(select(Person.insurance_months).where(Person.id_number == number)) == 37


FUTURE = (local_today() + timedelta(days=1)).isoformat()


@pytest.mark.parametrize(("cells", "reason"), [
    ({"id_number": "330602198501010012"}, "身份证号码校验位不正确"),
    ({"name": ""}, "请填写姓名"),
    ({"name": "王建国2"}, "姓名格式不正确"),
    ({"phone": "12345"}, "手机号应为11位手机号码"),
    ({"insurance": "330699"}, "参保地：地区代码330699不在本系统的行政区划中"),
    ({"insurance": "990101"}, "参保地：地区代码990101不存在"),
    ({"insurance": "某某区"}, "参保地：应为6位行政区划代码"),
    ({"months": "601"}, "参保月数应为0至600之间的整数"),
    ({"months": "3.5"}, "参保月数应为0至600之间的整数"),
    ({"months": "-1"}, "参保月数应为0至600之间的整数"),
    ({"groups": "贫困户"}, "重点群体“贫困户”不在可选范围内"),
    ({"as_of": FUTURE}, "信息日期不能晚于今天"),
    ({"as_of": "2026-13-01"}, "信息日期应为日期"),
    ({"as_of": ""}, "请填写信息日期"),
    ({"insurance": "", "months": "", "groups": ""}, "未填写任何人员信息"),
])
def test_a_bad_row_is_listed_with_its_line_and_reason_and_the_good_rows_go_in(client, clerk, cells, reason):
    good = row()
    task = imported(client, csv_bytes([good, row(**cells)]))
    assert (task.result["created"], task.result["rejected"]) == (1, 1)
    [header, line] = result_lines(client, task)
    assert header == importer.RESULT_HEADER
    assert line[0] == "3" and line[3] == "未导入" and reason in line[4], line
    assert people_count() == 1


def test_the_result_file_masks_id_numbers_names_and_phones(client, clerk):
    number = f.valid_id_number()
    task = imported(client, csv_bytes([row(number, name="王建国", phone="13912345678", months="700")]))
    body = client.get(f"/bureau/people/import/{task.id}/result.csv").get_data().decode("utf-8-sig")
    assert number not in body and "13912345678" not in body and "王建国" not in body
    assert mask_id_number(number) in body and "王*国" in body


def test_a_phone_already_used_is_not_taken_and_the_result_file_says_so(client, clerk):
    f.person(phone="13900000077")
    db.session.commit()
    task = imported(client, csv_bytes([row(phone="13900000077")]))
    assert (task.result["created"], task.result["noted"]) == (1, 1)
    [_, line] = result_lines(client, task)
    assert line[3] == "新增（有提示）" and "139****0077已被其他人员使用" in line[4]
    page = client.get(f"/bureau/people/import/{task.id}").get_data(as_text=True)
    assert "下载结果文件" in page


def test_a_missing_required_column_is_said_at_once_and_nothing_runs(client, clerk, import_dir):
    response = upload(client, csv_bytes([["王建国", "330602", "40"]], header=["姓名", "参保地", "参保月数"]))
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "表头缺少列：身份证号、信息日期" in page
    assert db.session.scalar(select(func.count(BackgroundTask.id))) == 0
    assert list(import_dir.iterdir()) == []  # the upload is not kept


@pytest.mark.parametrize(("data", "filename", "message"), [
    (b"\xff\xfe\x00\x01\x80\x81", "a.csv", "文件编码无法识别"),
    (b"PK\x03\x04 not really a workbook", "a.xlsx", "无法读取该Excel文件"),
    (b"", "a.csv", "文件是空的"),
])
def test_an_unreadable_file_is_refused_on_the_page(client, clerk, data, filename, message):
    response = upload(client, data, filename)
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_a_file_over_the_limit_is_refused(client, clerk, app, monkeypatch):
    monkeypatch.setitem(app.config, "PEOPLE_IMPORT_MAX_BYTES", 1000)
    response = upload(client, csv_bytes([row() for _ in range(40)]))
    assert response.status_code == 400 and "文件超过" in response.get_data(as_text=True)


def test_duplicates_within_a_file_the_first_stands_and_a_different_one_is_refused(client, clerk):
    number = f.valid_id_number()
    task = imported(client, csv_bytes([row(number, months="40"), row(number, months="40"), row(number, months="41")]))
    assert (task.result["created"], task.result["unchanged"], task.result["rejected"]) == (1, 1, 1)
    [_, line] = result_lines(client, task)
    assert line[0] == "4" and "同一信息日期" in line[4]
    assert db.session.scalar(select(Person.insurance_months).where(Person.id_number == number)) == 40


def test_reimporting_the_same_file_changes_nothing(client, clerk):
    number = f.valid_id_number()
    data = csv_bytes([row(number, months="40"), row(number, months="41"), row(months="x")])
    first = imported(client, data)
    people, changes = people_count(), history_count()
    second = imported(client, data)
    assert (second.result["created"], second.result["updated"], second.result["unchanged"]) == (0, 0, 1)
    assert second.result["rejected"] == first.result["rejected"] == 2  # the same two rows, the same reasons
    assert (people_count(), history_count()) == (people, changes)


def test_an_older_file_does_not_overwrite_a_newer_one(client, clerk):
    number = f.valid_id_number()
    imported(client, csv_bytes([row(number, months="40", as_of=AS_OF)]))
    older = (local_today() - timedelta(days=30)).isoformat()
    task = imported(client, csv_bytes([row(number, months="12", as_of=older)]))
    [_, line] = result_lines(client, task)
    assert task.result["rejected"] == 1 and f"信息日期早于已登记的信息（{AS_OF}）" in line[4]
    assert db.session.scalar(select(Person.insurance_months).where(Person.id_number == number)) == 40


def test_a_newer_file_updates_and_writes_history(client, clerk):
    number = f.valid_id_number()
    imported(client, csv_bytes([row(number, months="40", as_of=AS_OF)]))
    task = imported(client, csv_bytes([row(number, months="41", as_of=local_today().isoformat())]))
    assert task.result["updated"] == 1
    change = db.session.scalars(select(PersonRecordChange).order_by(PersonRecordChange.id.desc())).first()
    assert change.changes == {"insurance_months": [40, 41]} and change.source == "import"


def test_people_of_another_region_are_not_imported_by_this_bureau(client, clerk):
    task = imported(client, csv_bytes([row(insurance="320211", hukou="320211")]))
    [_, line] = result_lines(client, task)
    assert task.result["rejected"] == 1 and "都不在本地区" in line[4]
    assert people_count() == 0


def test_a_row_naming_another_person_for_an_id_number_is_refused(client, clerk):
    person = f.person(name="王建国")
    db.session.commit()
    task = imported(client, csv_bytes([row(person.id_number, name="李四")]))
    [_, line] = result_lines(client, task)
    assert "姓名与系统中该身份证号的实名信息不一致" in line[4]


def test_the_import_runs_in_chunks_with_progress(client, clerk, monkeypatch):
    monkeypatch.setattr(importer, "CHUNK", 2)
    seen = []
    from h5app import tasks as tasks_module

    real = tasks_module.run

    def spy(app, task_id, on_progress=None):
        return real(app, task_id, on_progress=lambda t: seen.append((t.processed, t.total)))

    monkeypatch.setattr(tasks_module, "run", spy)
    task = imported(client, csv_bytes([row() for _ in range(5)]))
    assert seen == [(2, 5), (4, 5), (5, 5)] and task.result["created"] == 5


def test_a_running_import_page_refreshes_itself_and_shows_progress(client, clerk):
    task = BackgroundTask(kind=importer.KIND, status=RUNNING, region_code="330600", total=200, processed=50,
                          succeeded=48, rejected=2, params={"filename": "社保导出.csv"}, heartbeat_at=utcnow())
    db.session.add(task)
    db.session.commit()
    page = client.get(f"/bureau/people/import/{task.id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="2">' in page
    assert 'value="25"' in page and "已处理 <strong>50</strong> / 200 行" in page and "刷新" in page


def test_an_interrupted_import_says_to_upload_again(client, clerk):
    task = BackgroundTask(kind=importer.KIND, status=RUNNING, region_code="330600", total=200, processed=50,
                          params={"filename": "社保导出.csv"}, heartbeat_at=utcnow() - timedelta(hours=1))
    db.session.add(task)
    db.session.commit()
    page = client.get(f"/bureau/people/import/{task.id}").get_data(as_text=True)
    assert "导入中断" in page and "重新上传同一文件" in page and 'http-equiv="refresh"' not in page


def test_a_queued_import_that_never_started_is_shown_as_interrupted(client, clerk):
    task = BackgroundTask(kind=importer.KIND, status="queued", region_code="330600", params={"filename": "a.csv"},
                          created_at=utcnow() - timedelta(hours=1))
    db.session.add(task)
    db.session.commit()
    assert "导入中断" in client.get(f"/bureau/people/import/{task.id}").get_data(as_text=True)


def test_another_regions_bureau_sees_neither_the_task_nor_its_result(client, new_client, clerk):
    task = imported(client, csv_bytes([row(months="x")]))
    f.region("320200", "无锡市", "wuxi")
    other = f.staff("bureau", region_code="320200")
    db.session.commit()
    second = new_client()
    staff_sign_in(second, other)
    assert second.get(f"/bureau/people/import/{task.id}").status_code == 404
    assert second.get(f"/bureau/people/import/{task.id}/result.csv").status_code == 404
    assert f"/bureau/people/import/{task.id}" not in second.get("/bureau/people/import").get_data(as_text=True)


def test_the_page_needs_a_bureau_account(client):
    user = f.staff("officer")
    db.session.commit()
    staff_sign_in(client, user)
    assert client.get("/bureau/people/import").status_code == 403


def test_the_templates_carry_every_column(client, clerk):
    body = client.get("/bureau/people/import/template.csv").get_data().decode("utf-8-sig")
    assert body.splitlines()[0] == ",".join(HEADER)
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(client.get("/bureau/people/import/template.xlsx").get_data()))
    assert [c.value for c in book.active[1]] == HEADER
    assert book.active["A2"].number_format == "@"  # ID numbers stay text in Excel


def test_the_uploaded_file_is_deleted_when_the_import_ends(client, clerk, import_dir):
    task = imported(client, csv_bytes([row()]))
    assert [p.name for p in import_dir.iterdir()] == [task.result["result_file"]]


# --- the command line ------------------------------------------------------------------------------

def test_cli_imports_a_file_with_a_progress_bar(app, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([row(), row(), row(months="x")], "gbk"))
    result = app.test_cli_runner().invoke(args=["people", "import", str(path), "--region", "330600"])
    assert result.exit_code == 0, result.output
    assert "导入人员信息" in result.output and "共3行：新增2，更新0，无变化0，未导入1" in result.output
    assert "people-import-" in result.output  # where the rejected rows are listed
    assert path.exists() and people_count() == 2


def test_cli_without_region_takes_any_region(app, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([row(insurance="320211")]))
    result = app.test_cli_runner().invoke(args=["people", "import", str(path)])
    assert result.exit_code == 0 and "新增1" in result.output


def test_cli_with_a_region_refuses_other_regions_people(app, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([row(insurance="320211")]))
    result = app.test_cli_runner().invoke(args=["people", "import", str(path), "--region", "330600"])
    assert result.exit_code == 0 and "未导入1" in result.output and people_count() == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--region", "999999"], "地区代码 999999 不存在"),
])
def test_cli_refuses_an_unknown_region(app, tmp_path, args, message):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([row()]))
    result = app.test_cli_runner().invoke(args=["people", "import", str(path), *args])
    assert result.exit_code != 0 and message in result.output


def test_cli_refuses_a_file_without_the_required_columns(app, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([["x"]], header=["姓名"]))
    result = app.test_cli_runner().invoke(args=["people", "import", str(path)])
    assert result.exit_code != 0 and "表头缺少列：身份证号、信息日期" in result.output
