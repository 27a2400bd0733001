"""结算核销: the institution applies, the issuing bureau reviews and pays, the codes die.

"谁发券、谁审核、谁补贴": a settlement belongs to the region of the templates it settles, and
only that bureau's staff review it. The clerk who reviewed cannot also mark it paid."""
from datetime import date, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm import joinedload, selectinload

from ..codes import normalize_code
from ..models import (
    Certificate, Enrolment, PaymentBatch, Policy, Settlement, SettlementLine, TrainingClass, Voucher, VoucherTemplate,
    region_covers,
)
from ..models.classes import CLASS_COMPLETED, ENROLLED
from ..models.settlement import (
    LINE_APPROVED, LINE_PENDING, LINE_REJECTED, S_DRAFT, S_PAID, S_REJECTED, S_REVIEWED, S_SUBMITTED,
)
from ..models.vouchers import CLAIMED, GENERAL, SETTLED, USED
from ..timeutil import end_of_local_day, to_local, utcnow
from . import audit, completion, payees, reasons, rules, states, subsidy
from .errors import (
    AmountAboveMaximum, ClassNotFinished, DutySegregation, OutOfScope, PayeeMissing, SettlementError, ValidationFailed,
    VoucherNotFound, VoucherSettled, YearlyLimitReached,
)
from .notify import notify, notify_many
from .transactions import in_chunks, service
from .verify import check_yearly_limits


NOT_COMPLETED = "班期结业后才能申请结算：请在全部课次结束、录入考核结果并办理结业后再提交"


def _open_line_exists(session, voucher_id: int) -> bool:
    return bool(_with_open_lines(session, [voucher_id]))


def _with_open_lines(session, voucher_ids) -> set[int]:
    """Which of these vouchers already stand on a line not rejected: one query per thousand."""
    found = set()
    for chunk in in_chunks(list(voucher_ids)):
        found.update(session.scalars(select(SettlementLine.voucher_id).where(
            SettlementLine.voucher_id.in_(chunk), SettlementLine.decision != LINE_REJECTED)))
    return found


def _pays_worker(voucher: Voucher, training_class: TrainingClass) -> bool:
    """Seed 003 §三(五): the worker paid the fee, so the subsidy goes to the worker (see
    match_worker_subsidies) and never to the institution."""
    template = voucher.template
    return bool(template.policy.pays_worker_for_general_certificate and template.distribution_mode == GENERAL
                and training_class.project_type == "certificate")


def _applicable(vouchers, taken: set[int], training_class: TrainingClass) -> list[Voucher]:
    """What an application without a list of codes takes: used, on no line still open, and not a
    subsidy paid to the worker."""
    return [v for v in vouchers if v.status == USED and v.id not in taken and not _pays_worker(v, training_class)]


def vouchers_to_apply_for(session, training_class: TrainingClass) -> list[Voucher]:
    """The class's vouchers an application would take now (the 结算申请 page's preview): none more
    once every one is on an application, only a rejected line's again."""
    used = session.scalars(
        select(Voucher).where(Voucher.class_id == training_class.id, Voucher.status == USED).order_by(Voucher.id)
        .options(selectinload(Voucher.template).selectinload(VoucherTemplate.policy))).all()
    return _applicable(used, _with_open_lines(session, [v.id for v in used]), training_class)


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
    if not training_class.is_completed:  # attendance and exam results are final only at 结业
        raise ClassNotFinished(NOT_COMPLETED)
    # Locked (PostgreSQL) so two applications made at the same moment cannot both take a voucher.
    used_here = {v.code: v for v in session.scalars(
        select(Voucher).where(Voucher.class_id == training_class.id).with_for_update(of=Voucher)
        .options(selectinload(Voucher.template).selectinload(VoucherTemplate.policy))
    )}
    taken = _with_open_lines(session, [v.id for v in used_here.values()])
    if codes is None:
        chosen = _applicable(used_here.values(), taken, training_class)
    else:
        chosen, bad, seen = [], [], set()
        for index, raw in enumerate(codes, start=1):
            code = normalize_code(raw)
            voucher = used_here.get(code)
            if voucher is None:
                bad.append(_row(index, code, "VOUCHER_NOT_FOUND", "该券未在本班期验券使用"))
            elif voucher.status == SETTLED:
                bad.append(_row(index, code, "VOUCHER_SETTLED", "该券已结算核销，不能再次申请"))
            elif voucher.id in taken:
                bad.append(_row(index, code, "VALIDATION_FAILED", "该券已在其他结算申请中"))
            elif voucher.id in seen:
                bad.append(_row(index, code, "VALIDATION_FAILED", "券码重复"))
            elif _pays_worker(voucher, training_class):
                bad.append(_row(index, code, "VALIDATION_FAILED",
                                "通用券参加证书类培训，补贴由人社部门直接发放给劳动者本人，机构不能申请结算"))
            else:
                chosen.append(voucher)
                seen.add(voucher.id)
        if bad:
            raise _rows_refused(f"有{len(bad)}个券码不能申请结算", bad)
    if not chosen:
        raise SettlementError("本班期没有可申请结算的已使用培训券")
    regions = {v.template.region_code for v in chosen}
    if len(regions) > 1:
        raise SettlementError("不同地区发放的培训券请分别申请结算（谁发券、谁审核、谁补贴）")
    assessed = subsidy.assess_many(session, chosen, training_class)
    settlement = Settlement(institution_id=training_class.institution_id, class_id=training_class.id,
                            region_code=regions.pop(), status=S_DRAFT)
    settlement.lines = [SettlementLine(
        voucher=voucher, eligible=result.eligible, attendance_rate=result.attendance_rate,
        exam_passed=result.exam_passed, amount_fen=result.amount_fen, reference_fen=result.reference_fen,
        reason=result.reason) for voucher, result in ((v, assessed[v.id]) for v in chosen)]
    session.add(settlement)
    if submit:
        settlement.status, settlement.submitted_at = S_SUBMITTED, now
    session.flush()
    audit.record(session, actor, "settlement.submit" if submit else "settlement.draft",
                 institution_id=training_class.institution_id, region_code=settlement.region_code,
                 details={"settlement_id": settlement.id, "lines": len(settlement.lines)})
    return settlement


# A batch's rows refused together answer as their most telling row: a settled code VOUCHER_SETTLED,
# a code unknown here 404 VOUCHER_NOT_FOUND (API.md: "an unknown voucher code anywhere"), an amount
# above the line's maximum AMOUNT_ABOVE_MAXIMUM, anything else VALIDATION_FAILED.
ROW_REFUSALS = (("VOUCHER_SETTLED", VoucherSettled), ("VOUCHER_NOT_FOUND", VoucherNotFound),
                ("AMOUNT_ABOVE_MAXIMUM", AmountAboveMaximum))


def _rows_refused(message: str, bad: list[dict]):
    codes = {row["code"] for row in bad}
    error = next((error for code, error in ROW_REFUSALS if code in codes), ValidationFailed)
    return error(message, rows=bad)


def _check_bureau(actor: audit.Actor, settlement: Settlement) -> None:
    if not actor.in_region(settlement.region_code):
        raise OutOfScope("只能审核本地区发放的培训券的结算")


def _who(actor: audit.Actor) -> str:
    return f"{actor.type}:{actor.id}"


def _is_fen(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _row(index: int, voucher_code: str, code: str, message: str) -> dict:
    return {"index": index, "voucher_code": voucher_code, "code": code, "message": message}


def _lock(session, settlement: Settlement) -> None:
    """Serialise reviews and payments of one settlement (PostgreSQL row lock; SQLite's writer lock),
    then read it and its lines afresh with their vouchers, templates and policies, in one more
    statement whatever the number of lines; `settlement.lines` is that list."""
    session.scalars(select(Settlement).where(Settlement.id == settlement.id).with_for_update()
                    .execution_options(populate_existing=True)).one()
    lines = session.scalars(
        select(SettlementLine).where(SettlementLine.settlement_id == settlement.id).order_by(SettlementLine.id)
        .options(joinedload(SettlementLine.voucher).joinedload(Voucher.template).joinedload(VoucherTemplate.policy))
        .execution_options(populate_existing=True)
    ).unique().all()
    set_committed_value(settlement, "lines", lines)


def _set_lines(session, lines: list[SettlementLine], **values) -> None:
    """Write the same values to many lines in one UPDATE per thousand, and show them on the loaded
    lines without the unit of work writing them a second time. A value may be a column of the line
    (approved_amount_fen=SettlementLine.amount_fen): each line gets its own."""
    table = SettlementLine.__table__
    for chunk in in_chunks(lines):
        ids = [line.id for line in chunk]
        session.connection().execute(update(table).where(table.c.id.in_(ids)).values(
            {name: (table.c[value.key] if isinstance(value, InstrumentedAttribute) else value)
             for name, value in values.items()}))
    for line in lines:
        for name, value in values.items():
            set_committed_value(line, name, getattr(line, value.key) if isinstance(value, InstrumentedAttribute)
                                else value)


def _yuan(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"


@service
def review(session, settlement: Settlement, actor: audit.Actor, *, approve=(), reject=(), amounts=None,
           now=None) -> Settlement:
    """Decide lines: `approve` codes, `reject` (code, reason) pairs. `amounts` maps an approved code
    to the amount approved (fen), never above the line's computed maximum; where the region's face
    value is only a reference (Chongqing) that is what is paid, elsewhere the maximum is the
    amount. When every line is decided the settlement is reviewed and waits for payment — or, every
    line rejected, is closed as 已驳回 with nothing to pay."""
    now = now or utcnow()
    _check_bureau(actor, settlement)
    _lock(session, settlement)
    amounts = {normalize_code(code): value for code, value in (amounts or {}).items()}
    if settlement.status != S_SUBMITTED:
        raise SettlementError(f"结算申请状态为“{settlement.status_label}”，不能审核")
    if not approve and not reject:
        raise ValidationFailed("请至少给出一张券的审核意见（通过或驳回）")
    lines = {line.voucher.code: line for line in settlement.lines}
    bad = []
    decisions = [(normalize_code(c), LINE_APPROVED, None) for c in approve]
    decisions += [(normalize_code(c), LINE_REJECTED, (r or "").strip()) for c, r in reject]
    seen = set()
    for index, (code, decision, reason) in enumerate(decisions, start=1):
        line = lines.get(code)
        adjusted = decision == LINE_APPROVED and code in amounts
        amount = amounts.get(code)
        if code in seen:
            bad.append(_row(index, code, "VALIDATION_FAILED", "同一张券只能给出一个审核意见"))
        seen.add(code)
        if line is None:
            bad.append(_row(index, code, "VOUCHER_NOT_FOUND", "该券不在本结算申请中"))
        elif line.decision != LINE_PENDING:
            bad.append(_row(index, code, "VALIDATION_FAILED", "该行已审核"))
        elif decision == LINE_APPROVED and not line.eligible:
            bad.append(_row(index, code, "NOT_ELIGIBLE", f"不符合补贴条件：{line.reason}"))
        elif decision == LINE_REJECTED and (wrong := reasons.problem(reason, "驳回原因")):
            bad.append(_row(index, code, "VALIDATION_FAILED", wrong))
        elif adjusted and not _is_fen(amount):
            bad.append(_row(index, code, "VALIDATION_FAILED", "审核金额应为不小于0的整数（单位：分）"))
        elif adjusted and amount > line.amount_fen:
            bad.append(_row(index, code, "AMOUNT_ABOVE_MAXIMUM",
                            f"审核金额{_yuan(amount)}高于该行的补贴上限{_yuan(line.amount_fen)}"))
        elif (adjusted and amount != line.amount_fen
              and not line.voucher.template.policy.face_value_is_reference):
            bad.append(_row(index, code, "VALIDATION_FAILED",
                            f"本地区按补贴标准拨付，金额为{_yuan(line.amount_fen)}，不能调整"))
    if bad:
        raise _rows_refused("审核意见有误，未做任何更改", bad)
    moves, who = [], _who(actor)
    plain = [lines[code] for code, decision, _ in decisions if decision == LINE_APPROVED and code not in amounts]
    _set_lines(session, plain, decision=LINE_APPROVED, decision_reason=None, decided_by=who,
               approved_amount_fen=SettlementLine.amount_fen)
    for code, decision, reason in decisions:
        line = lines[code]
        if decision == LINE_REJECTED or code in amounts:  # few: each its own reason or amount
            line.decision, line.decision_reason, line.decided_by = decision, reason, who
            line.approved_amount_fen = amounts[code] if decision == LINE_APPROVED else None
        moves.append(audit.values(
            actor, "settlement.approve" if decision == LINE_APPROVED else "settlement.reject", voucher=line.voucher,
            institution_id=settlement.institution_id, person_id=settlement.person_id,
            region_code=settlement.region_code, reason=reason, at=now,
            details={"settlement_id": settlement.id, "amount_fen": line.amount_fen,
                     "approved_amount_fen": line.approved_amount_fen}))
        if settlement.person_id is not None:
            if decision == LINE_APPROVED:
                notify(session, settlement.person_id, "subsidy_approved", "培训补贴审核通过",
                       f"您的证书类培训补贴已审核通过，金额{_yuan(line.approved_amount_fen)}，将拨付到您的收款账户。",
                       voucher_id=line.voucher_id)
            else:
                notify(session, settlement.person_id, "subsidy_rejected", "培训补贴未通过审核",
                       f"您的证书类培训补贴未通过审核：{reason}", voucher_id=line.voucher_id)
    audit.record_many(session, moves)
    settlement.refresh_totals()
    if all(line.decision != LINE_PENDING for line in settlement.lines):
        settlement.status = S_REVIEWED
        settlement.reviewed_at = now
        if not settlement.unpaid_lines:  # every line rejected: nothing to pay, closed as 已驳回 (not 已拨付)
            settlement.status = S_REJECTED
    settlement.reviewed_by_id = actor.id if actor.type == "staff" else settlement.reviewed_by_id
    audit.record(session, actor, "settlement.review", institution_id=settlement.institution_id,
                 person_id=settlement.person_id, region_code=settlement.region_code,
                 details={"settlement_id": settlement.id, "approved": [c for c, d, _ in decisions if d == LINE_APPROVED],
                          "rejected": [c for c, d, _ in decisions if d == LINE_REJECTED]})
    session.commit()
    return settlement


def _paid_on(value, now, settlement: Settlement) -> date:
    """The bank's date of the payment: not after today, nor before the application was reviewed
    (nothing is paid before it is approved)."""
    if value is None:
        return to_local(now).date()
    if not isinstance(value, date) or value > to_local(now).date():
        raise ValidationFailed("拨付日期不能晚于今天", fields={"paid_on": "拨付日期不能晚于今天"})
    reviewed = to_local(settlement.reviewed_at).date() if settlement.reviewed_at else None
    if reviewed is not None and value < reviewed:
        message = f"拨付日期不能早于审核日期（{reviewed:%Y-%m-%d}）"
        raise ValidationFailed(message, fields={"paid_on": message})
    return value


def _check_reference_unused(session, settlement: Settlement, reference: str) -> None:
    """One bank slip is one transfer to one payee: its reference already entered for this
    application (a second batch is another transfer) or for another payee's is a slip entered twice
    — a payment recorded that the bank never made. Another application of the same payee may share
    it (one transfer paying both)."""
    earlier = session.execute(
        select(PaymentBatch.settlement_id, PaymentBatch.paid_on, Settlement.institution_id, Settlement.person_id)
        .join(Settlement, Settlement.id == PaymentBatch.settlement_id)
        .where(PaymentBatch.region_code == settlement.region_code, PaymentBatch.reference == reference)
    ).all()
    for row in earlier:
        same_payee = (row.institution_id, row.person_id) == (settlement.institution_id, settlement.person_id)
        if row.settlement_id == settlement.id or not same_payee:
            where = "本申请" if row.settlement_id == settlement.id else f"结算申请 {row.settlement_id}"
            message = f"回单号 {reference} 已登记于{where} {row.paid_on:%Y-%m-%d} 的拨付，请核对银行回单"
            raise ValidationFailed(message, fields={"reference": message})


@service
def pay(session, settlement: Settlement, actor: audit.Actor, *, reference: str | None = None, paid_on=None,
        failed=(), now=None) -> PaymentBatch:
    """拨付 one batch: every line approved and not yet paid is paid — its voucher settled, its code
    dead — except the `failed` (code, reason) pairs the bank returned, which stay approved (待拨付)
    with the reason. The settlement closes when every line is paid or rejected."""
    now = now or utcnow()
    _check_bureau(actor, settlement)
    reference = (reference or "").strip()
    if not reference or len(reference) > 64:
        raise ValidationFailed("请填写银行回单号（流水号），64个字符以内", fields={"reference": "请填写银行回单号"})
    paid_on = _paid_on(paid_on, now, settlement)
    _lock(session, settlement)
    if settlement.status == S_PAID:
        raise VoucherSettled("该结算申请已全部拨付，不能重复拨付")
    if settlement.status == S_REJECTED:
        raise SettlementError("该结算申请的培训券已全部驳回，没有需要拨付的金额")
    if settlement.status != S_REVIEWED:
        raise SettlementError(f"结算申请状态为“{settlement.status_label}”，审核完成后才能拨付")
    if any(line.decided_by == _who(actor) for line in settlement.lines):
        raise DutySegregation("审核与拨付须由不同人员办理：您审核过本申请，请由其他人员办理拨付")
    _check_reference_unused(session, settlement, reference)
    unpaid = {line.voucher.code: line for line in settlement.unpaid_lines}
    bad, failures = [], {}
    for index, (code, reason) in enumerate(failed, start=1):
        code, reason = normalize_code(code), (reason or "").strip()
        if code not in unpaid:
            known = any(line.voucher.code == code for line in settlement.lines)
            bad.append(_row(index, code, "VALIDATION_FAILED" if known else "VOUCHER_NOT_FOUND",
                            "该行不是待拨付状态" if known else "该券不在本结算申请中"))
        elif not reason:
            bad.append(_row(index, code, "VALIDATION_FAILED", "请填写拨付失败的原因，如 账号有误、账户已销户"))
        else:
            failures[code] = reason
    if bad:
        raise _rows_refused("拨付失败的行有误，未做任何更改", bad)
    account = payees.settlement_account(session, settlement)
    if account is None:
        raise PayeeMissing("劳动者尚未填写本人收款账户，已提醒其在“我的 → 收款账户”中填写，填写后再拨付"
                           if settlement.person_id is not None else
                           "该培训机构尚未登记收款账户（或变更待确认），请先在“培训机构”中设置或确认收款账户")
    batch = PaymentBatch(settlement_id=settlement.id, region_code=settlement.region_code, reference=reference,
                         paid_on=paid_on, paid_by=actor.label, created_at=now)
    session.add(batch)
    session.flush()
    returned = [line for code, line in unpaid.items() if code in failures]
    paid = [line for code, line in unpaid.items() if code not in failures]
    for line in returned:
        line.failure_reason = failures[line.voucher.code]
    audit.record_many(session, [audit.values(
        actor, "settlement.payment_failed", voucher=line.voucher, reason=line.failure_reason,
        institution_id=settlement.institution_id, person_id=settlement.person_id, region_code=settlement.region_code,
        at=now, details={"settlement_id": settlement.id, "batch_id": batch.id, "reference": reference})
        for line in returned])
    try:
        states.move_many(session, [line.voucher for line in paid], SETTLED, actor, at=now, settled_at=now,
                         details=lambda v, by_voucher={line.voucher_id: line for line in paid}: {
                             "settlement_id": settlement.id, "amount_fen": by_voucher[v.id].payable_fen,
                             "batch_id": batch.id, "reference": reference})
    except states.StaleState:
        raise SettlementError("有培训券状态已变化，请刷新后重试") from None
    _set_lines(session, paid, paid_amount_fen=SettlementLine.approved_amount_fen, paid_at=now, failure_reason=None,
               payment_batch_id=batch.id, payee_account_id=account.id)
    batch.failed_lines, batch.paid_lines = len(returned), len(paid)
    batch.paid_total_fen = sum(line.paid_amount_fen for line in paid)
    settlement.refresh_totals()
    notices = []
    if settlement.person_id is not None:
        notices += [dict(person_id=settlement.person_id, kind="subsidy_failed", title="培训补贴拨付失败",
                         body=f"您的培训补贴拨付未成功：{line.failure_reason}。请在“我的 → 收款账户”核对本人银行卡，"
                              "人社部门将重新拨付。") for line in returned]
        notices += [dict(person_id=settlement.person_id, kind="settled", title="培训补贴已拨付", voucher_id=line.voucher_id,
                         body=f"您的证书类培训补贴{_yuan(line.payable_fen)}已拨付到{account.bank_name} "
                              f"{account.masked_number}。") for line in paid]
    else:
        notices += [dict(person_id=line.voucher.person_id, kind="settled", title="培训券已结算核销",
                         voucher_id=line.voucher_id,
                         body=f"您使用的“{line.voucher.template.name}”已完成结算核销，补贴{_yuan(line.payable_fen)}"
                              "已拨付给培训机构。") for line in paid]
    notify_many(session, notices)
    if not settlement.unpaid_lines:
        settlement.status, settlement.paid_at = S_PAID, now
        settlement.paid_by_id = actor.id if actor.type == "staff" else None
    audit.record(session, actor, "settlement.pay", institution_id=settlement.institution_id,
                 person_id=settlement.person_id, region_code=settlement.region_code, at=now,
                 details={"settlement_id": settlement.id, "batch_id": batch.id, "reference": reference,
                          "paid_on": paid_on.isoformat(), "paid_total_fen": batch.paid_total_fen,
                          "paid_lines": batch.paid_lines, "failed": sorted(failures),
                          "account_id": account.id, "account_number": account.masked_number})
    session.commit()
    return batch


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
    problem = completion.unfinished(training_class, now)
    if problem:  # a lesson still running or to come, or a class never approved (completion.py)
        raise ClassNotFinished(problem)
    training_class.status, training_class.completed_at = CLASS_COMPLETED, now
    training_class.trainees_completed = session.scalar(select(func.count(Enrolment.id)).where(
        Enrolment.class_id == training_class.id, Enrolment.status == ENROLLED))
    audit.record(session, actor, "class.complete", institution_id=training_class.institution_id,
                 region_code=training_class.institution.region_code, details={"class_id": training_class.id})
    # A suspended institution's vouchers are not used for it, automatically or not: none then.
    automatic = completion.auto_settled_vouchers(session, training_class)
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


def paying_region(person, template) -> str:
    """Seed 003 §三(五): the bureau of the worker's unemployment-insurance place pays, then of the
    place of employment, hukou (residence), unemployment registration — the first one on record
    inside the issuing region; else the issuing bureau itself."""
    for attribute in ("insurance_region_code", "employment_region_code", "hukou_region_code",
                      "residence_region_code", "unemployment_registered_region_code", "region_code"):
        code = getattr(person, attribute, None)
        if code and region_covers(template.region_code, code):
            return code
    return template.region_code


def _worker_candidates(person_id=None):
    query = (select(Voucher).join(VoucherTemplate, Voucher.template_id == VoucherTemplate.id)
             .join(Policy, VoucherTemplate.policy_id == Policy.id)
             .join(TrainingClass, Voucher.class_id == TrainingClass.id)
             .where(Voucher.status == USED, VoucherTemplate.distribution_mode == GENERAL,
                    Policy.pays_worker_for_general_certificate.is_(True),
                    TrainingClass.project_type == "certificate")
             .where(~select(SettlementLine.id).where(SettlementLine.voucher_id == Voucher.id,
                                                     SettlementLine.decision != LINE_REJECTED).exists())
             .order_by(Voucher.id))
    return query.where(Voucher.person_id == person_id) if person_id is not None else query


def match_for_person(session, person_id: int | None, actor: audit.Actor, *, region_code=None,
                     now=None) -> list[Settlement]:
    """Find the worker subsidies now due — a used general voucher on certificate training and a
    certificate of the same occupation issued since — and submit one worker-payee settlement per
    voucher. Part of the caller's transaction; safe to run again (a voucher with an open line is
    skipped)."""
    now = now or utcnow()
    made = []
    for voucher in session.scalars(_worker_candidates(person_id)):
        template = voucher.template
        if region_code is not None and not region_covers(region_code, template.region_code):
            continue
        training_class = voucher.training_class
        days = template.policy.valid_days_after_activation
        if days and voucher.used_at and end_of_local_day(training_class.ends_on) > voucher.used_at + timedelta(days):
            continue  # as in subsidy.assess: the training must end within N days of activation
        # A certificate the training led to: issued once the class had begun and the voucher was
        # used, not one the worker held before (or got elsewhere while waiting for the class).
        since = max(to_local(voucher.used_at).date() if voucher.used_at else date.min, training_class.starts_on)
        certificate = session.scalar(
            select(Certificate).where(Certificate.person_id == voucher.person_id,
                                      Certificate.occupation == training_class.occupation,
                                      Certificate.issued_on >= since)
            .order_by(Certificate.issued_on).limit(1)
        )
        if certificate is None:
            continue
        person = voucher.person
        amount, _note = rules.subsidy_amount(template, training_class.price_fen)
        payer = paying_region(person, template)
        settlement = Settlement(person_id=voucher.person_id, class_id=training_class.id,
                                region_code=payer, status=S_SUBMITTED, submitted_at=now)
        settlement.lines.append(SettlementLine(
            voucher_id=voucher.id, eligible=True, attendance_rate=subsidy.attendance_rate(
                session, training_class, voucher.person_id),
            exam_passed=True, amount_fen=amount, reference_fen=subsidy.reference_fen(template),
            reason=f"证书 {certificate.number}",
        ))
        session.add(settlement)
        session.flush()
        audit.record(session, actor, "settlement.match", voucher=voucher, person_id=voucher.person_id,
                     region_code=payer, at=now,
                     details={"settlement_id": settlement.id, "voucher": voucher.code,
                              "certificate": certificate.number, "amount_fen": amount})
        has_account = payees.active_account(session, person_id=voucher.person_id) is not None
        notify(session, voucher.person_id, "subsidy_matched", "证书类培训补贴待审核",
               f"您持“{template.name}”参加{training_class.occupation}培训并取得证书，补贴{_yuan(amount)}已进入人社部门审核。"
               + ("补贴将拨付到您在“我的 → 收款账户”中填写的本人银行卡。" if has_account else
                  "请尽快在“我的 → 收款账户”中填写本人银行卡，否则补贴无法拨付。"),
               voucher_id=voucher.id, link="/worker/me/payee")
        made.append(settlement)
    return made


@service
def match_worker_subsidies(session, region_code: str | None, actor: audit.Actor, *, now=None) -> list[Settlement]:
    """Shaoxing §三(五), the nightly catch-up (`flask settlements match`): every worker subsidy due
    and not yet found when its certificate was recorded. `region_code` None: the whole country."""
    made = match_for_person(session, None, actor, region_code=region_code, now=now)
    session.commit()
    return made
