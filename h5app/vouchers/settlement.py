"""结算核销: the institution applies, the issuing bureau reviews and pays, the codes die.

"谁发券、谁审核、谁补贴": a settlement belongs to the region of the templates it settles, and
only that bureau's staff review it. The clerk who reviewed cannot also mark it paid."""
from datetime import date, timedelta

from sqlalchemy import func, select

from ..codes import normalize_code
from ..models import (
    Certificate, Enrolment, Settlement, SettlementLine, TrainingClass, Voucher, VoucherTemplate, region_covers,
)
from ..models.classes import CLASS_COMPLETED
from ..models.settlement import (
    LINE_APPROVED, LINE_PENDING, LINE_REJECTED, S_DRAFT, S_PAID, S_REVIEWED, S_SUBMITTED,
)
from ..models.vouchers import CLAIMED, CREDENTIAL, DIRECTED, GENERAL, SETTLED, USED
from ..timeutil import end_of_local_day, to_local, utcnow
from . import audit, rules, states, subsidy
from .errors import DutySegregation, OutOfScope, SettlementError, ValidationFailed, YearlyLimitReached
from .notify import notify
from .unit import service
from .verify import check_yearly_limits


def _open_line_exists(session, voucher_id: int) -> bool:
    return session.scalar(
        select(SettlementLine.id).join(Settlement)
        .where(SettlementLine.voucher_id == voucher_id, SettlementLine.decision != LINE_REJECTED)
    ) is not None


def _pays_worker(voucher: Voucher, training_class: TrainingClass) -> bool:
    """Seed 003 §三(五): the worker paid the fee, so the subsidy goes to the worker (see
    match_worker_subsidies) and never to the institution."""
    template = voucher.template
    return bool(template.policy.pays_worker_for_general_certificate and template.distribution_mode == GENERAL
                and training_class.project_type == "certificate")


@service
def apply(session, training_class: TrainingClass, actor: audit.Actor, *, codes: list[str] | None = None,
          submit: bool = True, now=None) -> Settlement:
    """Build (and by default submit) a settlement application for a class, one line per voucher:
    the vouchers used there, or the listed codes. Codes that are not this class's used vouchers
    are refused all together (422 with every bad code)."""
    settlement = _application(session, training_class, actor, codes=codes, submit=submit, now=now or utcnow())
    session.commit()
    return settlement


def _application(session, training_class, actor, *, codes, submit, now) -> Settlement:
    if not actor.for_institution(training_class.institution_id):
        raise OutOfScope("只能为本机构的班期申请结算")
    # Locked (PostgreSQL) so two applications made at the same moment cannot both take a voucher.
    used_here = {v.code: v for v in session.scalars(
        select(Voucher).where(Voucher.class_id == training_class.id).with_for_update(of=Voucher)
    )}
    if codes is None:
        chosen = [v for v in used_here.values() if v.status == USED and not _open_line_exists(session, v.id)
                  and not _pays_worker(v, training_class)]
    else:
        chosen, bad = [], []
        for index, raw in enumerate(codes, start=1):
            code = normalize_code(raw)
            voucher = used_here.get(code)
            if voucher is None:
                bad.append({"index": index, "code": code, "message": "该券未在本班期验券使用"})
            elif _open_line_exists(session, voucher.id):
                bad.append({"index": index, "code": code, "message": "该券已在其他结算申请中"})
            elif voucher in chosen:
                bad.append({"index": index, "code": code, "message": "券码重复"})
            elif _pays_worker(voucher, training_class):
                bad.append({"index": index, "code": code,
                            "message": "通用券参加证书类培训，补贴由人社部门直接发放给劳动者本人，机构不能申请结算"})
            else:
                chosen.append(voucher)
        if bad:
            raise ValidationFailed(f"有{len(bad)}个券码不能申请结算", rows=bad)
    if not chosen:
        raise SettlementError("本班期没有可申请结算的已使用培训券")
    regions = {v.template.region_code for v in chosen}
    if len(regions) > 1:
        raise SettlementError("不同地区发放的培训券请分别申请结算（谁发券、谁审核、谁补贴）")
    settlement = Settlement(institution_id=training_class.institution_id, class_id=training_class.id,
                            region_code=regions.pop(), status=S_DRAFT)
    session.add(settlement)
    for voucher in chosen:
        result = subsidy.assess(session, voucher, training_class)
        settlement.lines.append(SettlementLine(
            voucher_id=voucher.id, eligible=result.eligible, attendance_rate=result.attendance_rate,
            exam_passed=result.exam_passed, amount_fen=result.amount_fen, reason=result.reason,
        ))
    if submit:
        settlement.status, settlement.submitted_at = S_SUBMITTED, now
    session.flush()
    audit.record(session, actor, "settlement.submit" if submit else "settlement.draft",
                 institution_id=training_class.institution_id, region_code=settlement.region_code,
                 details={"settlement_id": settlement.id, "lines": len(settlement.lines)})
    return settlement


def _check_bureau(actor: audit.Actor, settlement: Settlement) -> None:
    if not actor.in_region(settlement.region_code):
        raise OutOfScope("只能审核本地区发放的培训券的结算")


def _who(actor: audit.Actor) -> str:
    return f"{actor.type}:{actor.id}"


def _is_fen(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@service
def review(session, settlement: Settlement, actor: audit.Actor, *, approve=(), reject=(), amounts=None,
           now=None) -> Settlement:
    """Decide lines: `approve` codes, `reject` (code, reason) pairs. When every line is decided the
    settlement is reviewed and waits for payment. `amounts` sets the approved amount where the
    region's face value is only a reference (Chongqing)."""
    now = now or utcnow()
    _check_bureau(actor, settlement)
    amounts = {normalize_code(code): value for code, value in (amounts or {}).items()}
    if settlement.status != S_SUBMITTED:
        raise SettlementError(f"结算申请状态为“{settlement.status_label}”，不能审核")
    lines = {line.voucher.code: line for line in settlement.lines}
    bad = []
    decisions = [(normalize_code(c), LINE_APPROVED, None) for c in approve]
    decisions += [(normalize_code(c), LINE_REJECTED, (r or "").strip()) for c, r in reject]
    seen = set()
    for index, (code, decision, reason) in enumerate(decisions, start=1):
        line = lines.get(code)
        if code in seen:
            bad.append({"index": index, "code": code, "message": "同一张券只能给出一个审核意见"})
        seen.add(code)
        if line is None:
            bad.append({"index": index, "code": code, "message": "该券不在本结算申请中"})
        elif line.decision != LINE_PENDING:
            bad.append({"index": index, "code": code, "message": "该行已审核"})
        elif decision == LINE_APPROVED and not line.eligible:
            bad.append({"index": index, "code": code, "message": f"不符合补贴条件：{line.reason}"})
        elif decision == LINE_REJECTED and not reason:
            bad.append({"index": index, "code": code, "message": "请填写驳回原因"})
        elif decision == LINE_APPROVED and amounts and code in amounts and not _is_fen(amounts[code]):
            bad.append({"index": index, "code": code, "message": "审核金额应为不小于0的整数（单位：分）"})
    if bad:
        raise ValidationFailed("审核意见有误，未做任何更改", rows=bad)
    for code, decision, reason in decisions:
        line = lines[code]
        line.decision, line.decision_reason, line.decided_by = decision, reason, _who(actor)
        if decision == LINE_APPROVED and amounts and code in amounts:
            if not line.voucher.template.policy.face_value_is_reference:
                raise SettlementError("本地区按券面值补贴，不能调整金额")
            line.amount_fen = int(amounts[code])
        if decision == LINE_REJECTED:
            line.amount_fen = 0
    if all(line.decision != LINE_PENDING for line in settlement.lines):
        settlement.status = S_REVIEWED
        settlement.reviewed_at = now
    settlement.reviewed_by_id = actor.id if actor.type == "staff" else settlement.reviewed_by_id
    audit.record(session, actor, "settlement.review", institution_id=settlement.institution_id,
                 region_code=settlement.region_code,
                 details={"settlement_id": settlement.id, "approved": list(approve),
                          "rejected": [c for c, _ in reject]})
    session.commit()
    return settlement


@service
def pay(session, settlement: Settlement, actor: audit.Actor, *, now=None) -> Settlement:
    """Mark paid: every approved voucher becomes settled and its code dead."""
    now = now or utcnow()
    _check_bureau(actor, settlement)
    if settlement.status != S_REVIEWED:
        raise SettlementError(f"结算申请状态为“{settlement.status_label}”，审核完成后才能拨付")
    if any(line.decided_by == _who(actor) for line in settlement.lines):
        raise DutySegregation("审核与拨付须由不同人员办理：您审核过本申请，请由其他人员办理拨付")
    for line in settlement.lines:
        if line.decision != LINE_APPROVED:
            continue
        try:
            states.move(session, line.voucher, SETTLED, actor, at=now, settled_at=now,
                        details={"settlement_id": settlement.id, "amount_fen": line.amount_fen})
        except states.StaleState:
            raise SettlementError("有培训券状态已变化，请刷新后重试") from None
        notify(session, line.voucher.person_id, "settled", "培训补贴已拨付",
               f"您使用的“{line.voucher.template.name}”已完成结算核销，补贴金额¥{line.amount_fen / 100:.2f}。",
               voucher_id=line.voucher_id)
    settlement.status, settlement.paid_at = S_PAID, now
    settlement.paid_by_id = actor.id if actor.type == "staff" else None
    audit.record(session, actor, "settlement.pay", institution_id=settlement.institution_id,
                 region_code=settlement.region_code,
                 details={"settlement_id": settlement.id, "total_fen": settlement.approved_total_fen})
    session.commit()
    return settlement


@service
def complete_class(session, training_class: TrainingClass, actor: audit.Actor, *, now=None) -> Settlement | None:
    """结业. Where the region's policy settles credential directed vouchers with the class (Wuxi),
    the roster's vouchers are used and an application is made without the institution — all in
    one transaction with the completion."""
    now = now or utcnow()
    if not actor.for_institution(training_class.institution_id):
        raise OutOfScope("只能操作本机构的班期")
    if training_class.status == CLASS_COMPLETED:
        raise SettlementError("该班期已结业")
    training_class.status, training_class.completed_at = CLASS_COMPLETED, now
    training_class.trainees_completed = session.scalar(select(func.count(Enrolment.id)).where(
        Enrolment.class_id == training_class.id, Enrolment.status == "enrolled"))
    audit.record(session, actor, "class.complete", institution_id=training_class.institution_id,
                 region_code=training_class.institution.region_code, details={"class_id": training_class.id})
    automatic = list(session.scalars(
        select(Voucher).join(VoucherTemplate, Voucher.template_id == VoucherTemplate.id)
        .where(Voucher.bound_class_id == training_class.id, VoucherTemplate.distribution_mode == DIRECTED,
               VoucherTemplate.function_mode == CREDENTIAL)
    ))
    automatic = [v for v in automatic if v.template.policy.auto_settle_directed_credential]
    if training_class.institution.is_suspended:
        automatic = []  # a suspended institution's vouchers are not used for it, automatically or not
    system = audit.Actor.system("系统自动核销")
    for voucher in automatic:
        if voucher.effective_status(now) != CLAIMED:
            continue
        try:
            check_yearly_limits(session, voucher, training_class, now)
        except YearlyLimitReached as refusal:
            audit.record(session, system, "voucher.auto_use_refused", voucher=voucher, reason=refusal.message,
                         institution_id=training_class.institution_id, at=now)
            continue
        states.move(session, voucher, USED, system, at=now, used_at=now, class_id=training_class.id,
                    institution_id=training_class.institution_id, reason="定向抵用券随班期结业自动使用")
    pending = [v for v in automatic if v.status == USED and not _open_line_exists(session, v.id)]
    application = None
    if pending:
        application = _application(session, training_class, system, codes=[v.code for v in pending],
                                   submit=True, now=now)
    session.commit()
    return application


@service
def match_worker_subsidies(session, region_code: str, actor: audit.Actor, *, now=None) -> list[Settlement]:
    """Shaoxing §三(五): a general voucher used on certificate training — the worker paid the fee;
    the bureau pays the worker once the certificate and the used voucher are both on record.
    No application: matched here, one person-payee settlement per voucher, submitted for review."""
    now = now or utcnow()
    candidates = session.scalars(
        select(Voucher).join(VoucherTemplate, Voucher.template_id == VoucherTemplate.id)
        .join(TrainingClass, Voucher.class_id == TrainingClass.id)
        .where(Voucher.status == USED, VoucherTemplate.distribution_mode == GENERAL,
               TrainingClass.project_type == "certificate")
    )
    made = []
    for voucher in candidates:
        template = voucher.template
        if not (template.policy.pays_worker_for_general_certificate and region_covers(region_code, template.region_code)):
            continue
        if _open_line_exists(session, voucher.id):
            continue
        training_class = voucher.training_class
        days = template.policy.valid_days_after_activation
        if days and voucher.used_at and end_of_local_day(training_class.ends_on) > voucher.used_at + timedelta(days):
            continue  # as in subsidy.assess: the training must end within N days of activation
        certificate = session.scalar(
            select(Certificate).where(Certificate.person_id == voucher.person_id,
                                      Certificate.occupation == training_class.occupation,
                                      Certificate.issued_on >= (to_local(voucher.used_at).date() if voucher.used_at
                                                                else date.min))
        )
        if certificate is None:
            continue
        amount, _note = rules.subsidy_amount(template)
        settlement = Settlement(person_id=voucher.person_id, class_id=training_class.id,
                                region_code=template.region_code, status=S_SUBMITTED, submitted_at=now)
        settlement.lines.append(SettlementLine(
            voucher_id=voucher.id, eligible=True, attendance_rate=subsidy.attendance_rate(
                session, training_class, voucher.person_id),
            exam_passed=True, amount_fen=amount, reason=f"证书 {certificate.number}",
        ))
        session.add(settlement)
        session.flush()
        audit.record(session, actor, "settlement.match", person_id=voucher.person_id,
                     region_code=template.region_code,
                     details={"settlement_id": settlement.id, "voucher": voucher.code,
                              "certificate": certificate.number})
        made.append(settlement)
    session.commit()
    return made
