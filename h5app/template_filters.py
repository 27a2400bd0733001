"""How values look on a page: masked identities, money in yuan, local times, labels."""
from .identity import mask_id_number, mask_name, mask_phone
from .models import PRIORITY_GROUPS
from .models.attendance import CORRECTION_PENDING, CORRECTION_STATUSES
from .models.institutions import INSTITUTION_TYPES
from .models.vouchers import (
    CLAIMED, DISTRIBUTION_MODES, EXPIRED, FUNCTION_MODES, OFFERED, PROJECT_TYPES, REVOKED, SETTLED, USED,
    VOUCHER_STATUSES,
)
from .timeutil import days_left, to_local, utcnow


def yuan(fen: int | None) -> str:
    if fen is None:
        return "—"
    return f"¥{fen / 100:,.2f}"


def local_dt(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    local = to_local(value)
    return local.strftime(fmt) if local else "—"


def local_date(value) -> str:
    if value is None:
        return "—"
    if hasattr(value, "hour"):
        return to_local(value).strftime("%Y-%m-%d")
    return value.strftime("%Y-%m-%d")


def percent(value, digits: int = 1) -> str:
    """0.004 → 0.4%, 0.5 → 50%: to `digits` decimals, trailing zeros dropped, as the reasons beside
    it word a rate ("打卡率0.4%，低于80%") — a 0.4% shown as 0% would contradict them."""
    if value is None:
        return "—"
    return f"{float(value) * 100:.{digits}f}".rstrip("0").rstrip(".") + "%"


def hours(value) -> str:
    """课时 as typed: 0.5 stays 0.5 (never rounded to 0), 2.0 shows as 2."""
    return "—" if value is None else f"{float(value):g}"


FILTERS = {
    "hours": hours,
    "mask_id": mask_id_number,
    "mask_phone": mask_phone,
    "mask_name": mask_name,
    "yuan": yuan,
    "local_dt": local_dt,
    "local_date": local_date,
    "percent": percent,
    "days_left": lambda deadline: days_left(deadline, utcnow()),
}

GLOBALS = {
    "PRIORITY_GROUPS": PRIORITY_GROUPS,
    "PROJECT_TYPES": PROJECT_TYPES,
    "VOUCHER_STATUSES": VOUCHER_STATUSES,
    "FUNCTION_MODES": FUNCTION_MODES,
    "DISTRIBUTION_MODES": DISTRIBUTION_MODES,
    "INSTITUTION_TYPES": INSTITUTION_TYPES,
    "CORRECTION_STATUSES": CORRECTION_STATUSES,
    # A template names a state by its constant, never by its string (tests/test_templates_no_status_literals.py):
    # the voucher states, which pages compare as of now (Voucher.effective_status), and a pending correction.
    "OFFERED": OFFERED, "CLAIMED": CLAIMED, "USED": USED, "SETTLED": SETTLED, "EXPIRED": EXPIRED, "REVOKED": REVOKED,
    "CORRECTION_PENDING": CORRECTION_PENDING,
}
