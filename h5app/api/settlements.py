"""结算: an institution applies; the issuing bureau reviews and marks paid."""
from ..extensions import db
from ..models.integration import SCOPE_BUREAU, SCOPE_INSTITUTION
from ..vouchers import settlement as settlement_service
from . import present, schemas
from .blueprint import bp
from .registry import endpoint
from .scope import own_class, visible_settlement


@endpoint(bp, "POST", "/settlements", scopes=(SCOPE_INSTITUTION,), summary="培训券结算申请",
          body=schemas.SettlementIn, response=schemas.SettlementOut, status=201, tag="settlements")
def apply(caller, body):
    training_class = own_class(caller, body.class_id)
    return present.settlement(settlement_service.apply(db.session, training_class, caller.actor, codes=body.codes))


@endpoint(bp, "GET", "/settlements/{id}", scopes=(SCOPE_INSTITUTION, SCOPE_BUREAU), summary="结算申请状态与明细",
          response=schemas.SettlementOut, tag="settlements", int_params=("id",))
def show(caller, id):
    return present.settlement(visible_settlement(caller, id))


@endpoint(bp, "POST", "/settlements/{id}/review", scopes=(SCOPE_BUREAU,), summary="结算审核",
          body=schemas.ReviewIn, response=schemas.SettlementOut, tag="settlements", int_params=("id",))
def review(caller, body, id):
    settlement = visible_settlement(caller, id)
    settlement = settlement_service.review(db.session, settlement, caller.actor, approve=body.approve,
                                           reject=[(r.code, r.reason) for r in body.reject])
    return present.settlement(settlement)


@endpoint(bp, "POST", "/settlements/{id}/payment", scopes=(SCOPE_BUREAU,), summary="标记已拨付（核销）",
          response=schemas.SettlementOut, tag="settlements", int_params=("id",))
def pay(caller, id):
    settlement = settlement_service.pay(db.session, visible_settlement(caller, id), caller.actor)
    return present.settlement(settlement)
