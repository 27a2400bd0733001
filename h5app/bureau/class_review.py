"""开班审核 in the bureau console (issue 19): the queue of classes waiting in the region, each class's
开班申请 in full (teaching plan, teachers, lessons, sites, roster, earlier steps), approve or return
with a reason; and the changes institutions made to approved classes, until a clerk has read them."""
from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..access import BUREAU, regional, roles_required
from ..extensions import db
from ..forms import ConfirmForm
from ..models import Enrolment, TrainingClass
from ..models.classes import ENROLLED
from ..region_names import region_names
from ..timeutil import utcnow
from ..vouchers import audit, class_review
from ..vouchers.errors import DomainError, ValidationFailed
from .forms import ClassReturnForm
from .routes import bp

ROSTER_SHOWN = 100


def _class_in_region(class_id: int) -> TrainingClass:
    return regional(TrainingClass, class_id)


@bp.route("/classes")
@roles_required(BUREAU)
def class_queue():
    region = current_user.region_code
    return render_template("bureau/class_queue.html", pending=class_review.pending(db.session, region),
                           changed=class_review.changed(db.session, region),
                           returned=class_review.returned(db.session, region), now=utcnow(),
                           districts=region_names(db.session))


def _review_page(training_class: TrainingClass, return_form: ClassReturnForm | None = None, status: int = 200):
    roster = db.session.scalars(
        select(Enrolment).where(Enrolment.class_id == training_class.id, Enrolment.status == ENROLLED)
        .options(selectinload(Enrolment.person)).order_by(Enrolment.id).limit(ROSTER_SHOWN + 1)).all()
    return render_template(
        "bureau/class_review.html", c=training_class, roster=roster[:ROSTER_SHOWN], more=len(roster) > ROSTER_SHOWN,
        roster_total=db.session.scalar(select(func.count(Enrolment.id)).where(
            Enrolment.class_id == training_class.id, Enrolment.status == ENROLLED)),
        history=class_review.history(db.session, training_class),
        changes=class_review.changes(db.session, training_class),
        approve_form=ConfirmForm(), return_form=return_form or ClassReturnForm(), read_form=ConfirmForm(),
        districts=region_names(db.session)), status


@bp.route("/classes/<int:class_id>")
@roles_required(BUREAU)
def class_review_page(class_id):
    return _review_page(_class_in_region(class_id))


@bp.route("/classes/<int:class_id>/approve", methods=["POST"])
@roles_required(BUREAU)
def approve_class(class_id):
    training_class = _class_in_region(class_id)
    if not ConfirmForm().validate_on_submit():
        flash("页面已过期，请刷新后重试", "error")
        return _review_page(training_class, status=400)
    try:
        class_review.review(db.session, training_class, audit.Actor.for_staff(current_user), approve=True)
    except DomainError as refusal:
        flash(refusal.message, "error")
        return _review_page(training_class, status=409)
    flash(f"“{training_class.course_name}”已审核通过，班期已开放报名，可以验券和发放定向券", "success")
    return redirect(url_for("bureau.class_queue"))


@bp.route("/classes/<int:class_id>/return", methods=["POST"])
@roles_required(BUREAU)
def return_class(class_id):
    training_class = _class_in_region(class_id)
    form = ClassReturnForm()
    if not form.validate_on_submit():
        return _review_page(training_class, form, 400)
    try:
        class_review.review(db.session, training_class, audit.Actor.for_staff(current_user), approve=False,
                            reason=form.reason.data)
    except ValidationFailed as refusal:
        form.reason.errors = [refusal.details.get("fields", {}).get("reason", refusal.message)]
        return _review_page(training_class, form, 400)
    except DomainError as refusal:
        flash(refusal.message, "error")
        return _review_page(training_class, status=409)
    flash(f"“{training_class.course_name}”已退回培训机构修改，机构将看到退回原因", "success")
    return redirect(url_for("bureau.class_queue"))


@bp.route("/classes/<int:class_id>/changes/read", methods=["POST"])
@roles_required(BUREAU)
def read_class_changes(class_id):
    training_class = _class_in_region(class_id)
    if not ConfirmForm().validate_on_submit():
        flash("页面已过期，请刷新后重试", "error")
        return _review_page(training_class, status=400)
    try:
        class_review.mark_changes_read(db.session, training_class, audit.Actor.for_staff(current_user))
    except DomainError as refusal:
        flash(refusal.message, "error")
        return _review_page(training_class, status=409)
    flash("变更已标记为已阅", "success")
    return redirect(url_for("bureau.class_review_page", class_id=class_id))
