"""线上培训: a worker enrolled in an online class uses their voucher themselves, confirming who they
are — a code sent to their bound phone, or a channel (e-SSC) sign-in a few minutes old — never a
QR (seed 001 附件1 三(3)). The use itself is the engine's (vouchers/online.py)."""
from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from ..access import WORKER, roles_required
from ..auth import sms, sso
from ..extensions import db, limiter
from ..identity import mask_phone
from ..models import Channel, Enrolment, SmsCode, TrainingClass, Voucher
from ..models.classes import ENROLLED
from ..models.vouchers import USED
from ..template_filters import yuan
from ..timeutil import utcnow
from ..vouchers import online
from ..vouchers.enrolment import crowded_out, usable_vouchers
from ..vouchers.errors import DomainError
from .forms import OnlineUseForm
from .routes import bp

CODE_KEY = "online_use_code"  # {"id": SmsCode id, "class": class id}: the code sent for this use
USE_TEXT = "您正在使用职业培训券参加线上培训，验证码为{code}，5分钟内有效。如非本人操作请忽略，请勿告诉他人。"


def online_class_or_404(class_id: int) -> TrainingClass:
    training_class = db.session.get(TrainingClass, class_id)
    if training_class is None or not training_class.is_online or not training_class.is_running:
        abort(404)
    return training_class


def used_here(person_id: int, class_id: int) -> Voucher | None:
    return db.session.scalar(select(Voucher).where(
        Voucher.person_id == person_id, Voucher.class_id == class_id, Voucher.status == USED))


def _voucher_label(voucher: Voucher) -> str:
    value = f"（{yuan(voucher.template.face_value_fen)}）" if voucher.template.face_value_fen else ""
    return f"{voucher.template.name}{value} · 尾号{voucher.code[-4:]}"


def _crowding(person_id: int, voucher: Voucher, training_class: TrainingClass, now) -> str:
    """What using the voucher here would cost the worker's other enrolments, said beside it: a
    yearly limit reached by this use leaves the voucher chosen for another class unusable."""
    courses = crowded_out(db.session, person_id, voucher, training_class, now)
    if not courses:
        return ""
    names = "、".join(f"“{name}”" for name in courses)
    return f"（注意：按本地政策每年使用次数有限，用于本班期后，您报名{names}时选用的培训券本年度将不能再使用）"


def _pending_code(class_id: int) -> SmsCode | None:
    kept = session.get(CODE_KEY)
    if not isinstance(kept, dict) or kept.get("class") != class_id or not isinstance(kept.get("id"), int):
        return None
    row = db.session.get(SmsCode, kept["id"])
    return row if sms.usable(row) else None


@bp.route("/classes/<int:class_id>/use", methods=["GET", "POST"])
@roles_required(WORKER)
@limiter.limit("20 per minute", methods=["POST"])
def online_use(class_id):
    training_class = online_class_or_404(class_id)
    person = current_user._get_current_object()
    detail = url_for("worker.class_detail", class_id=class_id)
    enrolment = db.session.scalar(select(Enrolment).where(
        Enrolment.class_id == class_id, Enrolment.person_id == person.id, Enrolment.status == ENROLLED))
    if enrolment is None:
        flash("请先报名该班期，再使用培训券", "warning")
        return redirect(detail)
    if used_here(person.id, class_id) is not None:
        flash("您已使用培训券参加本班期", "info")
        return redirect(detail)
    now = utcnow()
    usable = usable_vouchers(db.session, person.id, training_class, now)
    if not usable:
        flash("您没有可用于本班期的培训券", "warning")
        return redirect(detail)
    form = OnlineUseForm()
    form.voucher.choices = [SelectChoice(v.code, _voucher_label(v) + _crowding(person.id, v, training_class, now))
                            for v in usable]
    if request.method == "GET":
        chosen = request.args.get("voucher") or next(
            (v.code for v in usable if v.id == enrolment.voucher_id), usable[0].code)
        form.voucher.data = chosen if any(v.code == chosen for v in usable) else usable[0].code
    channel_code = sso.fresh_channel(session)
    error = None
    if form.validate_on_submit():
        error = _act(form, person, training_class, channel_code)
        if error is None:
            return redirect(url_for("worker.online_use", class_id=class_id, voucher=form.voucher.data)
                            if form.send.data else detail)
    channel = db.session.scalar(select(Channel).where(Channel.code == channel_code)) if channel_code else None
    pending = _pending_code(class_id)
    return render_template(
        "worker/online_use.html", training_class=training_class, form=form, error=error, channel=channel,
        phone=mask_phone(person.phone) if person.phone else None, code_sent=pending is not None,
        demo=current_app.config.get("DEMO_MODE"),
    ), (400 if error or form.errors else 200)


def _act(form: OnlineUseForm, person, training_class: TrainingClass, channel_code: str | None) -> str | None:
    """What the worker tapped: send a code, confirm with it, or confirm by the fresh channel sign-in.
    None when done (the page moves on), else what to tell them."""
    if form.send.data:
        if not person.phone:
            return "您还没有绑定手机号，不能接收验证码；请从“智慧人社”等渠道重新进入本页确认"
        try:
            code_id = sms.send_code(db.session, person.phone, text=USE_TEXT)
        except sms.SmsError as refusal:
            return refusal.message
        session[CODE_KEY] = {"id": code_id, "class": training_class.id}
        flash(f"验证码已发送至 {mask_phone(person.phone)}，5分钟内有效", "success")
        return None
    if form.channel.data:
        if channel_code is None:
            return "渠道实名认证已超过10分钟，请用短信验证码确认，或从渠道重新进入本页"
        proof = online.PROOF_SSO
    else:  # confirm with the SMS code
        kept = session.get(CODE_KEY)
        if not isinstance(kept, dict) or kept.get("class") != training_class.id:
            return "请先点“获取验证码”"
        if not form.code.data:
            form.code.errors = ["请输入短信中的6位验证码"]
            return "请输入短信中的6位验证码"
        try:
            phone = sms.check_code(db.session, kept.get("id"), form.code.data)
        except sms.SmsError as refusal:
            if refusal.final:
                session.pop(CODE_KEY, None)
            return refusal.message
        session.pop(CODE_KEY, None)
        if phone != person.phone:  # the phone was changed since the code was sent
            return "验证码不是发送到您当前绑定的手机号，请重新获取"
        proof = online.PROOF_SMS
    try:
        online.use_online(db.session, person, training_class.id, form.voucher.data, proof=proof)
    except DomainError as refusal:
        return refusal.message
    if proof == online.PROOF_SSO:
        sso.spend_fresh(session)
    flash("培训券已使用，可以开始线上学习了。学习时长由培训平台报送，计入打卡率", "success")
    return None
