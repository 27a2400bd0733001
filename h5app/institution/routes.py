"""Institution pages. This area's home: the institution's standing and its classes."""
from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import func, select

from ..access import OFFICER, VERIFIER, roles_required
from ..extensions import db
from ..models import Enrolment, TrainingClass, Voucher
from ..models.classes import ENROLLED
from ..models.vouchers import USED
from ..timeutil import utcnow
from ..vouchers.settlement_lists import overdue_applications, overdue_reviews

bp = Blueprint("institution", __name__)


@bp.route("/")
@roles_required(OFFICER, VERIFIER)
def home():
    institution = current_user.institution
    own_classes = db.session.scalars(
        select(TrainingClass).where(TrainingClass.institution_id == institution.id)
        .order_by(TrainingClass.starts_on.desc())
    ).all()
    enrolled = dict(db.session.execute(
        select(Enrolment.class_id, func.count(Enrolment.id))
        .join(TrainingClass, Enrolment.class_id == TrainingClass.id)
        .where(TrainingClass.institution_id == institution.id, Enrolment.status == ENROLLED)
        .group_by(Enrolment.class_id)
    ).all())
    verified = dict(db.session.execute(
        select(Voucher.class_id, func.count(Voucher.id))
        .where(Voucher.institution_id == institution.id, Voucher.status == USED)
        .group_by(Voucher.class_id)
    ).all())
    now = utcnow()
    return render_template("institution/home.html", institution=institution, classes=own_classes,
                           enrolled=enrolled, verified=verified,
                           overdue_applications=overdue_applications(db.session, institution.id, now),
                           overdue_reviews=overdue_reviews(db.session, now, institution_id=institution.id))


from . import attendance, class_edit, classes, completion, corrections, profile, staff, verify  # noqa: E402,F401
from . import cancellation, checkout  # noqa: E402,F401  (取消班期, 退班, 签退)
