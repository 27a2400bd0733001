"""Model → JSON for the API: one place for field names, times (+08:00) and masking."""
from ..identity import mask_id_number
from ..timeutil import iso_local


def voucher(v, institution_code: str | None = None) -> dict:
    template = v.template
    return {
        "code": v.code, "status": v.status, "template_id": v.template_id,
        "function_mode": template.function_mode, "distribution_mode": template.distribution_mode,
        "face_value_fen": template.face_value_fen, "claimed_at": iso_local(v.claimed_at),
        "expires_at": iso_local(v.expires_at), "used_at": iso_local(v.used_at), "class_id": v.class_id,
        "institution_code": institution_code if institution_code is not None else (
            v.institution.code if v.institution_id else None),
        "settled_at": iso_local(v.settled_at),
    }


def effective_voucher(v, now, institution_code: str | None = None) -> dict:
    """The voucher as of now: an unused voucher past its deadline is `expired` even before the sweep."""
    data = voucher(v, institution_code)
    data["status"] = v.effective_status(now)
    return data


def person(p, *, unmasked: bool = False) -> dict:
    return {"name": p.name, "id_number": p.id_number if unmasked else mask_id_number(p.id_number)}


def template(t) -> dict:
    return {
        "id": t.id, "name": t.name, "voucher_type": t.voucher_type, "region_code": t.region_code,
        "function_mode": t.function_mode, "distribution_mode": t.distribution_mode,
        "face_value_fen": t.face_value_fen, "standard_fen": t.standard_fen,
        "eligible_groups": list(t.eligible_groups or []), "occupation": t.occupation, "level": t.level,
        "project_types": list(t.project_types or []), "claim_starts_on": t.claim_starts_on.isoformat(),
        "claim_ends_on": t.claim_ends_on.isoformat(),
        "valid_until": t.valid_until.isoformat() if t.valid_until else None, "valid_days": t.valid_days,
        "stock": t.stock, "remaining_stock": t.remaining_stock, "status": t.status,
        "policy_code": t.policy.code if t.policy is not None else None,
    }


def training_class(c, *, review_reason: str | None = None) -> dict:
    return {
        "id": c.id, "institution_code": c.institution.code, "course_name": c.course_name,
        "occupation": c.occupation, "level": c.level, "project_type": c.project_type, "hours": float(c.hours),
        "starts_on": c.starts_on.isoformat(), "ends_on": c.ends_on.isoformat(), "status": c.status,
        "site_id": c.sites[0].id if c.sites else None, "delivery": c.delivery,
        "sessions": [{"id": s.id, "starts_at": iso_local(s.starts_at), "ends_at": iso_local(s.ends_at),
                      "hours": float(s.hours)} for s in c.sessions],
        "teaching_plan": c.teaching_plan,
        "teachers": [{"name": t.name, "certificate_number": t.certificate_number} for t in c.teachers],
        "approved_at": iso_local(c.approved_at), "review_reason": review_reason,
    }


def site(s) -> dict:
    return {"id": s.id, "lat": s.lat, "lng": s.lng, "radius_m": s.radius_m}


def payee(account) -> dict | None:
    return account.masked if account is not None else None


def settlement_summary(s) -> dict:
    return {
        "id": s.id, "status": s.status, "payee_kind": s.payee_kind, "class_id": s.class_id,
        "institution_code": s.institution.code if s.institution is not None else None,
        "region_code": s.region_code, "submitted_at": iso_local(s.submitted_at), "paid_at": iso_local(s.paid_at),
        "lines": len(s.lines), "approved_total_fen": s.approved_total_fen, "paid_total_fen": s.paid_total_fen,
    }


def settlement(s, account=None) -> dict:
    """`account`: the payee account a payment would go to now (masked)."""
    return {
        **settlement_summary(s),
        "payee": payee(account), "person": person(s.person) if s.person is not None else None,
        "reviewed_at": iso_local(s.reviewed_at),
        "lines": [{"code": line.voucher.code, "voucher_code": line.voucher.code, "eligible": line.eligible,
                   "attendance_rate": float(line.attendance_rate), "exam_passed": line.exam_passed,
                   "amount_fen": line.amount_fen, "reference_fen": line.reference_fen,
                   "approved_amount_fen": line.approved_amount_fen, "paid_amount_fen": line.paid_amount_fen,
                   "paid_at": iso_local(line.paid_at),
                   "payment_reference": line.payment_batch.reference if line.payment_batch else None,
                   "failure_reason": line.failure_reason, "payee": payee(line.payee_account),
                   "reason": line.reason, "decision": line.decision,
                   "decision_reason": line.decision_reason} for line in s.lines],
    }
