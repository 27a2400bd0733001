"""卡券中心 (what I may claim, and why not) and 我的卡券 (my vouchers, each with a live QR)."""
from dataclasses import dataclass

from flask import abort, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from .. import admission
from ..access import WORKER, require_person_owns, roles_required
from ..codes import normalize_code
from ..extensions import db
from ..models import Voucher, VoucherTemplate, region_covers
from ..models.vouchers import CLAIMED, EXPIRED, GENERAL, OFFERED, REVOKED, SETTLED, TEMPLATE_ACTIVE, USED
from ..qr import qr_svg
from ..timeutil import local_today, utcnow
from ..vouchers import app_qr_secret, qrtoken, rules
from ..vouchers import claim as claim_service
from ..vouchers.errors import DomainError
from . import voucher_history
from .routes import bp, region_names

# 我的卡券 tabs, in the order the worker needs them.
TABS = [(CLAIMED, "可使用"), (USED, "已使用"), (SETTLED, "已核销"), (EXPIRED, "已失效"), (REVOKED, "已作废")]


# A national-scale 卡券中心 stays small: what I can claim as full cards, the rest as one line each.
CARDS_PER_PAGE = 20     # full cards of what I can claim now; more is rare and pages on (?page=2)
BLOCKED_INLINE = 10     # one-line "why not" entries under the cards, those that concern me first
BLOCKED_PER_PAGE = 30   # one-line entries per page of 暂不能领取的培训券


@dataclass(frozen=True)
class Offer:
    template: VoucherTemplate
    held: Voucher | None
    problems: list[tuple[type, str]]
    concerns_me: bool  # offered to me, or for my region: its reasons come before other regions'

    @property
    def reasons(self) -> str:
        return "；".join(message for _kind, message in self.problems)


def _my_vouchers() -> list[Voucher]:
    """All my vouchers with their templates, in one statement (the yearly limit counts them)."""
    return db.session.scalars(
        select(Voucher).where(Voucher.person_id == current_user.id)
        .options(joinedload(Voucher.template).joinedload(VoucherTemplate.policy))
    ).all()


def _offers(now, held: list[Voucher], template_id: int | None = None) -> list[tuple[VoucherTemplate, Voucher | None]]:
    """What 卡券中心 shows: vouchers offered to me, and open general templates in their claim
    window that I do not hold yet (`held`: my vouchers) — one statement, policies joined in,
    whatever the number of templates."""
    today = local_today(now)
    mine = {v.template_id: v for v in held}
    where = [
        VoucherTemplate.distribution_mode == GENERAL, VoucherTemplate.status == TEMPLATE_ACTIVE,
        VoucherTemplate.claim_starts_on <= today, VoucherTemplate.claim_ends_on >= today,
        or_(VoucherTemplate.audience == "open", VoucherTemplate.id.in_(list(mine) or [0])),
    ]
    if template_id is not None:
        where.append(VoucherTemplate.id == template_id)
    templates = db.session.scalars(
        select(VoucherTemplate).where(*where).options(joinedload(VoucherTemplate.policy))
        .order_by(VoucherTemplate.claim_ends_on, VoucherTemplate.id)
    ).all()
    offers = []
    for template in templates:
        voucher = mine.get(template.id)
        if voucher is None or voucher.effective_status(now) == OFFERED:
            offers.append((template, voucher))
    return offers


def _card_center(now, names) -> tuple[list[Offer], list[Offer]]:
    """(what I can claim now, what I cannot and why), each in the order the page lists them;
    eligibility is checked in Python against rows already loaded."""
    person = current_user._get_current_object()
    held = _my_vouchers()
    claimable, blocked = [], []
    for template, voucher in _offers(now, held):
        problems = claim_service.claim_problems(db.session, person, template, now, names=names, held=held)
        concerns_me = voucher is not None or region_covers(template.region_code, person.region_code)
        (blocked if problems else claimable).append(Offer(template, voucher, problems, concerns_me))
    blocked.sort(key=lambda offer: not offer.concerns_me)  # stable: keeps the deadline order within
    return claimable, blocked


def _page(items: list, per_page: int) -> tuple[list, int, int]:
    """The requested ?page= of `items` (clamped to the pages there are), its number, the page count."""
    pages = max(1, -(-len(items) // per_page))
    page = min(max(request.args.get("page", 1, type=int), 1), pages)
    return items[(page - 1) * per_page:page * per_page], page, pages


def _on_offer(offer: claim_service.Offer, now) -> bool:
    """Whether 卡券中心 lists this template for me — the conditions of `_offers`, for one template
    already read (the confirm page and the claim are not found otherwise)."""
    template, held, today = offer.template, offer.held, local_today(now)
    return (template.distribution_mode == GENERAL and template.status == TEMPLATE_ACTIVE
            and template.claim_starts_on <= today <= template.claim_ends_on
            and (template.audience == "open" or held is not None)
            and (held is None or held.effective_status(now) == OFFERED))


@bp.route("/cards")
@roles_required(WORKER)
def cards():
    """What I can claim now as full cards; under them, one line each on why I cannot claim the
    templates that concern me, and a link to all the others (other regions included)."""
    now = utcnow()
    names = region_names()
    claimable, blocked = _card_center(now, names)
    shown, page, pages = _page(claimable, CARDS_PER_PAGE)
    nearby = [offer for offer in blocked if offer.concerns_me][:BLOCKED_INLINE]
    person = current_user._get_current_object()
    # Nothing on record places the worker anywhere: say so first, and what to do (issue 18).
    no_record = not person.has_record and not person.region_code
    return render_template("worker/cards.html", offers=shown, page=page, pages=pages, nearby=nearby,
                           blocked_count=len(blocked), regions=names, now=now, no_record=no_record)


@bp.route("/cards/others")
@roles_required(WORKER)
def cards_blocked():
    """暂不能领取的培训券: every template in its claim window I cannot claim, with why, paged."""
    now = utcnow()
    names = region_names()
    _claimable, blocked = _card_center(now, names)
    shown, page, pages = _page(blocked, BLOCKED_PER_PAGE)
    return render_template("worker/cards_blocked.html", offers=shown, page=page, pages=pages,
                           blocked_count=len(blocked), regions=names)


@bp.route("/cards/<int:template_id>", methods=["GET", "POST"])
@roles_required(WORKER)
def claim(template_id):
    """One confirm step showing whose identity the voucher goes to, then the claim. Each is the
    signed-in person and one statement more (`read_offer`); the claim adds its three writes. In a
    rush the claim may be refused at once (admission control): a 503 page with a retry button."""
    now = utcnow()
    person = current_user._get_current_object()
    offer = claim_service.read_offer(db.session, person.id, template_id)
    if offer is None:
        abort(404)
    if not _on_offer(offer, now):
        return _gone(offer, now)
    # Whose identity the voucher goes to, read now: the page renders after the transaction ends.
    holder = {"name": person.name, "id_number": person.id_number}
    error = busy = None
    problems = []
    if request.method == "POST":  # CSRFProtect has checked its token, as for every POST
        try:
            voucher = claim_service.claim(db.session, person, offer.template, now=now, offer=offer,
                                          admit=lambda: admission.claim_slot(template_id))
        except admission.Busy as refusal:
            busy = refusal
        except DomainError as refusal:
            error = refusal
        else:
            # Said by the voucher page from the address, not a flash: the session (and its cookie)
            # stays as it was, in a rush as at any other time.
            return redirect(url_for("worker.voucher", code=voucher.code, claimed=1))
    else:
        problems = claim_service.offer_problems(db.session, person, offer, now, names=region_names())
    # The page is drawn from what was read: the read transaction ends first (on SQLite it holds
    # the write lock) instead of staying open while the template renders.
    db.session.commit()
    page = render_template("worker/claim.html", template=offer.template, error=error, busy=busy,
                           problems=problems, regions=region_names(), holder=holder)
    if busy:
        return page, 503, {"Retry-After": str(busy.retry_after)}
    return page, (400 if request.method == "POST" else 200)


def _gone(offer: claim_service.Offer, now):
    """A template 卡券中心 no longer lists for me (the back button, an old link): say why, where
    the answer is mine to know, instead of a bare 404."""
    template, held = offer.template, offer.held
    if held is not None and held.status != OFFERED:
        flash("您已领取过该培训券，请在“我的卡券”中查看", "info")
        return redirect(url_for("worker.vouchers"))
    if template.distribution_mode != GENERAL or (template.audience != "open" and held is None):
        abort(404)  # directed, or offered to others only: not mine to claim, nor to learn of
    if template.status != TEMPLATE_ACTIVE:
        message = "该券已停止发放"
    else:
        message = rules.claim_window_problem(template, now) or "该券已不在领取时间内"
    if held is not None and held.effective_status(now) == EXPIRED:
        message = "该券已过领取期限，已失效"
    flash(message, "error")
    return redirect(url_for("worker.cards"))


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
    """The voucher's QR, or None when it can no longer be presented: a claimed voucher is shown to
    be verified, a used one to check in while its class runs — not once the class has completed,
    nor for an online class (线上培训: study time comes from the platform, no one scans)."""
    status = voucher.effective_status(now)
    if status not in (CLAIMED, USED) or (status == USED and (training_over(voucher) or online(voucher))):
        return None
    return qr_state(qrtoken.KIND_VOUCHER, voucher.code, "培训券二维码")


def online(voucher: Voucher) -> bool:
    return voucher.training_class is not None and voucher.training_class.is_online


def training_over(voucher: Voucher | None, training_class=None) -> bool:
    """Whether the training is over — the voucher settled, or the class (the voucher's own unless
    given) completed: then there is no QR to show and nothing to check in to."""
    training_class = training_class or (voucher.training_class if voucher else None)
    return ((voucher is not None and voucher.status == SETTLED)
            or (training_class is not None and training_class.is_completed))


@bp.route("/vouchers/<code>")
@roles_required(WORKER)
def voucher(code):
    now = utcnow()
    voucher = _my_voucher(code)
    status = voucher.effective_status(now)
    return render_template("worker/voucher.html", voucher=voucher, status=status,
                           qr=_qr_state(voucher, now), regions=region_names(), now=now,
                           just_claimed=request.args.get("claimed") == "1" and status == CLAIMED,
                           history=voucher_history.history(voucher))


@bp.route("/vouchers/<code>/holder", methods=["POST"])
@roles_required(WORKER)
def voucher_holder(code):
    """The holder's full name and ID number, only when the worker asks (the voucher page, shown at
    the front desk, carries the masked ones): a POST (CSRFProtect checks its token), a page of its
    own, never cached."""
    voucher = _my_voucher(code)
    response = make_response(render_template("worker/voucher_holder.html", voucher=voucher))
    response.headers["Cache-Control"] = "no-store"
    return response


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

