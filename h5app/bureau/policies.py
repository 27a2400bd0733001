"""地区政策: a province's administrator (a supervisor of a provincial bureau) sees the policy each of
its regions follows and changes one on a page, audited (vouchers/policy_admin.py). Others get 403."""
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from ..access import BUREAU, regional_policy, roles_required
from ..extensions import db
from ..models import AuditEvent
from ..vouchers import audit, claim, policy_admin
from ..vouchers.errors import DomainError, ValidationFailed
from .forms import PolicyForm
from .routes import bp

HISTORY_SHOWN = 20


def _require_province_admin() -> None:
    if not policy_admin.is_province_admin(current_user):
        abort(403)


@bp.route("/policies")
@roles_required(BUREAU)
def policies():
    _require_province_admin()
    actor = audit.Actor.for_staff(current_user)
    rows = [(policy, inside, outside, policy_admin.not_changeable(db.session, policy, actor, outside))
            for policy, inside, outside in policy_admin.province_policies(db.session, current_user.region_code)]
    return render_template("bureau/policies.html", rows=rows, describe=policy_admin.describe)


@bp.route("/policies/<int:policy_id>", methods=["GET", "POST"])
@roles_required(BUREAU)
def policy_detail(policy_id):
    _require_province_admin()
    policy = regional_policy(policy_id)  # no region of this province follows it: not the province's to see
    actor = audit.Actor.for_staff(current_user)
    inside, outside = policy_admin.split_regions(db.session, policy, current_user.region_code)
    refusal = policy_admin.not_changeable(db.session, policy, actor, outside)
    form = PolicyForm()
    if form.validate_on_submit():
        try:
            changes = policy_admin.update_policy(db.session, policy, form.values(), actor)
        except ValidationFailed as problems:
            form.show(problems.details["fields"])
        except DomainError as refused:
            flash(refused.message, "error")
        else:
            if changes:
                flash(f"已保存{len(changes)}项修改，记入审计日志；新规则随即适用于"
                      f"{'、'.join(r.name for r in inside)}（各服务器{int(claim.TERMS_MAX_AGE // 60)}分钟内全部生效）",
                      "success")
            else:
                flash("没有修改", "info")
            return redirect(url_for("bureau.policy_detail", policy_id=policy.id))
    elif not form.is_submitted():
        form.fill(policy)
    history = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "policy.update",
                                 AuditEvent.region_code == current_user.region_code,
                                 AuditEvent.details["policy"].as_string() == policy.code)
        .order_by(AuditEvent.id.desc()).limit(HISTORY_SHOWN)).all()
    return render_template("bureau/policy.html", policy=policy, inside=inside, refusal=refusal, form=form,
                           history=history, labels=policy_admin.LABELS, describe=policy_admin.describe,
                           setting_words=policy_admin.setting_words), (400 if form.errors else 200)
