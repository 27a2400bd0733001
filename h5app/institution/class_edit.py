"""Creating and editing classes (sessions typed one per line, sites chosen from the institution's),
and opening or closing enrolment."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from ..access import OFFICER, owned, roles_required
from ..extensions import db
from ..forms import ConfirmForm
from ..models import TrainingClass
from ..models.classes import CLASS_OPEN
from ..models.vouchers import PROJECT_TYPES
from ..timeutil import to_local
from ..vouchers import audit, class_review, classes
from ..vouchers.errors import DomainError, InvalidTransition, ValidationFailed
from .forms import ClassForm, ClassStatusForm
from .routes import bp


def _form(training_class=None) -> ClassForm:
    # The class fills the form only when it is shown: a POST is judged on what was posted alone
    # (a field missing from it must not take the class's sessions list as its text).
    form = ClassForm(obj=training_class if request.method == "GET" else None)
    form.project_type.choices = [SelectChoice(code, label) for code, label in PROJECT_TYPES.items()]
    form.sites.choices = [SelectChoice(site.id, site.name) for site in current_user.institution.sites]
    # 开班申请: a class under 开班审核 (waiting, returned or approved by it), or a new one where the
    # district's policy asks for it, must carry its teaching plan and teachers.
    if (training_class.is_unapproved or training_class.approved_at is not None) if training_class is not None \
            else class_review.review_required(db.session, current_user.institution):
        form.require_review()
    if training_class is not None and training_class.is_returned:
        form.submit.label.text = "保存并重新提交审核"
    elif training_class is None and form.review_required:
        form.submit.label.text = "提交开班申请"
    if request.method == "GET" and training_class is not None:
        form.price.data = training_class.price_fen / 100
        form.sites.data = [site.id for site in training_class.sites]
        form.sessions.data = "\n".join(
            f"{to_local(s.starts_at):%Y-%m-%d %H:%M}-{to_local(s.ends_at):%H:%M} {s.hours}" for s in training_class.sessions)
        form.teachers.data = "\n".join(f"{t.name} {t.certificate_number}" for t in training_class.teachers)
    return form


@bp.route("/classes/new", methods=["GET", "POST"])
@roles_required(OFFICER)
def new_class():
    form = _form()
    if form.validate_on_submit():
        try:
            training_class = classes.create_class(db.session, current_user.institution, form.values(),
                                                  form.session_times(), audit.Actor.for_staff(current_user),
                                                  site_ids=form.sites.data, teachers=form.teacher_rows())
        except ValidationFailed as problems:
            form.show(problems.details["fields"])
        else:
            if training_class.is_pending_review:
                flash("开班申请已提交人社部门审核。审核通过后自动开放报名；审核期间可上传花名册", "success")
            else:
                flash("班期已创建。核对无误后点“开放报名”，劳动者才能看到并报名", "success")
            return redirect(url_for("institution.class_trainees", class_id=training_class.id))
    return render_template("institution/class_form.html", form=form, training_class=None,
                           max_lessons=classes.MAX_LESSONS), 400 if form.errors else 200


@bp.route("/classes/<int:class_id>/edit", methods=["GET", "POST"])
@roles_required(OFFICER)
def edit_class(class_id):
    training_class = owned(TrainingClass, class_id)
    if not training_class.is_editable:
        abort(409)
    form = _form(training_class)
    error = None
    if form.validate_on_submit():
        try:
            edited = classes.update_class(db.session, training_class, form.values(), form.session_times(),
                                          audit.Actor.for_staff(current_user), site_ids=form.sites.data,
                                          teachers=form.teacher_rows())
        except ValidationFailed as refusal:
            if refusal.details.get("fields"):
                form.show(refusal.details["fields"])
            else:
                error = refusal.message
        except InvalidTransition as refusal:  # saved; the returned 开班申请 had been sent back meanwhile
            flash(f"班期已保存，但未能重新提交审核：{refusal.message}", "error")
            return redirect(url_for("institution.class_trainees", class_id=class_id))
        except DomainError as refusal:  # cancelled or completed a moment ago
            error = refusal.message
        else:
            if edited.resubmitted:
                flash("班期已保存，并已重新提交人社部门审核", "success")
            else:
                flash("班期已保存" + ("，课次变更已告知人社部门" if edited.changes else ""), "success")
            return redirect(url_for("institution.class_trainees", class_id=class_id))
    return render_template("institution/class_form.html", form=form, training_class=training_class, error=error,
                           **_what_stays(training_class)), 400 if form.errors or error else 200


def _what_stays(training_class: TrainingClass) -> dict:
    """What the edit page says can no longer change: the lessons once anyone checked in, the
    fields the vouchers were verified against once one was used (vouchers/classes.py)."""
    fields = "、".join(label for label, _why in classes.LOCKED_ONCE_USED.values())
    return {"max_lessons": classes.MAX_LESSONS, "lessons_kept": classes.attended(db.session, training_class),
            "fields_kept": fields if classes.vouchers_used(db.session, training_class) else None}


@bp.route("/classes/<int:class_id>/status", methods=["POST"])
@roles_required(OFFICER)
def class_status(class_id):
    training_class = owned(TrainingClass, class_id)
    form = ClassStatusForm()
    if not form.validate_on_submit():
        abort(400)
    wanted = form.status.data
    try:
        classes.set_enrolment_open(db.session, training_class, wanted == CLASS_OPEN,
                                   audit.Actor.for_staff(current_user))
    except DomainError as refusal:  # completed, cancelled, unapproved, or its 结业日期 past
        flash(refusal.message, "error")
        return redirect(url_for("institution.class_trainees", class_id=class_id))
    flash("已开放报名" if wanted == CLASS_OPEN else "已截止报名（已报名学员仍可验券、签到）", "success")
    return redirect(url_for("institution.class_trainees", class_id=class_id))


@bp.route("/classes/<int:class_id>/resubmit", methods=["POST"])
@roles_required(OFFICER)
def resubmit_class(class_id):
    """Send a returned class back to 开班审核 as it stands (after mending it on the edit page)."""
    training_class = owned(TrainingClass, class_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        class_review.resubmit(db.session, training_class, audit.Actor.for_staff(current_user))
    except DomainError as refusal:
        flash(refusal.message, "error")
    else:
        flash("已重新提交开班审核，请等待人社部门审核", "success")
    return redirect(url_for("institution.class_trainees", class_id=class_id))
