"""The reason given for an action that concerns someone else (作废, 取消班期, 退班, 退回开班申请, 记录问题,
恢复验券资格): kept in the audit log and shown to those it concerns, so it must say something — at
least MIN_LENGTH characters once trimmed ("a" tells a worker nothing) and at most MAX_LENGTH (it is
pushed into their 消息). One rule for the pages and the API."""
from .errors import ValidationFailed

MIN_LENGTH, MAX_LENGTH = 2, 500


def problem(reason: str, label: str) -> str | None:
    """What is wrong with the trimmed `reason` for `label` ("作废原因"), or None."""
    if not reason:
        return f"请填写{label}"
    if len(reason) < MIN_LENGTH:
        return f"{label}请写清楚，至少{MIN_LENGTH}个字"
    if len(reason) > MAX_LENGTH:
        return f"{label}请在{MAX_LENGTH}字以内"
    return None


def clean(reason: str | None, label: str, *, field: str = "reason") -> str:
    """The trimmed reason, or ValidationFailed naming `field`."""
    reason = (reason or "").strip()
    wrong = problem(reason, label)
    if wrong:
        raise ValidationFailed(wrong, fields={field: wrong})
    return reason
