"""Vouchers in any state, for the engine tests of the state machine, 作废, 失效 and institution
strikes."""
from datetime import date, time, timedelta

from sqlalchemy import func, select

from h5app.models import Voucher
from h5app.models.vouchers import CLAIMED, OFFERED
from h5app.timeutil import local_at

from . import factories as f

NOW = local_at(date(2022, 5, 10), time(10))
WINDOW = dict(claim_starts_on=date(2022, 5, 1), claim_ends_on=date(2022, 6, 30))


def count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def make_voucher(status=CLAIMED, template=None, owner=None, **values):
    template = template or f.template(**WINDOW)
    defaults = dict(claimed_at=NOW - timedelta(days=1) if status != OFFERED else None,
                    expires_at=NOW + timedelta(days=30))
    return f.voucher(template, owner or f.person(), status, **{**defaults, **values})


def stored(session, voucher_id):
    session.expire_all()
    return session.get(Voucher, voucher_id)
