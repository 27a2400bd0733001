"""Channel SSO tickets (PRODUCT.md §6): base64url(json).base64url(hmac_sha256(secret, json)),
json = {id_number, name, phone, ts, nonce}; accepted within 300 s, each nonce once. A channel may
add region_code, groups, insurance_months and the record's regions, which update the person's
record by the rule of every record (h5app/people/records.py, source "sso")."""
import base64
import binascii
import hashlib
import hmac
import json
import time
from datetime import date

from sqlalchemy.exc import IntegrityError

from ..identity import id_number_error, is_valid_phone, normalize_id_number, normalize_phone
from ..models import PRIORITY_GROUPS, Channel, SsoNonce
from ..models.people import RECORD_REGION_FIELDS
from ..people.fields import clean_groups
from ..people.records import Incoming
from ..timeutil import local_today

TICKET_MAX_AGE = 300
CLOCK_SKEW = 30  # a channel's clock may run a little ahead of ours


class TicketError(Exception):
    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_ticket(secret: str, *, id_number: str, name: str, phone: str, nonce: str, ts: int | None = None,
                **extra) -> str:
    """What a channel does; used by the demo ticket page and the tests. `extra` carries the
    optional fields (region_code, groups, insurance_months)."""
    payload = json.dumps(
        {"id_number": id_number, "name": name, "phone": phone, "ts": int(time.time() if ts is None else ts),
         "nonce": nonce, **extra},
        ensure_ascii=False, separators=(",", ":"),
    ).encode()
    signature = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    return f"{_b64encode(payload)}.{_b64encode(signature)}"


def parse_ticket(channel: Channel, ticket: str, now: float | None = None) -> dict:
    """Check a ticket's signature, age and fields. Does not consume the nonce."""
    now = time.time() if now is None else now
    parts = (ticket or "").split(".")
    if len(parts) != 2 or not all(parts):
        raise TicketError("登录凭证格式不正确，请返回渠道重新进入")
    try:
        payload, signature = _b64decode(parts[0]), _b64decode(parts[1])
    except (binascii.Error, ValueError):
        raise TicketError("登录凭证格式不正确，请返回渠道重新进入") from None
    expected = hmac.new(channel.secret.encode(), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise TicketError("登录凭证校验失败，请返回渠道重新进入")
    try:
        data = json.loads(payload.decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise TicketError("登录凭证内容无法识别") from None
    if not isinstance(data, dict):
        raise TicketError("登录凭证内容无法识别")
    ts = data.get("ts")
    if not isinstance(ts, int) or isinstance(ts, bool):
        raise TicketError("登录凭证缺少时间")
    if now - ts > TICKET_MAX_AGE or ts - now > CLOCK_SKEW:
        raise TicketError("登录凭证已过期（有效期5分钟），请返回渠道重新进入")
    nonce = data.get("nonce")
    if not isinstance(nonce, str) or not 8 <= len(nonce) <= 64:
        raise TicketError("登录凭证缺少随机串")
    id_number = normalize_id_number(str(data.get("id_number") or ""))
    problem = id_number_error(id_number)
    if problem:
        raise TicketError(f"渠道提供的身份证号无效：{problem}")
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 30:
        raise TicketError("渠道未提供有效的姓名")
    phone = normalize_phone(str(data.get("phone") or ""))
    if phone and not is_valid_phone(phone):
        phone = ""
    return {"id_number": id_number, "name": name, "phone": phone or None, "ts": ts, "nonce": nonce,
            **_optional_fields(data)}


def _is_region_code(value) -> bool:
    return isinstance(value, str) and len(value) == 6 and value.isascii() and value.isdigit()


def _optional_fields(data: dict) -> dict:
    """What a channel may add about the insured person: region (GB/T 2260 code: where the person
    is, and where the insurance months below were paid), the record's regions by name
    (hukou_region_code … as in POST /people), priority groups, months of local unemployment
    insurance, and the day it was all true (as_of, YYYY-MM-DD; the ticket's day if left out).
    A malformed value is left out, never trusted."""
    fields = {}
    region = data.get("region_code")
    if _is_region_code(region):
        fields["region_code"] = region
    for name in RECORD_REGION_FIELDS:
        if _is_region_code(data.get(name)):
            fields[name] = data[name]
    as_of = data.get("as_of")
    if isinstance(as_of, str):
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            day = None
        if day is not None and date(1990, 1, 1) <= day <= local_today():
            fields["as_of"] = day
    groups = data.get("groups")
    if isinstance(groups, list) and all(g in PRIORITY_GROUPS for g in groups):
        fields["groups"] = list(dict.fromkeys(groups))
    months = data.get("insurance_months")
    if isinstance(months, int) and not isinstance(months, bool) and 0 <= months <= 600:
        fields["insurance_months"] = months
    return fields


def ticket_record(data: dict) -> Incoming | None:
    """The ticket's optional fields as a record to merge (h5app/people/records.py), or None. The
    plain `region_code` of a ticket is where the person lives (常住地) and, when the ticket also
    gives insurance months, where those were paid (参保地): what "local insurance" means to a
    channel of that region. Explicit record regions take precedence."""
    fields = {name: data[name] for name in RECORD_REGION_FIELDS if data.get(name)}
    region = data.get("region_code")
    if region:
        fields.setdefault("residence_region_code", region)
    if data.get("insurance_months") is not None:
        fields["insurance_months"] = data["insurance_months"]
        if region:
            fields.setdefault("insurance_region_code", region)
    if data.get("groups") is not None:
        fields["groups"], _problem = clean_groups(data["groups"])
    if not fields:
        return None
    return Incoming(id_number=data["id_number"], name=data["name"], as_of=data.get("as_of") or local_today(),
                    fields=fields)


def consume_nonce(session, channel: Channel, nonce: str) -> None:
    """Record the nonce; a second use of it (a replayed ticket) is refused by the unique index."""
    try:
        with session.begin_nested():
            session.add(SsoNonce(channel_id=channel.id, nonce=nonce))
    except IntegrityError:
        raise TicketError("该登录凭证已使用过，请返回渠道重新进入") from None


# A channel sign-in a few minutes old still vouches for who holds the phone (e.g. to confirm the use
# of a voucher for an online class, vouchers/online.py); kept in the signed session cookie.
FRESH_SIGN_IN_KEY = "channel_sign_in"
FRESH_FOR = 600  # seconds


def mark_fresh(flask_session, channel_code: str, now_ts: float | None = None) -> None:
    flask_session[FRESH_SIGN_IN_KEY] = {"channel": channel_code, "at": int(time.time() if now_ts is None else now_ts)}


def fresh_channel(flask_session, now_ts: float | None = None) -> str | None:
    """The channel the worker signed in through within FRESH_FOR seconds, else None."""
    mark = flask_session.get(FRESH_SIGN_IN_KEY)
    if not isinstance(mark, dict) or not isinstance(mark.get("at"), int):
        return None
    now_ts = time.time() if now_ts is None else now_ts
    return mark.get("channel") if 0 <= now_ts - mark["at"] <= FRESH_FOR else None


def spend_fresh(flask_session) -> None:
    """A fresh sign-in confirms one use: the next needs another sign-in or an SMS code."""
    flask_session.pop(FRESH_SIGN_IN_KEY, None)
