"""A worker's own 收款账户 set by the channel the worker signed in through (API.md, Money):
PUT /people/{id_number}/payee. The same service as the worker's page (我的 → 收款账户); the number is
answered masked."""
from pydantic import BaseModel, Field
from sqlalchemy import select

from ..extensions import db
from ..identity import id_number_error, mask_id_number, normalize_id_number
from ..models import Person
from ..models.integration import SCOPE_CHANNEL
from ..vouchers import payees
from .blueprint import bp
from .errors import ApiError, not_found
from .registry import endpoint
from .schemas import PayeeOut, PayeeUpdate
from .scope import visible_person


class PersonPayeeOut(BaseModel):
    id_number: str = Field(description="脱敏身份证号")
    payee: PayeeOut


@endpoint(bp, "PUT", "/people/{id_number}/payee", scopes=(SCOPE_CHANNEL,), summary="设置劳动者本人收款账户",
          body=PayeeUpdate, response=PersonPayeeOut, tag="people")
def set_person_payee(caller, body, id_number):
    problem = id_number_error(id_number)
    if problem:
        raise ApiError(422, "VALIDATION_FAILED", problem, fields={"id_number": problem})
    person = db.session.scalar(select(Person).where(Person.id_number == normalize_id_number(id_number)))
    if not visible_person(caller, person):
        raise not_found("未找到该人员")
    account = payees.set_worker_account(db.session, person, body.model_dump(), caller.actor)
    return {"id_number": mask_id_number(person.id_number), "payee": account.masked}
