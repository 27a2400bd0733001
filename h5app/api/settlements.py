"""结算: an institution applies; the issuing bureau reviews (approving an amount where the face
value is only a reference) and pays in batches with the bank's reference; lists with totals."""
from datetime import date

from flask import request

from ..access import region_holds_code
from ..extensions import db
from ..ids import ascii_digits
from ..models import region_prefix
from ..models.integration import SCOPE_BUREAU, SCOPE_INSTITUTION
from ..vouchers import payees
from ..vouchers import settlement as settlement_service
from ..vouchers.settlement_lists import PAYEE_FILTERS, STATUS_FILTERS, Filters, list_settlements
from . import schemas, serializers
from .blueprint import bp
from .errors import ApiError
from .registry import endpoint
from .scope import own_class, visible_settlement

PER_PAGE = 100


def _answer(settlement) -> dict:
    return serializers.settlement(settlement, payees.settlement_account(db.session, settlement))


@endpoint(bp, "POST", "/settlements", scopes=(SCOPE_INSTITUTION,), summary="培训券结算申请",
          body=schemas.SettlementIn, response=schemas.SettlementOut, status=201, tag="settlements")
def apply(caller, body):
    training_class = own_class(caller, body.class_id)
    return _answer(settlement_service.apply(db.session, training_class, caller.actor, codes=body.codes))


def _filters(caller) -> tuple[Filters, int]:
    args, fields = request.args, {}
    status, payee_kind = args.get("status") or None, args.get("payee_kind") or None
    if status is not None and status not in STATUS_FILTERS:
        fields["status"] = "状态应为 " + "、".join(STATUS_FILTERS)
    if payee_kind is not None and payee_kind not in PAYEE_FILTERS:
        fields["payee_kind"] = "收款方类型应为 institution 或 worker"
    dates = {}
    for name in ("from", "to"):
        try:
            dates[name] = date.fromisoformat(args[name]) if args.get(name) else None
        except ValueError:
            fields[name] = "日期格式应为 YYYY-MM-DD"
    page = args.get("page", "1")
    if not ascii_digits(page) or not 1 <= int(page) <= 100000:
        fields["page"] = "页码应为正整数"
    region = args.get("region_code") or None
    if caller.scope == SCOPE_BUREAU:
        if region is not None and not (ascii_digits(region) and len(region) == 6
                                       and region_holds_code(caller.code, region)):
            fields["region_code"] = "只能查询本地区（含下辖地区）的结算"
        prefix, institution_id = region or caller.code, None
    else:  # an institution's settlements, of whichever bureau pays them: region_code narrows to one
        if region is not None and not (ascii_digits(region) and len(region) == 6):
            fields["region_code"] = "地区编码应为6位数字"
        prefix, institution_id = region, caller.institution_id
    if fields:
        raise ApiError(422, "VALIDATION_FAILED", "查询条件有误", fields=fields)
    return Filters(status=status, payee_kind=payee_kind, region_prefix=region_prefix(prefix) if prefix else None,
                   institution_id=institution_id, date_from=dates["from"], date_to=dates["to"]), int(page)


LIST_QUERY = (
    {"name": "status", "description": "结算申请状态", "schema": {"type": "string", "enum": list(STATUS_FILTERS)}},
    {"name": "payee_kind", "description": "收款方：机构或劳动者本人",
     "schema": {"type": "string", "enum": list(PAYEE_FILTERS)}},
    {"name": "region_code", "description": "发券地区（6位编码；人社部门：本地区或下辖地区）",
     "schema": {"type": "string", "pattern": "^[0-9]{6}$"}},
    {"name": "from", "description": "提交日期起（含）", "schema": {"type": "string", "format": "date"}},
    {"name": "to", "description": "提交日期止（含）", "schema": {"type": "string", "format": "date"}},
    {"name": "page", "description": f"页码，每页{PER_PAGE}条；超过末页时列表为空",
     "schema": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 1}},
)


@endpoint(bp, "GET", "/settlements", scopes=(SCOPE_INSTITUTION, SCOPE_BUREAU), summary="结算申请列表（含合计）",
          response=schemas.SettlementListOut, tag="settlements", query=LIST_QUERY)
def index(caller):
    filters, page = _filters(caller)
    found = list_settlements(db.session, filters, page=page, per_page=PER_PAGE, clamp=False)
    return {"settlements": [serializers.settlement_summary(s) for s in found.rows], "count": found.count,
            "approved_total_fen": found.approved_total_fen, "paid_total_fen": found.paid_total_fen,
            "page": found.page, "pages": found.pages}


@endpoint(bp, "GET", "/settlements/{id}", scopes=(SCOPE_INSTITUTION, SCOPE_BUREAU), summary="结算申请状态与明细",
          response=schemas.SettlementOut, tag="settlements", int_params=("id",))
def show(caller, id):
    return _answer(visible_settlement(caller, id))


@endpoint(bp, "POST", "/settlements/{id}/review", scopes=(SCOPE_BUREAU,), summary="结算审核",
          body=schemas.ReviewIn, response=schemas.SettlementOut, tag="settlements", int_params=("id",))
def review(caller, body, id):
    settlement = visible_settlement(caller, id)
    approve = [item if isinstance(item, str) else item.code for item in body.approve]
    amounts = {item.code: item.amount_fen for item in body.approve if not isinstance(item, str)}
    settlement = settlement_service.review(db.session, settlement, caller.actor, approve=approve, amounts=amounts,
                                           reject=[(r.code, r.reason) for r in body.reject])
    return _answer(settlement)


@endpoint(bp, "POST", "/settlements/{id}/payment", scopes=(SCOPE_BUREAU,), summary="拨付（核销）：记录银行回单号，失败行退回待拨付",
          body=schemas.PaymentIn, response=schemas.SettlementOut, tag="settlements", int_params=("id",))
def pay(caller, body, id):
    settlement = visible_settlement(caller, id)
    settlement_service.pay(db.session, settlement, caller.actor, reference=body.reference, paid_on=body.paid_on,
                           failed=[(f.code, f.reason) for f in body.failed])
    return _answer(settlement)
