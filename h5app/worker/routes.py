"""Worker pages: the blueprint and its home. The flows live beside it: vouchers.py (卡券中心,
我的卡券), training.py (培训报名, 打卡签到, 培训评价), records.py (证书, 岗位, 消息, 我的)."""
from collections.abc import Mapping

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import select

from ..access import WORKER, roles_required
from ..extensions import db
from ..models import Notification, Voucher
from ..models.vouchers import CLAIMED, EXPIRED, OFFERED, REVOKED, SETTLED, USED
from ..region_names import region_names as _cached_region_names
from ..timeutil import utcnow

bp = Blueprint("worker", __name__)

# The counts on the home page: the vouchers to use first, offers still to claim last.
SUMMARY_ORDER = (CLAIMED, USED, SETTLED, EXPIRED, REVOKED, OFFERED)


def region_names() -> Mapping[str, str]:
    """Region names by code, read-only, from the per-process cache (see h5app/region_names.py for
    when it is dropped): no statement on most requests."""
    return _cached_region_names(db.session)


@bp.route("/")
@roles_required(WORKER)
def home():
    now = utcnow()
    held = db.session.scalars(
        select(Voucher).where(Voucher.person_id == current_user.id).order_by(Voucher.id.desc())
    ).all()
    counts = {}
    for voucher in held:
        status = voucher.effective_status(now)
        counts[status] = counts.get(status, 0) + 1
    notices = db.session.scalars(
        select(Notification).where(Notification.person_id == current_user.id)
        .order_by(Notification.id.desc()).limit(5)
    ).all()
    return render_template("worker/home.html", counts=counts, summary_order=SUMMARY_ORDER, vouchers=held,
                           notices=notices, now=now)


from . import checkout, online, records, training, vouchers  # noqa: E402,F401  (their routes join the blueprint)
