"""卡券中心 (what I may claim, and why not) and 我的卡券 (my vouchers, each with a live QR)."""
from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import or_, select

from ..access import WORKER, require_person_owns, roles_required
from ..codes import normalize_code
from ..extensions import db
from ..forms import ConfirmForm
from ..models import Voucher, VoucherTemplate
from ..models.vouchers import CLAIMED, EXPIRED, GENERAL, OFFERED, REVOKED, SETTLED, TEMPLATE_ACTIVE, USED
from ..qr import qr_svg
from ..timeutil import local_today, utcnow
from ..vouchers import app_qr_secret, qrtoken
from ..vouchers import claim as claim_service
from ..vouchers.errors import DomainError
from .routes import bp, region_names

# 我的卡券 tabs, in the order the worker needs them.
TABS = [(CLAIMED, "可使用"), (USED, "已使用"), (SETTLED, "已核销"), (EXPIRED, "已失效"), (REVOKED, "已作废")]


def _offers(now) -> list[tuple[VoucherTemplate, Voucher | None]]:
    """What 卡券中心 shows: vouchers offered to me, and open general templates in their claim
    window that I do not hold yet."""
    today = local_today(now)
    mine = {v.template_id: v for v in db.session.scalars(select(Voucher).where(Voucher.person_id == current_user.id))}
    templates = db.session.scalars(
        select(VoucherTemplate).where(
            VoucherTemplate.distribution_mode == GENERAL, VoucherTemplate.status == TEMPLATE_ACTIVE,
            VoucherTemplate.claim_starts_on <= today, VoucherTemplate.claim_ends_on >= today,
            or_(VoucherTemplate.audience == "open", VoucherTemplate.id.in_(list(mine) or [0])),
        ).order_by(VoucherTemplate.claim_ends_on, VoucherTemplate.id)
    ).all()
    offers = []
    for template in templates:
        held = mine.get(template.id)
        if held is None or held.effective_status(now) == OFFERED:
            offers.append((template, held))
    return offers


def _visible_template(template_id: int, now) -> VoucherTemplate:
    for template, _held in _offers(now):
        if template.id == template_id:
            return template
    abort(404)


@bp.route("/cards")
@roles_required(WORKER)
def cards():
    now = utcnow()
    entries = [(template, held, claim_service.claim_problems(db.session, current_user, template, now))
               for template, held in _offers(now)]
    return render_template("worker/cards.html", entries=entries, regions=region_names(), now=now)


@bp.route("/cards/<int:template_id>", methods=["GET", "POST"])
@roles_required(WORKER)
def claim(template_id):
    """One confirm step showing whose identity the voucher goes to, then the claim."""
    now = utcnow()
    template = _visible_template(template_id, now)
    form = ConfirmForm()
    error = None
    if form.validate_on_submit():
        try:
            voucher = claim_service.claim(db.session, current_user._get_current_object(), template)
        except DomainError as refusal:
            error = refusal
        else:
            flash("领取成功，可在“我的卡券”中出示二维码使用", "success")
            return redirect(url_for("worker.voucher", code=voucher.code))
    problems = [] if error else claim_service.claim_problems(db.session, current_user, template, now)
    return render_template("worker/claim.html", template=template, form=form, error=error, problems=problems,
                           regions=region_names()), (400 if request.method == "POST" else 200)


@bp.route("/vouchers")
@roles_required(WORKER)
def vouchers():
    now = utcnow()
    tab = request.args.get("tab", CLAIMED)
    if tab not in dict(TABS):
        tab = CLAIMED
    held = db.session.scalars(
        select(Voucher).where(Voucher.person_id == current_user.id, Voucher.status != OFFERED)
        .order_by(Voucher.id.desc())
    ).all()
    by_tab = {key: [] for key, _ in TABS}
    for voucher in held:
        by_tab[voucher.effective_status(now)].append(voucher)
    return render_template("worker/vouchers.html", tabs=TABS, tab=tab, by_tab=by_tab, now=now)


def _my_voucher(code: str) -> Voucher:
    voucher = db.session.scalar(select(Voucher).where(Voucher.code == normalize_code(code)))
    return require_person_owns(voucher)


def qr_state(kind: str, code: str, title: str) -> dict:
    """A freshly signed QR and how long until the next one (for the page's refresh script)."""
    token = qrtoken.sign(app_qr_secret(), kind, code)
    return {"token": token, "svg": qr_svg(token, title=title), "refresh_in": qrtoken.seconds_to_refresh()}


def _qr_state(voucher: Voucher, now) -> dict | None:
    """The voucher's QR, or None when it can no longer be presented."""
    if voucher.effective_status(now) not in (CLAIMED, USED):
        return None
    return qr_state(qrtoken.KIND_VOUCHER, voucher.code, "培训券二维码")


@bp.route("/vouchers/<code>")
@roles_required(WORKER)
def voucher(code):
    now = utcnow()
    voucher = _my_voucher(code)
    return render_template("worker/voucher.html", voucher=voucher, status=voucher.effective_status(now),
                           qr=_qr_state(voucher, now), regions=region_names(), now=now)


@bp.route("/vouchers/<code>/qr.json")
@roles_required(WORKER)
def voucher_qr(code):
    """The current QR of a voucher, for the page to refresh itself every 30 s."""
    voucher = _my_voucher(code)
    state = _qr_state(voucher, utcnow())
    if state is None:
        return jsonify({"error": {"code": "VOUCHER_NOT_PRESENTABLE", "message": "该培训券当前不能出示"}}), 409
    response = jsonify(state)
    response.headers["Cache-Control"] = "no-store"
    return response

