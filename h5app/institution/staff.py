"""核券人员: the officer (机构专员) adds, disables, re-enables and resets the front-desk verifiers of
the institution. A verifier cannot manage staff (403); nobody reaches another institution's (404)."""
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from ..access import OFFICER, roles_required
from ..auth.forms import generate_password
from ..extensions import db
from ..models import StaffUser
from ..models.staff import VERIFIER
from ..vouchers import audit
from ..worker.forms import ConfirmForm
from .forms import VerifierForm
from .routes import bp


def _my_verifier(user_id: int) -> StaffUser:
    user = db.session.get(StaffUser, user_id)
    if user is None or user.role != VERIFIER or user.institution_id != current_user.institution_id:
        abort(404)
    return user


def _record(action: str, user: StaffUser) -> None:
    audit.record(db.session, audit.Actor.for_staff(current_user), action, institution_id=user.institution_id,
                 details={"username": user.username})


def _handed_over(user: StaffUser, password: str):
    """The first (or reset) password is shown once, to the officer, and must be changed at first sign-in."""
    user.set_password(password)
    user.must_change_password = True
    return render_template("password_once.html", user=user, password=password, back_url=url_for("institution.staff"))


@bp.route("/staff", methods=["GET", "POST"])
@roles_required(OFFICER)
def staff():
    form = VerifierForm()
    if form.validate_on_submit():
        if db.session.scalar(select(StaffUser.id).where(StaffUser.username == form.username.data)):
            form.username.errors.append("该用户名已被使用，请换一个")
        else:
            user = StaffUser(username=form.username.data, name=form.name.data.strip(), phone=form.phone.data,
                             role=VERIFIER, institution_id=current_user.institution_id)
            page = _handed_over(user, generate_password())
            db.session.add(user)
            db.session.flush()
            _record("staff.create", user)
            db.session.commit()
            return page
    verifiers = db.session.scalars(
        select(StaffUser).where(StaffUser.institution_id == current_user.institution_id, StaffUser.role == VERIFIER)
        .order_by(StaffUser.id)
    ).all()
    return render_template("institution/staff.html", form=form, verifiers=verifiers, action_form=ConfirmForm()), (
        400 if form.errors else 200)


@bp.route("/staff/<int:user_id>/<any(disable, enable, reset):action>", methods=["POST"])
@roles_required(OFFICER)
def staff_action(user_id, action):
    user = _my_verifier(user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if action == "reset":
        page = _handed_over(user, generate_password())
        user.failed_logins, user.locked_until = 0, None
        user.session_epoch = StaffUser.session_epoch + 1  # signed out everywhere
        _record("staff.reset_password", user)
        db.session.commit()
        return page
    user.active = action == "enable"
    if not user.active:
        user.session_epoch = StaffUser.session_epoch + 1
    _record(f"staff.{action}", user)
    db.session.commit()
    flash(f"已{'启用' if user.active else '停用'} {user.name}", "success")
    return redirect(url_for("institution.staff"))
