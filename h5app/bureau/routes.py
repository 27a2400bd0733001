"""Bureau console. This area's home: the region's voucher figures and what waits for review."""
from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import and_, case, func, select

from ..access import BUREAU, roles_required
from ..extensions import db
from ..models import Institution, Region, Settlement, Voucher, VoucherTemplate, region_prefix, under_prefix
from ..models.settlement import S_REVIEWED, S_SUBMITTED
from ..models.vouchers import CLAIMED, EXPIRED, OFFERED
from ..timeutil import utcnow
from ..vouchers.class_review import changed as changed_classes, waiting_count as classes_waiting
from ..vouchers.policy_admin import is_province_admin
from ..vouchers.settlement_lists import overdue_reviews

bp = Blueprint("bureau", __name__)


@bp.route("/")
@roles_required(BUREAU)
def home():
    prefix = region_prefix(current_user.region_code)
    region = db.session.scalar(select(Region).where(Region.code == current_user.region_code))
    # As of now: an unused voucher past its deadline is 已失效 here as it is to its holder, whether
    # or not the nightly `vouchers expire` has recorded it yet.
    status = case((and_(Voucher.status.in_((OFFERED, CLAIMED)), Voucher.expires_at < utcnow()), EXPIRED),
                  else_=Voucher.status)
    by_status = dict(db.session.execute(
        select(status, func.count(Voucher.id))
        .join(VoucherTemplate, Voucher.template_id == VoucherTemplate.id)
        .where(under_prefix(VoucherTemplate.region_code, prefix))
        .group_by(status)
    ).all())
    region_templates = db.session.scalars(
        select(VoucherTemplate).where(under_prefix(VoucherTemplate.region_code, prefix)).order_by(VoucherTemplate.id)
    ).all()
    waiting = db.session.scalar(
        select(func.count(Settlement.id)).where(under_prefix(Settlement.region_code, prefix),
                                                Settlement.status.in_((S_SUBMITTED, S_REVIEWED)))
    )
    region_institutions = db.session.scalars(
        select(Institution).where(under_prefix(Institution.region_code, prefix)).order_by(Institution.id)
    ).all()
    overdue = overdue_reviews(db.session, utcnow(), region_prefix=prefix)
    return render_template("bureau/home.html", region=region, by_status=by_status, templates=region_templates,
                           waiting=waiting, institutions=region_institutions, overdue=overdue,
                           classes_waiting=classes_waiting(db.session, current_user.region_code),
                           classes_changed=len(changed_classes(db.session, current_user.region_code)),
                           is_province_admin=is_province_admin(current_user))


# The routes of each module join the blueprint.
from . import certificates, institutions, oversight, settlements, staff, statistics, templates  # noqa: E402,F401
from . import class_review, directed_issue  # noqa: E402,F401  (开班审核, 定向发券 preview: issue 19)
from . import persons, population  # noqa: E402,F401  (人员信息 and 通用券 to a population, issue 18)
from . import corrections  # noqa: E402,F401  (补签审核, issue 19)
from . import cancellations  # noqa: E402,F401  (取消班期, issue 19)
from . import people_import  # noqa: E402,F401  (人员信息导入, issue 18)
from . import policies  # noqa: E402,F401  (地区政策, PRODUCT.md §10)
