"""取消班期 and 退班 on the officer's class page: each says first what it will do (how many vouchers
go back to their holders, who is told), asks for a reason and a confirmation, then calls the
engine (vouchers/cancellation.py), which refuses with a clear reason when it may not be done."""
from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..access import OFFICER, class_enrolment, owned, roles_required
from ..extensions import db
from ..forms import CancelClassForm, WithdrawForm
from ..identity import mask_id_number, mask_name
from ..models import Enrolment, TrainingClass, Voucher
from ..models.classes import ENROLLED, WITHDRAWN
from ..timeutil import utcnow
from ..vouchers import audit, cancellation
from ..vouchers.errors import DomainError
from .routes import bp


def _show_refusal(form, refusal: DomainError) -> str:
    """A refusal about the reason goes on its field; any other is the page's message."""
    if refusal.details.get("fields", {}).get("reason"):
        form.reason.errors = [refusal.details["fields"]["reason"]]
        return ""
    return refusal.message


@bp.route("/classes/<int:class_id>/cancellation", methods=["GET", "POST"])
@roles_required(OFFICER)
def cancel_class(class_id):
    training_class = owned(TrainingClass, class_id)
    actor = audit.Actor.for_staff(current_user)
    form = CancelClassForm()
    error = None
    if form.validate_on_submit():
        try:
            done = cancellation.cancel_class(db.session, training_class, form.reason.data, actor)
        except DomainError as refusal:
            error = _show_refusal(form, refusal)
        else:
            flash(f"班期已取消：{len(done.returned)}张培训券已退回学员，{done.enrolments_ended}名学员的报名已结束，"
                  f"已发消息告知", "success")
            return redirect(url_for("institution.class_trainees", class_id=class_id))
    outlook = cancellation.preview(db.session, training_class, actor, now=utcnow())
    return render_template("class_cancel.html", training_class=training_class, form=form, outlook=outlook,
                           error=error, back_url=url_for("institution.class_trainees", class_id=class_id)), (
        400 if error or form.errors else 200)


@bp.route("/classes/<int:class_id>/withdrawals/<int:enrolment_id>", methods=["GET", "POST"])
@roles_required(OFFICER)
def withdraw_trainee(class_id, enrolment_id):
    """退班 of one trainee from the trainee list (the API takes the ID number instead)."""
    training_class = owned(TrainingClass, class_id)
    enrolment = class_enrolment(training_class, enrolment_id)
    person = enrolment.person
    form = WithdrawForm()
    error = None
    if form.validate_on_submit():
        try:
            done = cancellation.withdraw(db.session, training_class, person.id_number, form.reason.data,
                                         audit.Actor.for_staff(current_user))
        except DomainError as refusal:
            error = _show_refusal(form, refusal)
        else:
            flash(f"已为{mask_name(person.name)}办理退班" + (
                f"，培训券已退回，有效期延长{done.held_days}天" if done.voucher is not None and done.held_days else "")
                + "，已发消息告知", "success")
            return redirect(url_for("institution.class_trainees", class_id=class_id))
    voucher = db.session.scalar(select(Voucher).where(Voucher.class_id == training_class.id,
                                                      Voucher.person_id == person.id))
    refusal = (cancellation.closed_class(training_class, "退班")
               or (None if enrolment.status == ENROLLED else DomainError("该学员已不在本班期名单中"))
               or cancellation.attending(db.session, training_class, person.id))
    blocker = refusal.message if refusal is not None else None
    return render_template("institution/withdraw.html", training_class=training_class, form=form, error=error,
                           blocker=blocker, voucher=voucher, enrolment=enrolment,
                           trainee={"name": mask_name(person.name), "id_number": mask_id_number(person.id_number)}), (
        400 if error or form.errors else 200)


def ended_enrolments(training_class: TrainingClass) -> list[dict]:
    """Trainees whose enrolment ended (退班, or the class cancelled), newest first, for the class page."""
    rows = db.session.scalars(select(Enrolment).options(selectinload(Enrolment.person)).where(
        Enrolment.class_id == training_class.id, Enrolment.status != ENROLLED, Enrolment.ended_at.is_not(None))
        .order_by(Enrolment.ended_at.desc()).limit(200)).all()
    return [{"name": mask_name(e.person.name), "id_number": mask_id_number(e.person.id_number),
             "ended_at": e.ended_at, "reason": e.end_reason,
             "status": "已退班" if e.status == WITHDRAWN else "班期取消"} for e in rows]
