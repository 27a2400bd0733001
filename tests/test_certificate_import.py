"""证书导入 and the worker subsidies it makes due (PRODUCT.md §4, seed 003 §三(五)): the bureau page
(CSV in UTF-8 or GBK, XLSX; all or nothing, every bad row named with its ID number masked), the
`flask certificates import` and `flask settlements match` commands, and the API — whichever way a
certificate arrives, the worker is paid once."""
import io
from datetime import date, datetime

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from h5app.auth.users import session_values
from h5app.extensions import db
from h5app.identity import mask_id_number
from h5app.models import Certificate, Notification, Settlement

from . import factories as f
from .api_support import auth, key_for
from .auth_support import staff_sign_in
from .settlement_support import count, shaoxing_certificate_case

HEADER = ["身份证号", "姓名", "证书编号", "职业", "等级", "发证日期", "发证机构"]
ISSUER = "绍兴市职业技能鉴定中心"


def row(person, number="CERT-1", issued_on="2022-06-01", **values) -> list[str]:
    values = {"id_number": person.id_number, "name": person.name, "number": number, "occupation": "电工",
              "level": "四级", "issued_on": issued_on, "issuer": ISSUER, **values}
    return [values[k] for k in ("id_number", "name", "number", "occupation", "level", "issued_on", "issuer")]


def csv_bytes(rows, encoding="utf-8") -> bytes:
    return "\n".join(",".join(cells) for cells in [HEADER, *rows]).encode(encoding)


def xlsx_bytes(rows) -> bytes:
    book = Workbook()
    for cells in [HEADER, *rows]:
        book.active.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client, data: bytes, filename="证书.csv", **kwargs):
    return client.post("/bureau/certificates", data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data", **kwargs)


def settlements_of(person) -> list[Settlement]:
    return db.session.scalars(select(Settlement).where(Settlement.person_id == person.id)).all()


@pytest.fixture
def clerk(client):
    user = f.staff("bureau")
    db.session.commit()
    staff_sign_in(client, user)
    return user


@pytest.fixture
def worker(session):
    """Seed 003 §三(五): a Shaoxing general voucher used on 电工 certificate training whose fee
    (800元) is below the face value (1500元); no certificate on record yet."""
    voucher, cls = shaoxing_certificate_case(session)
    cls.price_fen = 80000
    session.commit()
    return voucher.person


# --- the page -------------------------------------------------------------------------------------

def test_page_shows_the_columns_and_a_downloadable_template(client, clerk):
    page = client.get("/bureau/certificates").get_data(as_text=True)
    assert all(column in page for column in HEADER) and "/bureau/certificates/template.csv" in page
    assert "/bureau/certificates" in client.get("/bureau/").get_data(as_text=True)

    template = client.get("/bureau/certificates/template.csv")
    assert template.mimetype == "text/csv" and "attachment" in template.headers["Content-Disposition"]
    assert template.get_data().decode("utf-8-sig").splitlines()[0].split(",")[:len(HEADER)] == HEADER


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_in_utf8_or_gbk_imports_every_certificate(client, clerk, session, encoding):
    first, second = f.person(), f.person(name="李秀英")
    session.commit()
    data = csv_bytes([row(first, "CERT-1"), row(second, "CERT-2", issued_on="2022/6/3", level="")], encoding)

    response = upload(client, data, follow_redirects=True)

    assert "已导入证书2张，新生成劳动者本人补贴结算0笔" in response.get_data(as_text=True)
    got = session.scalars(select(Certificate).order_by(Certificate.number)).all()
    assert [(c.person_id, c.number, c.occupation, c.level, c.issued_on, c.issuer) for c in got] == [
        (first.id, "CERT-1", "电工", "四级", date(2022, 6, 1), ISSUER),
        (second.id, "CERT-2", "电工", None, date(2022, 6, 3), ISSUER)]
    assert [e.details["number"] for e in f.audit_events(action="certificate.add")] == ["CERT-1", "CERT-2"]


def test_xlsx_imports_with_its_date_cells(client, clerk, session):
    person = f.person()
    session.commit()
    data = xlsx_bytes([row(person, "CERT-X1", issued_on=datetime(2022, 6, 1)),
                       row(person, "CERT-X2", issued_on="2022-06-02")])

    response = upload(client, data, filename="证书.xlsx", follow_redirects=True)

    assert "已导入证书2张" in response.get_data(as_text=True)
    assert session.scalars(select(Certificate.issued_on).order_by(Certificate.number)).all() == [
        date(2022, 6, 1), date(2022, 6, 2)]


def bad_rows_case(session):
    """Six rows: line 2 good, lines 3–7 each wrong in one way. Returns (rows, {line: (ID number, message)})."""
    f.region("330600")
    known, other = f.person(), f.person()
    f.certificate(other, number="CERT-OLD")
    stranger = f.valid_id_number()
    session.commit()
    rows = [row(known, "CERT-1"),
            row(known, "CERT-2", id_number=stranger),
            row(other, "CERT-3", name="李四"),
            row(other, "CERT-1"),
            row(other, "CERT-OLD"),
            row(other, "CERT-4", issued_on="2022-13-01")]
    expected = {3: (stranger, "没有人员记录"), 4: (other.id_number, "姓名与该身份证号的实名信息不一致"),
                5: (other.id_number, "该证书编号已存在"), 6: (other.id_number, "该证书编号已存在"),
                7: (other.id_number, "发证日期格式应为")}
    return rows, expected


def test_bad_rows_import_nothing_and_each_is_listed_by_line_with_its_id_number_masked(client, clerk, session):
    rows, expected = bad_rows_case(session)

    response = upload(client, csv_bytes(rows))

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "有5行有误，未导入任何证书" in page
    for line, (id_number, message) in expected.items():
        assert f"第{line}行（身份证号 {mask_id_number(id_number)}）：" in page
        assert message in page.split(f"第{line}行", 1)[1].split("</li>", 1)[0]
        assert id_number not in page
    assert "第2行" not in page
    assert session.scalars(select(Certificate.number)).all() == ["CERT-OLD"]
    assert f.audit_events(action="certificate.add") == []


@pytest.mark.parametrize("filename, data, message", [
    ("证书.xls", b"\xd0\xcf\x11\xe0 old excel", "只支持 CSV 或 Excel"),
    ("证书.xlsx", b"PK not really a workbook", "无法读取该Excel文件"),
    ("证书.csv", "身份证号,姓名\n330602198501010011,王建国\n".encode(), "表头缺少列"),
    ("证书.csv", ",".join(HEADER).encode(), "没有证书数据"),
])
def test_unreadable_file_is_refused_with_its_reason(client, clerk, filename, data, message):
    response = upload(client, data, filename=filename)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert db.session.scalar(select(Certificate.id)) is None


def test_upload_without_a_file_is_refused(client, clerk):
    response = client.post("/bureau/certificates", data={}, content_type="multipart/form-data")
    assert response.status_code == 400 and "请选择要上传的文件" in response.get_data(as_text=True)


def test_only_bureau_staff_may_import(client, new_client, session):
    person = f.person()
    officer = f.staff("officer")
    session.commit()
    data = csv_bytes([row(person)])

    assert new_client().get("/bureau/certificates").status_code == 302  # to sign in
    staff_sign_in(client, officer)
    assert client.get("/bureau/certificates").status_code == 403
    assert client.get("/bureau/certificates/template.csv").status_code == 403
    assert upload(client, data).status_code == 403
    assert session.scalar(select(Certificate.id)) is None


def test_post_without_csrf_token_is_refused(make_app, session):
    data, clerk = csv_bytes([row(f.person())]), f.staff("bureau")
    user_id = clerk.get_id()
    session.commit()  # and no open transaction: the other app's requests use their own session
    client = make_app(WTF_CSRF_ENABLED=True).test_client()
    with client.session_transaction() as cookie:
        cookie.update(session_values(user_id))

    response = upload(client, data)

    assert response.status_code == 400 and "页面已过期" in response.get_data(as_text=True)
    assert session.scalar(select(Certificate.id)) is None


# --- the worker's own subsidy, found by matching --------------------------------------------------

def test_importing_the_certificate_submits_one_worker_settlement_capped_by_the_fee(client, clerk, session, worker):
    response = upload(client, csv_bytes([row(worker, "CERT-1")]), follow_redirects=True)

    page = response.get_data(as_text=True)
    assert "已导入证书1张，新生成劳动者本人补贴结算1笔" in page and 'href="/bureau/settlements"' in page
    [app] = settlements_of(worker)
    assert (app.person_id, app.institution_id) == (worker.id, None)
    [line] = app.lines
    assert (line.eligible, line.amount_fen) == (True, 80000)  # the fee paid, not the 1500元 face value
    assert "CERT-1" in line.reason
    [notice] = session.scalars(select(Notification).where(Notification.person_id == worker.id)).all()
    assert notice.kind == "subsidy_matched"


def test_a_second_certificate_or_match_run_pays_the_worker_no_second_time(app, client, clerk, session, worker):
    upload(client, csv_bytes([row(worker, "CERT-1")]))

    again = upload(client, csv_bytes([row(worker, "CERT-2", issued_on="2022-07-01")]), follow_redirects=True)
    assert "已导入证书1张，新生成劳动者本人补贴结算0笔" in again.get_data(as_text=True)
    key = key_for("bureau", "330600")
    body = {"id_number": worker.id_number, "name": worker.name, "number": "CERT-3", "occupation": "电工",
            "issued_on": "2022-08-01", "issuer": ISSUER}
    assert client.post("/api/v1/certificates", json=body, headers=auth(key)).status_code == 201
    for _ in range(2):
        assert "新生成劳动者本人补贴结算 0 笔" in app.test_cli_runner().invoke(args=["settlements", "match"]).output

    assert len(settlements_of(worker)) == 1 and count(session, Settlement) == 1
    assert count(session, Notification) == 1
    assert count(session, Certificate) == 3


def test_certificate_of_another_occupation_submits_nothing(client, clerk, session, worker):
    response = upload(client, csv_bytes([row(worker, "CERT-1", occupation="焊工")]), follow_redirects=True)

    page = response.get_data(as_text=True)
    assert "已导入证书1张，新生成劳动者本人补贴结算0笔" in page and 'href="/bureau/settlements"' not in page
    assert count(session, Settlement) == 0


# --- the commands ---------------------------------------------------------------------------------

def test_import_command_imports_and_reports_the_counts(app, session, worker, tmp_path):
    bystander = f.person()
    session.commit()
    path = tmp_path / "证书.csv"
    path.write_bytes(csv_bytes([row(worker, "CERT-1"), row(bystander, "CERT-2")], "gbk"))

    result = app.test_cli_runner().invoke(args=["certificates", "import", str(path), "--region", "330600"])

    assert result.exit_code == 0, result.output
    assert "已导入证书 2 张；新生成劳动者本人补贴结算 1 笔" in result.output
    assert len(settlements_of(worker)) == 1 and count(session, Certificate) == 2


def test_import_command_with_bad_rows_fails_and_names_them(app, session, tmp_path):
    rows, expected = bad_rows_case(session)
    path = tmp_path / "证书.csv"
    path.write_bytes(csv_bytes(rows))

    result = app.test_cli_runner().invoke(args=["certificates", "import", str(path), "--region", "330600"])

    assert result.exit_code != 0
    assert "有5行有误，未导入任何证书" in result.output
    for line, (id_number, message) in expected.items():
        assert f"第{line}行：" in result.output and id_number not in result.output
    assert session.scalars(select(Certificate.number)).all() == ["CERT-OLD"]


def test_import_command_with_an_unreadable_file_fails(app, session, tmp_path):
    f.region("330600")
    session.commit()
    path = tmp_path / "证书.xlsx"
    path.write_bytes(b"PK not really a workbook")

    result = app.test_cli_runner().invoke(args=["certificates", "import", str(path), "--region", "330600"])

    assert result.exit_code != 0 and "无法读取该Excel文件" in result.output


def test_import_command_refuses_an_unknown_region(app, session, worker, tmp_path):
    path = tmp_path / "证书.csv"
    path.write_bytes(csv_bytes([row(worker)]))

    result = app.test_cli_runner().invoke(args=["certificates", "import", str(path), "--region", "999999"])

    assert result.exit_code != 0 and "地区代码 999999 不存在" in result.output
    assert count(session, Certificate) == 0


def test_match_command_finds_the_subsidy_a_certificate_recorded_elsewhere_made_due(app, session, worker):
    f.certificate(worker, occupation="电工", issued_on=date(2022, 6, 1))  # bypassing the service: no match yet
    session.commit()
    runner = app.test_cli_runner()

    first = runner.invoke(args=["settlements", "match", "--region", "330600"])
    second = runner.invoke(args=["settlements", "match"])

    assert first.exit_code == 0 and "新生成劳动者本人补贴结算 1 笔" in first.output
    assert second.exit_code == 0 and "新生成劳动者本人补贴结算 0 笔" in second.output
    [app_] = settlements_of(worker)
    assert (app_.institution_id, app_.lines[0].amount_fen) == (None, 80000)


def test_match_command_refuses_an_unknown_region(app, session):
    result = app.test_cli_runner().invoke(args=["settlements", "match", "--region", "999999"])
    assert result.exit_code != 0 and "地区代码 999999 不存在" in result.output


# --- the API --------------------------------------------------------------------------------------

def test_api_certificate_submits_the_worker_settlement_by_itself(client, session, worker):
    key = key_for("bureau", "330600")
    body = {"id_number": worker.id_number, "name": worker.name, "number": "CERT-API", "occupation": "电工",
            "level": "四级", "issued_on": "2022-06-01", "issuer": ISSUER}

    response = client.post("/api/v1/certificates", json=body, headers=auth(key))

    assert response.status_code == 201, response.get_json()
    [app] = settlements_of(worker)
    assert (app.institution_id, app.lines[0].amount_fen) == (None, 80000)
    assert "CERT-API" in app.lines[0].reason
    assert session.scalar(select(Notification.kind).where(Notification.person_id == worker.id)) == "subsidy_matched"


def test_a_person_of_another_region_is_not_this_bureaus_to_certify(client, clerk, session):
    """As the API answers 404 for another region's person, the file import says the ID number has
    no record here — without telling whether the name matches."""
    outsider = f.person(region_code="500103", name="钱多多")
    session.commit()

    response = upload(client, csv_bytes([row(outsider)]))

    assert response.status_code == 400 and "该身份证号在本地区没有人员记录" in response.get_data(as_text=True)
    assert session.scalars(select(Certificate.id)).all() == []
