"""A class's trainees (voucher state, attendance, exam) and its roster: uploaded from CSV/XLSX,
validated row by row, all or nothing; exported safe against spreadsheet formulas."""
from flask import Response, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..access import OFFICER, VERIFIER, owned, roles_required
from ..extensions import db
from ..ids import page_number
from ..template_filters import percent
from ..forms import ConfirmForm
from ..identity import mask_id_number, mask_name, mask_phone
from ..models import ClassRating, Enrolment, ExamResult, TrainingClass, Voucher
from ..models.classes import ENROLLED
from ..models.vouchers import VOUCHER_STATUSES
from ..spreadsheets import XLSX, csv_bytes, download, read_table, records, xlsx_bytes
from ..timeutil import utcnow
from ..vouchers import audit, cancellation, class_review, roster, subsidy
from ..vouchers.errors import DomainError
from .cancellation import ended_enrolments
from .forms import RosterForm
from .routes import bp

ROSTER_COLUMNS = {
    "name": ("姓名", "name"),
    "id_number": ("身份证号", "身份证号码", "公民身份号码", "id_number"),
    "phone": ("手机号", "手机号码", "联系电话", "phone"),
}


TRAINEES_PER_PAGE = 50


def _enrolled(training_class: TrainingClass):
    return (select(Enrolment).where(Enrolment.class_id == training_class.id, Enrolment.status == ENROLLED)
            .order_by(Enrolment.id))


def trainee_rows(training_class: TrainingClass, enrolments=None) -> list[dict]:
    """One row per enrolled trainee (all of them, or the `enrolments` given): the people, their
    vouchers, exam results and attendance rates each read in one query, whatever the class's size."""
    now = utcnow()
    if enrolments is None:
        enrolments = db.session.scalars(_enrolled(training_class).options(selectinload(Enrolment.person))).all()
    person_ids = [e.person_id for e in enrolments]
    # The voucher the trainee enrolled or was verified with; else one used for or bound to the class.
    vouchers = {}
    if person_ids:
        for voucher in db.session.scalars(select(Voucher).where(
                Voucher.person_id.in_(person_ids),
                (Voucher.class_id == training_class.id) | (Voucher.bound_class_id == training_class.id)
                | Voucher.id.in_([e.voucher_id for e in enrolments if e.voucher_id]))):
            vouchers.setdefault(voucher.person_id, {})[voucher.id] = voucher
    results = {r.person_id: r for r in db.session.scalars(
        select(ExamResult).where(ExamResult.class_id == training_class.id, ExamResult.person_id.in_(person_ids)))}
    rates = subsidy.attendance_rates(db.session, training_class, person_ids)
    # 退班 is refused for those who attended, even where the time present counts nothing yet.
    attended = cancellation.attended_people(db.session, training_class, person_ids)
    rows = []
    for enrolment in enrolments:
        person, held = enrolment.person, vouchers.get(enrolment.person_id, {})
        voucher = (held.get(enrolment.voucher_id)
                   or next((v for v in held.values() if v.class_id == training_class.id), None)
                   or next(iter(held.values()), None))
        result = results.get(person.id)
        rows.append({
            "enrolment_id": enrolment.id,
            "name": mask_name(person.name), "id_number": mask_id_number(person.id_number),
            "phone": mask_phone(person.phone), "source": {"roster": "花名册", "self": "自主报名"}.get(
                enrolment.source, "现场验券"),
            "voucher": VOUCHER_STATUSES[voucher.effective_status(now)] if voucher else "无培训券",
            "voucher_code": voucher.code if voucher else "",
            "attendance": rates.get(person.id, 0),
            "attended": person.id in attended,
            "exam": "—" if result is None else ("通过" if result.passed else "未通过"),
        })
    return rows


def class_ratings(training_class: TrainingClass) -> list[ClassRating]:
    """培训评价 of the class (one a trainee at most), newest first: stars and comments, shown without
    who wrote them — a worker rates the school that trains them."""
    return db.session.scalars(select(ClassRating).where(ClassRating.class_id == training_class.id)
                              .order_by(ClassRating.created_at.desc(), ClassRating.id.desc())).all()


@bp.route("/classes/<int:class_id>")
@roles_required(OFFICER, VERIFIER)
def class_trainees(class_id):
    training_class = owned(TrainingClass, class_id)
    page = db.paginate(_enrolled(training_class).options(selectinload(Enrolment.person)),
                       page=page_number(request.args.get("page")), per_page=TRAINEES_PER_PAGE,
                       max_per_page=TRAINEES_PER_PAGE, error_out=False)
    return render_template("institution/class.html", training_class=training_class,
                           trainees=trainee_rows(training_class, page.items), trainee_page=page,
                           review_reason=class_review.last_return_reason(db.session, training_class),
                           ended=ended_enrolments(training_class), resubmit_form=ConfirmForm(),
                           ratings=class_ratings(training_class),
                           # Offered only when the institution may still do it (the bureau may later).
                           may_cancel=cancellation.cancel_problem(training_class, False, utcnow()) is None)


@bp.route("/classes/<int:class_id>/roster", methods=["GET", "POST"])
@roles_required(OFFICER)
def upload_roster(class_id):
    training_class = owned(TrainingClass, class_id)
    form = RosterForm()
    errors, message = [], None
    if form.validate_on_submit():
        upload = form.file.data
        try:
            rows = records(read_table(upload.filename, upload.read()), ROSTER_COLUMNS, {"name", "id_number"})
            added = roster.add_trainees(db.session, training_class, rows, audit.Actor.for_staff(current_user))
        except DomainError as refusal:  # an unreadable file (SheetError), bad rows or a rule of the class
            message = refusal.message
            # The rows are the file's records: each error names its line in the file (header line 1).
            errors = [{"line": e.index, "field": e.field, "message": e.message}
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
    return download(body, "花名册模板.csv", "text/csv")


EXPORT_HEADER = ["姓名", "身份证号", "手机号", "来源", "培训券", "券码", "打卡率", "考核"]


def _export_rows(training_class):
    return [[r["name"], r["id_number"], r["phone"], r["source"], r["voucher"], r["voucher_code"],
             percent(r["attendance"]), r["exam"]] for r in trainee_rows(training_class)]


@bp.route("/classes/<int:class_id>/trainees.<fmt>")
@roles_required(OFFICER, VERIFIER)
def export_trainees(class_id, fmt):
    training_class = owned(TrainingClass, class_id)
    if fmt == "csv":
        body, mimetype = csv_bytes(EXPORT_HEADER, _export_rows(training_class)), "text/csv"
    elif fmt == "xlsx":
        body = xlsx_bytes("学员名单", EXPORT_HEADER, _export_rows(training_class))
        mimetype = XLSX
    else:
        return Response(status=404)
    return download(body, f"学员名单-{training_class.course_name}-{class_id}.{fmt}", mimetype)
