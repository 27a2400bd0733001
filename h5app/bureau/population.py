"""发券 → 通用券 to a matched population: the filters with a live count, 预览 with a masked sample of
the people, 确认发放 run as a background task whose progress the page shows (works without JS: the
count is also on the 预览 page, and the progress page reloads itself)."""
import logging

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from .. import tasks
from ..access import BUREAU, region_holds, regional, roles_required
from ..extensions import db
from ..ids import database_id
from ..models import BackgroundTask, Region, StaffUser, VoucherTemplate
from ..models.tasks import QUEUED, RUNNING
from ..models.vouchers import GENERAL
from ..vouchers import audit, population
from ..vouchers.errors import DomainError
from .forms import PopulationConfirmForm, PopulationFilterForm
from .oversight import _templates
from .routes import bp

log = logging.getLogger(__name__)

TASK_KIND = "population_issue"
NOT_FOUND = "未找到该券模板，请从列表中选择本地区的通用券模板"
# Who sends an offer's SMS, by SMS_BACKEND: fn(phone, text). A provider sends only the templates it
# approved, and the gateways of h5app/auth/sms_gateways.py have the sign-in code's alone, so none is
# registered as they stand: a gateway given an approved notice template registers its sender here.
# Without one (and always with `console`: 100,000 offers are not 100,000 log lines) the task logs a count.
NOTICE_SENDERS: dict = {}


def _template(value) -> VoucherTemplate | None:
    """The template the form names, if it is one of the bureau's region (another region's is
    answered as not found: its existence is not ours to reveal)."""
    template = db.session.get(VoucherTemplate, database_id(value) or 0)
    if not region_holds(current_user.region_code, template):
        return None
    return template


def _form(form_class, template_id=None, **kwargs):
    form = form_class(**kwargs)
    form.template_id.choices = [SelectChoice("", "请选择"),
                                *(SelectChoice(str(t.id), t.choice_label) for t in _templates(GENERAL))]
    chosen = _template(template_id if template_id is not None else form.template_id.data)
    regions = population.region_choices(db.session, chosen, current_user.region_code)
    form.region_code.choices = [SelectChoice("", "不限（券模板的使用地区）"),
                                *(SelectChoice(r.code, r.name) for r in regions)]
    return form, chosen


def blank_form() -> PopulationFilterForm:
    """The filters as 发券 shows them first: nothing chosen."""
    return _form(PopulationFilterForm, formdata=None)[0]


def _region_names() -> dict:
    return dict(db.session.execute(select(Region.code, Region.name)).all())


def _preview_page(form, template, *, message=None, notice=None, status=200):
    """The filters, and for a template the bureau may issue: the count, the holders skipped, the
    masked sample and the 确认发放 form carrying what was previewed. `message`: why there is no
    preview; `notice`: what to know about the one shown."""
    shown = confirm = None
    if template is not None and message is None:
        try:
            shown = population.preview(db.session, template, form.filters(), audit.Actor.for_staff(current_user))
        except DomainError as refusal:
            message, status = refusal.message, refusal.status if refusal.status < 500 else 400
            fields = refusal.details.get("fields") or {}
            for name, problem in fields.items():
                getattr(form, name).errors = [problem]
    if shown is not None and shown.count and not shown.stock_problem:
        confirm = PopulationConfirmForm(formdata=None, data={
            "template_id": str(template.id), "groups": list(form.filters().groups),
            "region_code": form.region_code.data or "", "min_insurance_months": form.min_insurance_months.data,
            "employment": form.employment.data or "", "expected": str(shown.count)})
    names = _region_names()
    return render_template("bureau/population.html", template=template, preview=shown, confirm=confirm,
                           general_form=form, message=message, notice=notice, names=names,
                           described=population.describe(form.filters(), names) if template else None), status


@bp.route("/issue/general", methods=["GET"])
@roles_required(BUREAU)
def population_preview():
    """预览: GET with the filters in the query string (nothing personal in it)."""
    form, template = _form(PopulationFilterForm, formdata=request.args or None)
    if not request.args:
        return _preview_page(form, None)
    if not form.validate():
        return _preview_page(form, None, status=400)
    if template is None:
        form.template_id.errors = [NOT_FOUND]
        return _preview_page(form, None, status=400)
    return _preview_page(form, template)


@bp.route("/issue/general", methods=["POST"])
@roles_required(BUREAU)
def population_confirm():
    """确认发放: the count previewed must still be the count found; then the offers are made by a
    background task and the bureau watches its progress."""
    form, template = _form(PopulationConfirmForm)
    if not form.validate():
        return _preview_page(form, None, message=_first_error(form), status=400)
    if template is None:
        form.template_id.errors = [NOT_FOUND]
        return _preview_page(form, None, status=400)
    actor = audit.Actor.for_staff(current_user)
    filters = form.filters()
    try:
        shown = population.preview(db.session, template, filters, actor, sample_size=0)
    except DomainError as refusal:
        return _preview_page(form, None, message=refusal.message, status=400)
    expected = int(form.expected.data)
    if shown.count == 0 or shown.stock_problem:  # the preview says why
        return _preview_page(form, template, status=400)
    if shown.count != expected:  # an import or a claim in between: the new preview, to confirm again
        return _preview_page(form, template, status=409, notice=(
            f"符合条件的人数已从预览时的{expected}人变为{shown.count}人（人员信息或持券情况有更新），"
            "请核对下方新的预览后再确认"))
    running = _running(template.id)
    if running is not None:
        return _preview_page(form, template, status=409, message=(
            f"该券正在向人群发放中（任务#{running.id}），请等这次发放完成后再发"))
    db.session.rollback()  # nothing read here is kept; the task reads afresh
    task = tasks.submit(TASK_KIND, params={"template_id": template.id, "filters": filters.to_params(),
                                           "expected": expected},
                        region_code=template.region_code, created_by_id=current_user.id, total=expected)
    return redirect(url_for("bureau.population_task", task_id=task.id))


def _first_error(form) -> str:
    for field in form:
        if field.errors:
            return field.errors[0]
    return "请检查填写的内容"


def _running(template_id: int) -> BackgroundTask | None:
    """A population issuance of the template still queued or running (not one whose process died)."""
    for task in db.session.scalars(select(BackgroundTask).where(BackgroundTask.kind == TASK_KIND,
                                                                BackgroundTask.status.in_((QUEUED, RUNNING)))):
        if (task.params or {}).get("template_id") == template_id and not tasks.is_interrupted(task):
            return task
    return None


@bp.route("/issue/count")
@roles_required(BUREAU)
def issue_count():
    """The live count while the filters change: how many people would be offered, how many already
    hold the template and are skipped, and whether the stock allows it."""
    form, template = _form(PopulationFilterForm, formdata=request.args)
    if not form.validate():
        return {"error": {"code": "VALIDATION_FAILED", "message": _first_error(form)}}, 400
    if template is None:
        return {"error": {"code": "NOT_FOUND", "message": NOT_FOUND}}, 404
    try:
        shown = population.preview(db.session, template, form.filters(), audit.Actor.for_staff(current_user),
                                   sample_size=0)
    except DomainError as refusal:
        return {"error": refusal.to_dict()}, refusal.status if refusal.status < 500 else 400
    return {"count": shown.count, "held": shown.held, "stock_problem": shown.stock_problem}


@bp.route("/issue/tasks/<int:task_id>")
@roles_required(BUREAU)
def population_task(task_id):
    """The issuance's progress; the page reloads itself until the task has ended."""
    task = regional(BackgroundTask, task_id)
    if task.kind != TASK_KIND:
        abort(404)
    template = db.session.get(VoucherTemplate, (task.params or {}).get("template_id") or 0)
    filters = population.Filters.from_params((task.params or {}).get("filters"))
    return render_template("bureau/population_task.html", task=task, template=template,
                           described=population.describe(filters, _region_names()),
                           interrupted=tasks.is_interrupted(task))


@tasks.handler(TASK_KIND)
def run_population_issue(task, report):
    """The background task: the offers, each person told by 消息 and, where a notice sender is
    registered for the SMS backend, by SMS. A refusal found when it starts (the population or the template changed)
    ends it with the reason and nothing written."""
    params = task.params or {}
    session = db.session
    template = session.get(VoucherTemplate, params.get("template_id") or 0)
    staff = session.get(StaffUser, task.created_by_id or 0)
    if template is None or staff is None:
        return {"refused": "券模板或发券人员已不存在，未发放"}
    backend = current_app.config.get("SMS_BACKEND")
    send = NOTICE_SENDERS.get(backend)
    try:
        result = population.issue(session, template, population.Filters.from_params(params.get("filters")),
                                  audit.Actor.for_staff(staff), expected=params.get("expected"), progress=report,
                                  sms=send)
    except DomainError as refusal:
        return {"refused": refusal.message}
    if send is None:
        log.info("通用券发放（任务%s）：已向%d人发送站内消息，其中%d人有手机号；"
                 "未配置短信通知网关（SMS_BACKEND=%s），未发短信",
                 task.id, result["offered"], result["phones"], backend)
    return result
