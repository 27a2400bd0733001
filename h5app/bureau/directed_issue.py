"""定向发券 in two steps (issue 19): the bureau picks a directed template and a class, sees who on the
roster will get a voucher and who is skipped and why (vouchers/directed.py), then confirms; the
confirmation issues exactly the list shown, or says it has changed and shows it again."""
from flask import render_template, request
from flask_login import current_user
from sqlalchemy import select

from ..access import BUREAU, region_holds, roles_required
from ..extensions import db
from ..ids import database_id
from ..models import Institution, TrainingClass, VoucherTemplate, in_region
from ..models.classes import CLASS_COMPLETED, CLASS_UNAPPROVED
from ..models.vouchers import DIRECTED, TEMPLATE_CLOSED
from ..timeutil import utcnow
from ..vouchers import audit, directed, issuance
from ..vouchers.errors import DomainError, PlanChanged
from .forms import DirectedIssueForm
from .routes import bp

SHOWN = 200  # people listed on the page; the counts are always whole


def issuable_classes(region_code: str):
    """Classes a directed issuance may name: the region's, approved where 开班审核 applies, not completed."""
    return db.session.scalars(
        select(TrainingClass).join(Institution, TrainingClass.institution_id == Institution.id)
        .where(in_region(Institution.region_code, region_code), TrainingClass.status != CLASS_COMPLETED,
               TrainingClass.status.not_in(CLASS_UNAPPROVED))
        .order_by(TrainingClass.starts_on.desc())
    ).all()


def _choice(template_id, class_id) -> tuple[VoucherTemplate | None, TrainingClass | None]:
    template = db.session.get(VoucherTemplate, database_id(template_id) or 0)
    if template is None or template.distribution_mode != DIRECTED or template.status == TEMPLATE_CLOSED \
            or not region_holds(current_user.region_code, template):
        template = None
    training_class = db.session.get(TrainingClass, database_id(class_id) or 0)
    if not region_holds(current_user.region_code, training_class):
        training_class = None
    return template, training_class


def _page(template, training_class, *, plan=None, report=None, message=None, status=200):
    form = DirectedIssueForm(formdata=None)
    if plan is not None:
        form.template_id.data, form.class_id.data, form.plan.data = template.id, training_class.id, plan.digest
    return render_template("bureau/issue_directed.html", template=template, training_class=training_class,
                           plan=plan, report=report, message=message, form=form, shown=SHOWN), status


@bp.route("/issue/directed", methods=["GET", "POST"])
@roles_required(BUREAU)
def issue_directed():
    """GET ?template_id=&class_id=: the preview. POST (its confirmation): the issuance."""
    actor = audit.Actor.for_staff(current_user)
    if request.method == "GET":
        template, training_class = _choice(request.args.get("template_id"), request.args.get("class_id"))
        if template is None or training_class is None:
            return _page(template, training_class, message="请选择本地区的定向券模板和班期", status=400)
        try:
            plan = directed.plan(db.session, template, training_class, actor, now=utcnow())
        except DomainError as refusal:
            return _page(template, training_class, message=refusal.message, status=409)
        return _page(template, training_class, plan=plan)
    form = DirectedIssueForm()
    template, training_class = _choice(form.template_id.data, form.class_id.data)
    if not form.validate_on_submit() or template is None or training_class is None:
        return _page(template, training_class, message="页面已过期或选择有误，请重新选择模板和班期后预览", status=400)
    try:
        report = issuance.issue_directed(db.session, template, training_class, actor, expected=form.plan.data)
    except PlanChanged as changed:
        message = changed.message
    except DomainError as refusal:
        return _page(template, training_class, message=refusal.message, status=409)
    else:
        return _page(template, training_class, report=report)
    try:  # the list has changed since it was shown: show it as it is now, to be confirmed again
        plan = directed.plan(db.session, template, training_class, actor, now=utcnow())
    except DomainError as refusal:
        return _page(template, training_class, message=refusal.message, status=409)
    return _page(template, training_class, plan=plan, message=message, status=409)
