"""The voucher state machine: the only moves that exist, each a guarded UPDATE plus an audit row.

A guarded UPDATE (… WHERE id = :id AND status = :from) with a row-count check is what makes the
engine safe under concurrency: of two requests racing for the same move, exactly one matches.
"""
from functools import cache

from sqlalchemy import bindparam, update
from sqlalchemy.orm.attributes import set_committed_value

from ..models import Voucher
from ..models.vouchers import CLAIMED, EXPIRED, OFFERED, REVOKED, SETTLED, USED, VOUCHER_STATUSES
from . import audit
from .errors import InvalidTransition
from .transactions import in_chunks

ALLOWED_MOVES = {
    OFFERED: frozenset({CLAIMED, EXPIRED, REVOKED}),
    CLAIMED: frozenset({USED, EXPIRED, REVOKED}),
    # used → claimed: the class was cancelled, or the trainee withdrew before attending (issue 19);
    # the voucher goes back to its holder, its deadline extended by the days it was held.
    USED: frozenset({SETTLED, CLAIMED}),
    SETTLED: frozenset(),
    EXPIRED: frozenset(),
    REVOKED: frozenset(),
}

ACTIONS = {
    CLAIMED: "voucher.claim",
    USED: "voucher.verify",
    SETTLED: "voucher.settle",
    EXPIRED: "voucher.expire",
    REVOKED: "voucher.revoke",
}
# A move whose action is not named by its new state alone.
MOVE_ACTIONS = {(USED, CLAIMED): "voucher.return"}


def action_for(from_status: str, to_status: str) -> str:
    """The audit action of a move: voucher.claim, voucher.verify … and voucher.return (used → claimed)."""
    return MOVE_ACTIONS.get((from_status, to_status)) or ACTIONS[to_status]


class StaleState(Exception):
    """The guarded UPDATE matched no row: someone else moved the voucher first."""


def can_move(from_status: str, to_status: str) -> bool:
    return to_status in ALLOWED_MOVES.get(from_status, ())


def check_move(from_status: str, to_status: str) -> None:
    """InvalidTransition unless the state machine has this move."""
    if not can_move(from_status, to_status):
        raise InvalidTransition(
            f"培训券状态为“{VOUCHER_STATUSES[from_status]}”，不能变更为该状态",
            from_status=from_status, to_status=to_status,
        )


@cache
def guarded_update(columns: tuple[str, ...]):
    """One UPDATE statement per set of columns, built once (SQLAlchemy caches its compiled form)."""
    return (
        update(Voucher.__table__)
        .where(Voucher.id == bindparam("_id"), Voucher.status == bindparam("_from"))
        .values({"status": bindparam("_to"), **{c: bindparam(c) for c in columns}})
    )


def guarded_update_params(voucher, to_status: str, values: dict) -> dict:
    return {"_id": voucher.id, "_from": voucher.status, "_to": to_status, **values}


def mirror(voucher: Voucher, to_status: str, values: dict) -> None:
    """Show a move just written on the loaded voucher without another SELECT, and without the ORM
    writing it a second time."""
    for name, value in {"status": to_status, **values}.items():
        set_committed_value(voucher, name, value)


def move(session, voucher: Voucher, to_status: str, actor: audit.Actor, *, reason=None,
         details=None, at=None, **values) -> None:
    """Move the loaded `voucher` from its current state to `to_status`, or raise.

    Raises InvalidTransition for a move the state machine does not have, StaleState when another
    transaction changed the row since it was read.
    """
    from_status, institution_id = voucher.status, voucher.institution_id
    check_move(from_status, to_status)
    result = session.connection().execute(guarded_update(tuple(sorted(values))),
                                          guarded_update_params(voucher, to_status, values))
    if result.rowcount != 1:
        session.expire(voucher)
        raise StaleState
    mirror(voucher, to_status, values)
    audit.record(
        session, actor, action_for(from_status, to_status), voucher=voucher, from_status=from_status,
        to_status=to_status, reason=reason, details=details, at=at,
        # A return clears where the voucher was used; its audit row still names that institution.
        institution_id=voucher.institution_id or institution_id,
    )


def move_many(session, vouchers: list, to_status: str, actor: audit.Actor, *, at, reason=None, details=None,
              **values) -> None:
    """`move` for many vouchers in the same state at once (a payment settles thousands): one
    guarded UPDATE per thousand and one executemany of audit rows. StaleState unless every one of
    them was still in its state; the caller rolls back. `details(voucher)` gives each audit row's."""
    if not vouchers:
        return
    from_status = vouchers[0].status
    if any(v.status != from_status for v in vouchers):
        raise ValueError("move_many moves vouchers of one state")
    check_move(from_status, to_status)
    table = Voucher.__table__
    for chunk in in_chunks(vouchers):
        ids = [v.id for v in chunk]
        result = session.connection().execute(
            update(table).where(table.c.id.in_(ids), table.c.status == from_status)
            .values(status=to_status, **values))
        if result.rowcount != len(ids):
            raise StaleState
    for voucher in vouchers:
        mirror(voucher, to_status, values)
    audit.record_many(session, [audit.values(
        actor, action_for(from_status, to_status), voucher=v, from_status=from_status, to_status=to_status, at=at,
        reason=reason, details=details(v) if details else None, institution_id=v.institution_id) for v in vouchers])
