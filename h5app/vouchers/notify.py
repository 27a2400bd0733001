"""消息: notices to a worker. The worker must be told of a directed voucher (seed 000 §四(二))."""
from sqlalchemy import literal, select

from ..models import Notification
from ..timeutil import utcnow
from .transactions import in_chunks


def notify(session, person_id: int, kind: str, title: str, body: str, *, voucher_id=None, link=None):
    if voucher_id is not None and session.scalar(
        select(Notification.id).where(Notification.kind == kind, Notification.voucher_id == voucher_id)
    ):
        return None  # one notice of a kind per voucher
    notice = Notification(person_id=person_id, kind=kind, title=title, body=body, voucher_id=voucher_id, link=link)
    session.add(notice)
    return notice


def notify_selected(session, selected, *, kind: str, title: str, body: str, link=None, created_at=None) -> None:
    """One notice of the same words to each (person_id, voucher_id) `selected` names, in one
    INSERT … SELECT. For vouchers just made (a population issuance): they have no notice yet."""
    table = Notification.__table__
    constants = {"kind": kind, "title": title, "body": body, "link": link, "created_at": created_at or utcnow()}
    literals = [literal(value, table.c[name].type) for name, value in constants.items()]
    person_id, voucher_id = selected.selected_columns
    session.connection().execute(table.insert().from_select(
        ["person_id", "voucher_id", *constants], selected.with_only_columns(person_id, voucher_id, *literals)))


def notify_many(session, notices: list[dict]) -> None:
    """`notify` for many vouchers at once (a payment of 5,000 lines): which of them already had a
    notice of its kind is asked in one query per kind, not one per voucher."""
    by_kind = {}
    for notice in notices:
        by_kind.setdefault(notice["kind"], []).append(notice)
    for kind, wanted in by_kind.items():
        ids = [n["voucher_id"] for n in wanted if n.get("voucher_id") is not None]
        told = set()
        for chunk in in_chunks(ids):
            told |= set(session.scalars(select(Notification.voucher_id).where(
                Notification.kind == kind, Notification.voucher_id.in_(chunk))))
        rows = [{"link": None, "voucher_id": None, **n} for n in wanted
                if n.get("voucher_id") is None or n["voucher_id"] not in told]
        if rows:  # one executemany: these are never read back in this transaction
            session.connection().execute(Notification.__table__.insert(), rows)
