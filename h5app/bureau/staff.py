"""人社部门工作人员: a supervisor adds clerks for the region (or a district in it), disables and resets
them; a clerk cannot (403). Every clerk sees only their own region's data (region-scoped queries)."""
from flask import abort, render_template, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from .. import staffing
from ..access import BUREAU, regional_clerk, require_supervisor, roles_required
from ..extensions import db
from ..forms import ConfirmForm
from ..models import Region, StaffUser, region_prefix, under_prefix
from .forms import ClerkForm
from .routes import bp


@bp.route("/staff", methods=["GET", "POST"])
@roles_required(BUREAU)
def staff():
    require_supervisor()
    prefix = region_prefix(current_user.region_code)
    form = ClerkForm()
    form.region_code.choices = [SelectChoice(r.code, r.name) for r in db.session.scalars(
        select(Region).where(under_prefix(Region.code, prefix)).order_by(Region.code))]
    if form.validate_on_submit():
        if staffing.username_taken(db.session, form.username.data):
            form.username.errors.append("该用户名已被使用，请换一个")
        else:
            user = StaffUser(username=form.username.data, name=form.name.data.strip(), role=BUREAU,
                             region_code=form.region_code.data)
            page = staffing.hand_over(user, url_for("bureau.staff"))
            db.session.add(user)
            staffing.record("staff.create", user)
            db.session.commit()
            return page
    clerks = db.session.scalars(select(StaffUser).where(
        StaffUser.role == BUREAU, under_prefix(StaffUser.region_code, prefix)).order_by(StaffUser.id)).all()
    return render_template("bureau/staff.html", form=form, clerks=clerks, action_form=ConfirmForm()), (
        400 if form.errors else 200)


@bp.route("/staff/<int:user_id>/<any(disable, enable, reset):action>", methods=["POST"])
@roles_required(BUREAU)
def staff_action(user_id, action):
    require_supervisor()
    user = regional_clerk(user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    return staffing.act(user, action, url_for("bureau.staff"))
