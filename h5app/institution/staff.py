"""核券人员: the officer (机构专员) adds, disables, re-enables and resets the front-desk verifiers of
the institution. A verifier cannot manage staff (403); nobody reaches another institution's (404)."""
from flask import abort, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from .. import staffing
from ..access import OFFICER, VERIFIER, owned_verifier, roles_required
from ..extensions import db
from ..forms import ConfirmForm
from ..models import StaffUser
from .forms import VerifierForm
from .routes import bp


@bp.route("/staff", methods=["GET", "POST"])
@roles_required(OFFICER)
def staff():
    form = VerifierForm()
    if form.validate_on_submit():
        if staffing.username_taken(db.session, form.username.data):
            form.username.errors.append("该用户名已被使用，请换一个")
        else:
            user = StaffUser(username=form.username.data, name=form.name.data.strip(), phone=form.phone.data,
                             role=VERIFIER, institution_id=current_user.institution_id)
            page = staffing.hand_over(user, url_for("institution.staff"))
            db.session.add(user)
            db.session.flush()
            staffing.record("staff.create", user)
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
    user = owned_verifier(user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    return staffing.act(user, action, url_for("institution.staff"))
