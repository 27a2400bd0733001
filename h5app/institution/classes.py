"""A class's trainees (voucher state, attendance, exam) and its roster: uploaded from CSV/XLSX,
validated row by row, all or nothing; exported safe against spreadsheet formulas."""
from flask import Response, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from ..access import OFFICER, VERIFIER, require_institution_owns, roles_required
from ..extensions import db
from ..identity import mask_id_number, mask_name, mask_phone
from ..models import Enrolment, ExamResult, TrainingClass, Voucher
from ..models.vouchers import VOUCHER_STATUSES
from ..spreadsheets import csv_bytes, read_table, records, xlsx_bytes
from ..timeutil import utcnow
from ..vouchers import audit, roster, subsidy
from ..vouchers.errors import DomainError
from .forms import RosterForm
from .routes import bp

ROSTER_COLUMNS = {
    "name": ("姓名", "name"),
    "id_number": ("身份证号", "身份证号码", "公民身份号码", "id_number"),
    "phone": ("手机号", "手机号码", "联系电话", "phone"),
}


def _my_class(class_id: int) -> TrainingClass:
    return require_institution_owns(db.session.get(TrainingClass, class_id))


def trainee_rows(training_class: TrainingClass) -> list[dict]:
    now = utcnow()
    enrolments = db.session.scalars(
        select(Enrolment).where(Enrolment.class_id == training_class.id, Enrolment.status == "enrolled")
        .order_by(Enrolment.id)
    ).all()
    vouchers = {v.person_id: v for v in db.session.scalars(
        select(Voucher).where((Voucher.class_id == training_class.id) | (Voucher.bound_class_id == training_class.id)))}
    results = {r.person_id: r for r in db.session.scalars(
        select(ExamResult).where(ExamResult.class_id == training_class.id))}
    rows = []
    for enrolment in enrolments:
        person, voucher = enrolment.person, vouchers.get(enrolment.person_id)
        if voucher is None and enrolment.voucher_id:
            voucher = db.session.get(Voucher, enrolment.voucher_id)
        result = results.get(person.id)
        rows.append({
            "name": mask_name(person.name), "id_number": mask_id_number(person.id_number),
            "phone": mask_phone(person.phone), "source": {"roster": "花名册", "self": "自主报名"}.get(
                enrolment.source, "现场验券"),
            "voucher": VOUCHER_STATUSES[voucher.effective_status(now)] if voucher else "无培训券",
            "voucher_code": voucher.code if voucher else "",
            "attendance": subsidy.attendance_rate(db.session, training_class, person.id),
            "exam": "—" if result is None else ("通过" if result.passed else "未通过"),
        })
    return rows


@bp.route("/classes/<int:class_id>")
@roles_required(OFFICER, VERIFIER)
def class_trainees(class_id):
    training_class = _my_class(class_id)
    return render_template("institution/class.html", training_class=training_class,
                           trainees=trainee_rows(training_class))


@bp.route("/classes/<int:class_id>/roster", methods=["GET", "POST"])
@roles_required(OFFICER)
def upload_roster(class_id):
    training_class = _my_class(class_id)
    form = RosterForm()
    errors, message = [], None
    if form.validate_on_submit():
        upload = form.file.data
        try:
            rows = records(read_table(upload.filename, upload.read()), ROSTER_COLUMNS, {"name", "id_number"})
            added = roster.add_trainees(db.session, training_class, rows, audit.Actor.for_staff(current_user))
        except DomainError as refusal:  # an unreadable file (SheetError), bad rows or a rule of the class
            message = refusal.message
            # Line numbers as the officer sees them in the file: the header is line 1.
            errors = [{"line": e.index + 1, "field": e.field, "message": e.message}
                      for e in refusal.details.get("rows", [])]
        else:
            flash(f"已导入{len(added)}名学员（已在名单中的学员不会重复导入）", "success")
            return redirect(url_for("institution.class_trainees", class_id=class_id))
    return render_template("institution/roster.html", training_class=training_class, form=form, errors=errors,
                           message=message), (400 if message or form.errors else 200)


@bp.route("/roster-template.csv")
@roles_required(OFFICER)
def roster_template():
    body = csv_bytes(["姓名", "身份证号", "手机号"], [["张三", "（18位身份证号）", "（11位手机号，选填）"]])
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename*=UTF-8''roster-template.csv"})


EXPORT_HEADER = ["姓名", "身份证号", "手机号", "来源", "培训券", "券码", "打卡率", "考核"]


def _export_rows(training_class):
    return [[r["name"], r["id_number"], r["phone"], r["source"], r["voucher"], r["voucher_code"],
             f"{float(r['attendance']) * 100:.0f}%", r["exam"]] for r in trainee_rows(training_class)]


@bp.route("/classes/<int:class_id>/trainees.<fmt>")
@roles_required(OFFICER, VERIFIER)
def export_trainees(class_id, fmt):
    training_class = _my_class(class_id)
    if fmt == "csv":
        body, mimetype = csv_bytes(EXPORT_HEADER, _export_rows(training_class)), "text/csv"
    elif fmt == "xlsx":
        body = xlsx_bytes("学员名单", EXPORT_HEADER, _export_rows(training_class))
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        return Response(status=404)
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''class-{class_id}-trainees.{fmt}"})
