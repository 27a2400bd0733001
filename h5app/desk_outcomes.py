"""How the front desk sees an outcome, wherever the code was scanned (扫码验券, scan check-in, the
扫码台 of a scan gun): one colour and one title per result, the same words on every page."""
from .identity import mask_id_number, mask_name
from .vouchers import presence
from .vouchers.checkout import ALREADY_CHECKED_OUT, CHECKED_OUT, CHECKOUT_UNDONE
from .vouchers.verify import ALREADY_VERIFIED, VERIFIED

CHECKED_IN, ALREADY_CHECKED_IN = "checked_in", "already_checked_in"

# result → (tone, title); a refusal is titled by what was being done.
LOOKS = {
    VERIFIED: ("ok", "验券成功"),
    ALREADY_VERIFIED: ("again", "已在本班验过"),
    CHECKED_IN: ("ok", "签到成功"),
    ALREADY_CHECKED_IN: ("again", "本次课已签到"),
    CHECKED_OUT: ("ok", "签退成功"),
    ALREADY_CHECKED_OUT: ("again", "本次课已签退"),
    CHECKOUT_UNDONE: ("again", "已撤销签退"),
}
REFUSAL_TITLES = {"verify": "不能验券", "checkin": "不能签到", "checkout": "不能签退"}


def done(result: str, message: str, person) -> dict:
    """The verdict a desk page shows for an outcome of the engine: colour, title, words, who."""
    tone, title = LOOKS[result]
    return {"result": result, "tone": tone, "title": title, "message": message, "trainee": masked_trainee(person)}


def check_in_result(record, at) -> str:
    """CHECKED_IN for a check-in recorded by the scan made `at`; for the trainee's earlier one (a
    second scan of the same lesson) ALREADY_CHECKED_IN, or ALREADY_CHECKED_OUT once they have left."""
    if record.created_at == at:
        return CHECKED_IN
    return ALREADY_CHECKED_OUT if record.checked_out_at is not None else ALREADY_CHECKED_IN


def refused(doing: str, code: str, message: str, title: str | None = None) -> dict:
    """The verdict a desk page shows when `doing` (verify, checkin, checkout) was refused."""
    return {"result": "refused", "tone": "no", "title": title or REFUSAL_TITLES[doing], "code": code,
            "message": message}


def masked_trainee(person) -> dict:
    """Who was scanned, as the desk may see it: enough to recognise, not to copy."""
    return {"name": mask_name(person.name), "id_number": mask_id_number(person.id_number)}


def verified_message(voucher) -> str:
    """Which voucher was used, in words the desk can check against the trainee's phone."""
    return f"{voucher.template.name}（券码尾号{voucher.code[-4:]}）"


def checkout_message(done) -> str:
    """A 签退 (vouchers.checkout.CheckOut): the lesson, and the time present as the sheet counts it."""
    span = presence.present_span(done.check_in.created_at, done.check_in.checked_out_at, done.lesson.starts_at,
                                 done.lesson.ends_at)
    return f"{session_label(done.lesson)} · 在场{presence.duration_words(span)}"


def session_label(class_session) -> str:
    """The lesson a check-in was for."""
    return class_session.title or class_session.training_class.course_name
