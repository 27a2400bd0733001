"""机构信息: contact details, training sites (where location check-in is accepted), standing and
strikes; a suspended institution sees why. The payee account (收款账户), masked; the officer asks
for a change, which waits for the bureau's confirmation."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from ..access import OFFICER, VERIFIER, has_role, roles_required
from ..extensions import db
from ..models import AuditEvent, PayeeAccount, Site
from ..models.settlement import ACCOUNT_DECLINED
from ..timeutil import utcnow
from ..vouchers import audit, payees
from ..vouchers.errors import DomainError
from ..vouchers.supervision import STRIKE_KINDS, strikes_this_year
from .forms import ContactForm, PayeeForm, SiteForm
from .routes import bp


@bp.route("/profile", methods=["GET", "POST"])
@roles_required(OFFICER, VERIFIER)
def profile():
    institution = current_user.institution
    officer = has_role(OFFICER)
    contact = ContactForm(obj=institution, prefix="contact")
    site = SiteForm(prefix="site")
    payee = PayeeForm(prefix="payee")
    status = 200
    if request.method == "POST":
        if not officer:
            return redirect(url_for("institution.profile")), 303
        actor = audit.Actor.for_staff(current_user)
        if contact.submit.data and contact.validate_on_submit():
            institution.address, institution.phone = contact.address.data.strip(), contact.phone.data.strip()
            audit.record(db.session, actor, "institution.contact", institution_id=institution.id)
            db.session.commit()
            flash("联系方式已保存", "success")
            return redirect(url_for("institution.profile"))
        if site.submit.data and site.validate_on_submit():
            institution.sites.append(Site(name=site.name.data.strip(), address=site.address.data or None,
                                          lat=float(site.lat.data), lng=float(site.lng.data),
                                          radius_m=site.radius_m.data))
            audit.record(db.session, actor, "institution.site", institution_id=institution.id,
                         details={"name": site.name.data})
            db.session.commit()
            flash("培训地点已添加", "success")
            return redirect(url_for("institution.profile"))
        if payee.submit.data and payee.validate_on_submit():
            try:
                payees.change_institution_account(db.session, institution, payee.values(), actor)
                flash("收款账户变更已提交，人社部门确认后生效；确认前仍拨付到原账户", "success")
                return redirect(url_for("institution.profile"))
            except DomainError as refusal:
                payee.show(refusal.details.get("fields") or {"account_name": refusal.message})
        payee.account_number.data = ""  # a full account number is never shown back on a page
        status = 400
    return render_template("institution/profile.html", institution=institution, contact=contact, site=site,
                           officer=officer, strikes=strikes_this_year(db.session, institution, utcnow()),
                           kinds=STRIKE_KINDS, payee=payee,
                           account=payees.active_account(db.session, institution_id=institution.id),
                           pending=payees.pending_account(db.session, institution.id),
                           declined=_last_declined(institution.id)), status


def _last_declined(institution_id: int) -> tuple[PayeeAccount, str | None] | None:
    """The officer's latest change, when the bureau declined it, with the bureau's reason."""
    latest = db.session.scalar(select(PayeeAccount).where(PayeeAccount.institution_id == institution_id)
                               .order_by(PayeeAccount.id.desc()).limit(1))
    if latest is None or latest.status != ACCOUNT_DECLINED:
        return None
    reason = db.session.scalar(select(AuditEvent.reason).where(
        AuditEvent.institution_id == institution_id, AuditEvent.action == "payee.decline")
        .order_by(AuditEvent.id.desc()).limit(1))
    return latest, reason
