"""A class's trainees and its roster upload (CSV in UTF-8 or GBK, XLSX; all or nothing, every bad row
by its line), and exports that a spreadsheet cannot mistake for formulas."""
import io
import re

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import ClassRating, Enrolment, Person
from h5app.spreadsheets import safe_cell

from . import factories as f
from .auth_support import staff_sign_in


@pytest.fixture
def officer_class(client):
    institution = f.institution()
    training_class = f.training_class(institution, course_name="育婴员培训")
    officer = f.staff("officer", institution_id=institution.id)
    db.session.commit()
    staff_sign_in(client, officer)
    return training_class


def upload(client, training_class, content: bytes, filename: str):
    return client.post(f"/institution/classes/{training_class.id}/roster",
                       data={"file": (io.BytesIO(content), filename)}, content_type="multipart/form-data")


def test_a_good_csv_roster_enrols_everyone(client, officer_class):
    good = [f.valid_id_number(), f.valid_id_number()]
    csv = f"姓名,身份证号,手机号\n陈小燕,{good[0]},13805750004\n孙丽,{good[1]},\n".encode()
    response = upload(client, officer_class, csv, "roster.csv")
    assert response.status_code == 302
    assert db.session.scalar(select(func.count(Enrolment.id))) == 2
    page = client.get(f"/institution/classes/{officer_class.id}").get_data(as_text=True)
    assert "陈*燕" in page and good[0] not in page and "花名册" in page


def test_a_gbk_csv_from_excel_is_read(client, officer_class):
    csv = f"姓名,身份证号\n陈小燕,{f.valid_id_number()}\n".encode("gbk")
    assert upload(client, officer_class, csv, "roster.csv").status_code == 302


def test_an_xlsx_roster_is_read(client, officer_class):
    book = Workbook()
    book.active.append(["姓名", "身份证号码", "联系电话"])
    book.active.append(["陈小燕", f.valid_id_number(), "13805750004"])
    out = io.BytesIO()
    book.save(out)
    assert upload(client, officer_class, out.getvalue(), "roster.xlsx").status_code == 302
    assert db.session.scalar(select(func.count(Enrolment.id))) == 1


def test_a_bad_roster_lists_every_bad_line_and_imports_nothing(client, officer_class):
    good = f.valid_id_number()
    csv = (f"姓名,身份证号\n陈小燕,{good}\n孙丽,330602198501010000\n,{f.valid_id_number()}\n"
           f"周杰,{good}\n").encode()
    response = upload(client, officer_class, csv, "roster.csv")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "第3行" in page and "校验位不正确" in page
    assert "第4行" in page and "请填写姓名" in page
    assert "第5行" in page and "重复" in page
    assert db.session.scalar(select(func.count(Enrolment.id))) == 0
    assert db.session.scalar(select(func.count(Person.id))) == 0


def test_errors_name_the_files_own_lines_after_a_blank_line(client, officer_class):
    """A blank line is left out of the roster but still counted: 赵六 is on line 4 of the file."""
    good = f.valid_id_number()
    csv = f"姓名,身份证号\n王五,{good}\n,,\n赵六,{good}\n".encode()
    page = upload(client, officer_class, csv, "roster.csv").get_data(as_text=True)
    rows = re.sub(r"<[^>]+>", " ", page)
    assert re.search(r"第4行\s+身份证号与第2行重复", rows), rows[rows.find("花名册有"):][:300]


@pytest.mark.parametrize("content,filename,message", [
    (b"", "roster.csv", "文件是空的"),
    (b"name\n\xe9\xff\xfe", "roster.csv", "编码无法识别"),
    (b"PK\x03\x04garbage", "roster.xlsx", "无法读取该Excel文件"),
    (b"%PDF-1.4", "roster.pdf", "只支持"),
    ("姓名,电话\n张三,13800000000\n".encode(), "roster.csv", "表头缺少列：身份证号"),
])
def test_an_unreadable_file_is_explained(client, officer_class, content, filename, message):
    response = upload(client, officer_class, content, filename)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Enrolment.id))) == 0


def test_verifiers_cannot_upload_rosters_and_others_classes_are_404(client, officer_class):
    theirs = f.training_class()
    verifier = f.staff("verifier", institution_id=officer_class.institution_id)
    db.session.commit()
    assert client.get(f"/institution/classes/{theirs.id}").status_code == 404
    assert client.get(f"/institution/classes/{theirs.id}/trainees.csv").status_code == 404
    staff_sign_in(client, verifier)
    assert client.get(f"/institution/classes/{officer_class.id}/roster").status_code == 403


@pytest.mark.parametrize("value", ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_formula_like_cells_are_escaped(value):
    assert safe_cell(value) == "'" + value
    assert safe_cell("张三") == "张三" and safe_cell(12) == 12


def test_exports_escape_formulas(client, officer_class):
    person = f.person(name="张三")
    person.phone = None
    f.enrol(officer_class, person)
    db.session.commit()
    # A name cannot start with "=", so plant one where a careless export would pass it through.
    from h5app.institution import classes as classes_module

    original = classes_module.trainee_rows
    classes_module.trainee_rows = lambda c: [dict(original(c)[0], source="=HYPERLINK(\"http://x\")")]
    try:
        csv_text = client.get(f"/institution/classes/{officer_class.id}/trainees.csv").get_data().decode("utf-8-sig")
        xlsx = client.get(f"/institution/classes/{officer_class.id}/trainees.xlsx").get_data()
    finally:
        classes_module.trainee_rows = original
    assert "'=HYPERLINK" in csv_text
    sheet = load_workbook(io.BytesIO(xlsx)).active
    assert sheet.cell(row=2, column=4).value.startswith("'=")


def test_the_class_page_shows_the_workers_ratings_without_their_names(client, officer_class):
    """The walk-through rated a class two stars with a comment; the school saw nothing of it."""
    for stars, comment in ((2, "实操设备太少"), (4, None)):
        person = f.person(name="评价人")
        f.enrol(officer_class, person)
        db.session.add(ClassRating(class_id=officer_class.id, person_id=person.id, stars=stars, comment=comment))
    db.session.commit()
    page = re.sub(r"<[^>]+>", " ", client.get(f"/institution/classes/{officer_class.id}").get_data(as_text=True))
    assert "学员评价（2条，平均3.0星）" in page and "实操设备太少" in page
    assert "评价人" not in page.split("学员评价")[1].split("已结束报名")[0]


def test_downloads_are_named_in_chinese_for_the_clerk(client, officer_class):
    from urllib.parse import quote

    export = client.get(f"/institution/classes/{officer_class.id}/trainees.xlsx")
    template = client.get("/institution/roster-template.csv")
    name = f"学员名单-{officer_class.course_name}-{officer_class.id}.xlsx"
    assert f"filename*=UTF-8''{quote(name)}" in export.headers["Content-Disposition"]
    assert f"filename*=UTF-8''{quote('花名册模板.csv')}" in template.headers["Content-Disposition"]
    assert export.headers["Cache-Control"] == "no-store"  # trainees' data: kept by no browser or proxy
