"""收款账户: the bank account a subsidy is paid to (seed 003 §三(九): "将补贴资金拨付到劳动者或培训机构填报的
账户"). An institution's first account entered by the bureau (onboarding, the API) is in force at
once; a change of the account in force entered by a bureau clerk waits for another staff member's
confirmation (four eyes: one clerk alone must not be able to send an institution's subsidy to
another account), and one the institution enters itself waits for the bureau's. A worker enters
their own bank card, in their own real name."""
import re

from sqlalchemy import select
from stdnum import luhn

from ..identity import normalize_name
from ..ids import ascii_digits
from ..models import PayeeAccount, Settlement
from ..models.settlement import ACCOUNT_ACTIVE, ACCOUNT_DECLINED, ACCOUNT_PENDING, ACCOUNT_REPLACED
from ..timeutil import utcnow
from . import audit
from .errors import DutySegregation, OutOfScope, SettlementError, ValidationFailed
from .notify import notify
from .transactions import service

SEPARATORS = re.compile(r"[\s\-]")
# Card schemes whose numbers end in a Luhn check digit: UnionPay (62), Visa (4), Mastercard (5).
CARD = re.compile(r"(62|4|5)\d{14,17}")


def clean_account(values: dict, *, bank_card: bool = False) -> dict:
    """户名, 开户行, 账号 checked and normalised; raises ValidationFailed naming each bad field.
    `bank_card`: a worker's personal card (16–19 digits)."""
    name = (values.get("account_name") or "").strip()
    bank = (values.get("bank_name") or "").strip()
    number = SEPARATORS.sub("", str(values.get("account_number") or ""))
    fields = {}
    if not name or len(name) > 100:
        fields["account_name"] = "请填写户名（收款账户的开户名称）"
    if len(bank) < 2 or len(bank) > 100:
        fields["bank_name"] = "请填写开户行，如 中国工商银行绍兴越城支行"
    if not number:
        fields["account_number"] = "请填写银行账号"
    elif not ascii_digits(number):
        fields["account_number"] = "银行账号只能包含数字"
    elif bank_card and not 16 <= len(number) <= 19:
        fields["account_number"] = "银行卡号应为16到19位数字"
    elif not 8 <= len(number) <= 32:
        fields["account_number"] = "银行账号应为8到32位数字"
    elif CARD.fullmatch(number) and not luhn.is_valid(number):
        fields["account_number"] = "银行卡号校验位不正确，请核对后重新输入"
    if fields:
        raise ValidationFailed("收款账户信息有误：" + "；".join(fields.values()), fields=fields)
    return {"account_name": name, "bank_name": bank, "account_number": number}


def active_account(session, *, institution_id=None, person_id=None) -> PayeeAccount | None:
    owner = (PayeeAccount.institution_id == institution_id if institution_id is not None
             else PayeeAccount.person_id == person_id)
    return session.scalar(select(PayeeAccount).where(owner, PayeeAccount.status == ACCOUNT_ACTIVE)
                          .order_by(PayeeAccount.id.desc()).limit(1))


def pending_account(session, institution_id: int) -> PayeeAccount | None:
    return session.scalar(select(PayeeAccount).where(PayeeAccount.institution_id == institution_id,
                                                     PayeeAccount.status == ACCOUNT_PENDING)
                          .order_by(PayeeAccount.id.desc()).limit(1))


def settlement_account(session, settlement: Settlement) -> PayeeAccount | None:
    """The account a payment of `settlement` goes to now."""
    if settlement.person_id is not None:
        return active_account(session, person_id=settlement.person_id)
    return active_account(session, institution_id=settlement.institution_id)


def _activate(session, account: PayeeAccount, actor: audit.Actor, now) -> None:
    owner = (PayeeAccount.institution_id == account.institution_id if account.institution_id is not None
             else PayeeAccount.person_id == account.person_id)
    for old in session.scalars(select(PayeeAccount).where(
            owner, PayeeAccount.status.in_((ACCOUNT_ACTIVE, ACCOUNT_PENDING)), PayeeAccount.id != account.id)):
        old.status = ACCOUNT_REPLACED
    account.status, account.confirmed_by, account.confirmed_at = ACCOUNT_ACTIVE, actor.label, now


def _add(session, values, actor, now, **owner) -> PayeeAccount:
    account = PayeeAccount(**owner, **values, status=ACCOUNT_PENDING, entered_by=actor.label, created_at=now,
                           entered_by_id=actor.id if actor.type == "staff" else None)
    session.add(account)
    return account


def set_institution_account(session, institution, values: dict, actor: audit.Actor, *, now=None) -> PayeeAccount:
    """Record an institution's account without committing (onboarding adds it with the institution).
    The bureau's own entry is in force at once, but a clerk's change of an account in force waits
    for another staff member; the institution's entry waits for the bureau."""
    now = now or utcnow()
    by_bureau = actor.region_code is not None or actor.type == "system"
    if by_bureau and not actor.in_region(institution.region_code):
        raise OutOfScope("只能设置本地区培训机构的收款账户")
    if not by_bureau and not actor.for_institution(institution.id):
        raise OutOfScope("只能修改本机构的收款账户")
    values = clean_account(values)
    if institution.id is None:
        session.flush()
    current = active_account(session, institution_id=institution.id) if institution.id is not None else None
    if current is not None and by_bureau and all(
            getattr(current, name) == values[name] for name in ("account_name", "bank_name", "account_number")):
        # The account in force entered again (a retried PUT, a clerk keeping it): it stays, and a
        # change still waiting is withdrawn — what was entered last is what stands.
        waiting = pending_account(session, institution.id)
        if waiting is not None:
            waiting.status = ACCOUNT_REPLACED
            audit.record(session, actor, "payee.set", institution_id=institution.id, region_code=institution.region_code,
                         details={"account_id": current.id, "account_number": current.masked_number,
                                  "withdrawn_account_id": waiting.id})
        return current
    # A change of an account in force, by a clerk or a bureau's API key alike, waits for a staff
    # member other than its author: no one holder can send an institution's subsidy elsewhere.
    second_look = by_bureau and actor.type != "system" and current is not None
    in_force = by_bureau and not second_look
    account = _add(session, values, actor, now, institution_id=institution.id)
    if in_force:
        _activate(session, account, actor, now)
    else:
        session.flush()  # the new one is pending too: it needs its id to be left out
        for older in session.scalars(select(PayeeAccount).where(
                PayeeAccount.institution_id == institution.id, PayeeAccount.status == ACCOUNT_PENDING,
                PayeeAccount.id != account.id)):
            older.status = ACCOUNT_REPLACED
    session.flush()
    audit.record(session, actor, "payee.set" if in_force else "payee.request", institution_id=institution.id,
                 region_code=institution.region_code,
                 details={"account_id": account.id, "bank_name": account.bank_name,
                          "account_number": account.masked_number})
    return account


@service
def change_institution_account(session, institution, values: dict, actor: audit.Actor, *, now=None) -> PayeeAccount:
    account = set_institution_account(session, institution, values, actor, now=now)
    session.commit()
    return account


@service
def decide_institution_account(session, account: PayeeAccount, actor: audit.Actor, *, approve: bool,
                               reason: str = "", now=None) -> PayeeAccount:
    """The bureau confirms (or declines, with a reason) an account change waiting for it: one the
    institution entered, or a clerk's — confirmed by anyone of the bureau but that clerk."""
    now = now or utcnow()
    institution = account.institution
    if institution is None or not actor.in_region(institution.region_code):
        raise OutOfScope("只能确认本地区培训机构的收款账户")
    if account.status != ACCOUNT_PENDING:
        raise SettlementError("该收款账户变更已处理")
    reason = (reason or "").strip()
    if not approve and not reason:
        raise ValidationFailed("请填写不予确认的原因", fields={"reason": "请填写原因"})
    if approve and actor.type == "staff" and account.entered_by_id is not None and account.entered_by_id == actor.id:
        raise DutySegregation("收款账户变更须由录入人以外的另一名工作人员核对确认")
    if approve:
        _activate(session, account, actor, now)
    else:
        account.status, account.confirmed_by, account.confirmed_at = ACCOUNT_DECLINED, actor.label, now
    audit.record(session, actor, "payee.confirm" if approve else "payee.decline", institution_id=institution.id,
                 region_code=institution.region_code, reason=reason or None,
                 details={"account_id": account.id, "account_number": account.masked_number})
    session.commit()
    return account


@service
def set_worker_account(session, person, values: dict, actor: audit.Actor, *, now=None) -> PayeeAccount:
    """A worker's own bank card: the account name must be the worker's real name. Set by the worker
    (我的 → 收款账户) or by the channel the worker signed in through."""
    now = now or utcnow()
    values = clean_account(values, bank_card=True)
    if not person.is_real_name:
        raise ValidationFailed("请先完成实名认证，再填写收款账户", fields={"account_name": "尚未实名认证"})
    if normalize_name(values["account_name"]) != person.name:
        raise ValidationFailed("户名须为本人实名，补贴只能发放到本人名下的银行卡",
                               fields={"account_name": "户名须为本人实名"})
    values["account_name"] = person.name
    account = _add(session, values, actor, now, person_id=person.id)
    _activate(session, account, actor, now)
    session.flush()
    audit.record(session, actor, "payee.set", person_id=person.id, region_code=person.region_code,
                 details={"account_id": account.id, "bank_name": account.bank_name,
                          "account_number": account.masked_number})
    notify(session, person.id, "payee", "收款账户已更新",
           f"您的补贴收款账户已设为 {account.bank_name} {account.masked_number}。如非本人操作，请联系当地人社部门。")
    session.commit()
    return account
