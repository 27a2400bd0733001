"""人员信息导入 in the bureau console: a file from the social-insurance or employment system is
checked at once for its encoding and header, then imported in the background (h5app/people/
importer.py) while a page shows the progress (it refreshes itself; no JavaScript needed) and, at
the end, offers the result file of rows not imported or imported with a remark, masked.

Only people whose record places them in the bureau's region are taken: a row none of whose regions
(户籍地, 常住地, 就业地, 参保地, 失业登记地) is inside it is refused, so a bureau never writes the
record of another region's people."""
from datetime import timedelta
from io import BytesIO
from pathlib import Path

from flask import abort, current_app, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from openpyxl import Workbook
from sqlalchemy import select

from .. import tasks
from ..access import BUREAU, regional, roles_required
from ..extensions import db
from ..models import BackgroundTask
from ..models.tasks import QUEUED
from ..people import importer
from ..people.fields import HINTS, LABELS, REQUIRED
from ..spreadsheets import XLSX, SheetError, download
from ..timeutil import utcnow
from .forms import PeopleImportForm
from .routes import bp

RECENT = 10


def _columns() -> list[dict]:
    return [{"header": LABELS[name], "required": name in REQUIRED, "hint": hint} for name, (hint, _e) in HINTS.items()]


def _recent():
    return db.session.scalars(
        select(BackgroundTask).where(BackgroundTask.kind == importer.KIND,
                                     BackgroundTask.region_code == current_user.region_code)
        .order_by(BackgroundTask.id.desc()).limit(RECENT)).all()


def _display_name(filename: str | None) -> str:
    return Path((filename or "").replace("\\", "/")).name[:100] or "未命名文件"


@bp.route("/people/import", methods=["GET", "POST"])
@roles_required(BUREAU)
def people_import():
    limit = current_app.config.get("PEOPLE_IMPORT_MAX_BYTES", importer.MAX_BYTES)
    message = None
    if request.method == "POST" and (request.content_length or 0) > limit + 64 * 1024:
        # Refused before the body is read: a file this size is not worth receiving.
        message = f"文件超过{limit // (1024 * 1024)}MB，请分成几个文件导入"
        form = PeopleImportForm(formdata=None)
    else:
        form = PeopleImportForm()
    if message is None and form.validate_on_submit():
        upload = form.file.data
        filename = _display_name(upload.filename)
        try:
            path = importer.save_upload(upload.stream, filename)
            try:
                prepared = importer.prepare(path, filename)
            except SheetError:
                path.unlink(missing_ok=True)
                raise
        except SheetError as refusal:
            message = refusal.message
        else:
            task = tasks.submit(importer.KIND, params=prepared.params(), region_code=current_user.region_code,
                                created_by_id=current_user.id, total=prepared.total)
            return redirect(url_for("bureau.people_import_task", task_id=task.id))
    status = 400 if message or form.errors else 200
    return render_template("bureau/people_import.html", form=form, message=message, columns=_columns(),
                           recent=_recent(), limit_mb=limit // (1024 * 1024)), status


def _own_task(task_id: int) -> BackgroundTask:
    task = regional(BackgroundTask, task_id)
    if task.kind != importer.KIND:
        abort(404)
    return task


@bp.route("/people/import/<int:task_id>")
@roles_required(BUREAU)
def people_import_task(task_id):
    task = _own_task(task_id)
    # Running but silent, or queued and never started: its process has gone.
    stale = timedelta(seconds=current_app.config.get("TASK_STALE_SECONDS", 300))
    interrupted = tasks.is_interrupted(task) or (task.status == QUEUED and utcnow() - task.created_at > stale)
    result = dict(task.result or {})
    return render_template("bureau/people_import_task.html", task=task, result=result, interrupted=interrupted,
                           filename=_display_name((task.params or {}).get("filename")),
                           has_result_file=bool(result.get("rejected") or result.get("noted")))


@bp.route("/people/import/<int:task_id>/result.csv")
@roles_required(BUREAU)
def people_import_result(task_id):
    task = _own_task(task_id)
    path = importer.result_path(task)
    if path is None or not path.exists():
        abort(404)
    return send_file(path, mimetype="text/csv", as_attachment=True,
                     download_name=f"人员信息导入结果-{task.id}.csv", max_age=0)


@bp.route("/people/import/template.csv")
@roles_required(BUREAU)
def people_import_template():
    return download(importer.template_csv(), "人员信息导入模板.csv", "text/csv")


@bp.route("/people/import/template.xlsx")
@roles_required(BUREAU)
def people_import_template_xlsx():
    """The template as a workbook whose ID number and phone columns are text: typed in, an 18-digit
    number is not turned into 3.30602E+17 by Excel."""
    book = Workbook()
    sheet = book.active
    sheet.title = "人员信息"
    names = list(HINTS)
    sheet.append([LABELS[name] for name in names])
    sheet.append([example for _hint, example in HINTS.values()])
    for name in ("id_number", "phone", "as_of"):
        column = names.index(name) + 1
        for row in range(1, 2001):
            sheet.cell(row=row, column=column).number_format = "@"
    out = BytesIO()
    book.save(out)
    return download(out.getvalue(), "人员信息导入模板.xlsx", XLSX)
