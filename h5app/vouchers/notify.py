"""消息: notices to a worker. The worker must be told of a directed voucher (seed 000 §四(二))."""
from sqlalchemy import select

from ..models import Notification


def notify(session, person_id: int, kind: str, title: str, body: str, *, voucher_id=None, link=None):
    if voucher_id is not None and session.scalar(
        select(Notification.id).where(Notification.kind == kind, Notification.voucher_id == voucher_id)
    ):
        return None  # one notice of a kind per voucher
    notice = Notification(person_id=person_id, kind=kind, title=title, body=body, voucher_id=voucher_id, link=link)
    session.add(notice)
    return notice
