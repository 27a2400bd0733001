"""取消班期 by the bureau: any class of an institution in its region, at any time before 结业 (the
institution itself may only before the first lesson). The page says what will happen, asks for a
reason and a confirmation; the engine (vouchers/cancellation.py) does it."""
from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from ..access import BUREAU, regional, roles_required
from ..extensions import db
from ..forms import CancelClassForm
from ..models import TrainingClass
from ..timeutil import utcnow
from ..vouchers import audit, cancellation
from ..vouchers.errors import DomainError
from .routes import bp


@bp.route("/classes/<int:class_id>/cancellation", methods=["GET", "POST"])
@roles_required(BUREAU)
def cancel_class(class_id):
    training_class = regional(TrainingClass, class_id)
    actor = audit.Actor.for_staff(current_user)
    back_url = url_for("bureau.institution_detail", institution_id=training_class.institution_id) + "#classes"
    form = CancelClassForm()
    error = None
    if form.validate_on_submit():
        try:
            done = cancellation.cancel_class(db.session, training_class, form.reason.data, actor)
        except DomainError as refusal:
            if refusal.details.get("fields", {}).get("reason"):
                form.reason.errors = [refusal.details["fields"]["reason"]]
            else:
                error = refusal.message
        else:
            flash(f"已取消“{training_class.course_name}”：{len(done.returned)}张培训券已退回学员，"
                  f"{done.enrolments_ended}名学员的报名已结束，已发消息告知", "success")
            return redirect(back_url)
    outlook = cancellation.preview(db.session, training_class, actor, now=utcnow())
    return render_template("class_cancel.html", training_class=training_class, form=form, outlook=outlook,
                           error=error, back_url=back_url), (400 if error or form.errors else 200)
