"""机构信息: contact details, training sites (where location check-in is accepted), standing and
strikes; a suspended institution sees why."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..access import OFFICER, VERIFIER, roles_required
from ..extensions import db
from ..models import Site
from ..timeutil import utcnow
from ..vouchers import audit
from ..vouchers.supervision import STRIKE_KINDS, strikes_this_year
from .forms import ContactForm, SiteForm
from .routes import bp


@bp.route("/profile", methods=["GET", "POST"])
@roles_required(OFFICER, VERIFIER)
def profile():
    institution = current_user.institution
    officer = current_user.role == OFFICER
    contact = ContactForm(obj=institution, prefix="contact")
    site = SiteForm(prefix="site")
    status = 200
    if request.method == "POST":
        if not officer:
            return redirect(url_for("institution.profile")), 303
        actor = audit.Actor.for_staff(current_user)
        if "contact-submit" in request.form and contact.validate_on_submit():
            institution.address, institution.phone = contact.address.data.strip(), contact.phone.data.strip()
            audit.record(db.session, actor, "institution.contact", institution_id=institution.id)
            db.session.commit()
            flash("联系方式已保存", "success")
            return redirect(url_for("institution.profile"))
        if "site-submit" in request.form and site.validate_on_submit():
            institution.sites.append(Site(name=site.name.data.strip(), address=site.address.data or None,
                                          lat=float(site.lat.data), lng=float(site.lng.data),
                                          radius_m=site.radius_m.data))
            audit.record(db.session, actor, "institution.site", institution_id=institution.id,
                         details={"name": site.name.data})
            db.session.commit()
            flash("培训地点已添加", "success")
            return redirect(url_for("institution.profile"))
        status = 400
    return render_template("institution/profile.html", institution=institution, contact=contact, site=site,
                           officer=officer, strikes=strikes_this_year(db.session, institution, utcnow()),
                           kinds=STRIKE_KINDS), status
