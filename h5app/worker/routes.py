"""Worker pages. This area's home: a summary of my vouchers and my latest messages."""
from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import select

from ..access import WORKER, roles_required
from ..extensions import db
from ..models import Notification, Voucher
from ..timeutil import utcnow

bp = Blueprint("worker", __name__)


@bp.route("/")
@roles_required(WORKER)
def home():
    now = utcnow()
    vouchers = db.session.scalars(
        select(Voucher).where(Voucher.person_id == current_user.id).order_by(Voucher.id.desc())
    ).all()
    counts = {}
    for voucher in vouchers:
        status = voucher.effective_status(now)
        counts[status] = counts.get(status, 0) + 1
    notices = db.session.scalars(
        select(Notification).where(Notification.person_id == current_user.id)
        .order_by(Notification.id.desc()).limit(5)
    ).all()
    return render_template("worker/home.html", counts=counts, vouchers=vouchers, notices=notices, now=now)
