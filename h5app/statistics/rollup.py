"""The roll-up: each finished local day's voucher events (issued, claimed, used, settled), counted
once and added to its month's row per template and person region (`voucher_monthly_stats`). The
dashboard then adds up a few thousand rows and today's events instead of scanning a million vouchers.

A day is rolled up only once it is over. An event's time never changes afterwards but for one: a
use given back (取消班期, 退班: used → claimed clears `used_at`), which `take_back_use` takes off
its month's row, so rolled days stay right. The first dashboard view of a day rolls up what is
missing; `flask stats rollup` does the same from cron, and `--rebuild` counts everything again."""
from collections import defaultdict
from datetime import date, datetime

from sqlalchemy import and_, delete, func, literal_column, null, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from ..models import Person, StatsRollup, Voucher, VoucherMonthlyStat, VoucherTemplate, in_region
from ..timeutil import local_today, local_today_from, start_of_local_day, utcnow

EVENTS = {
    "issued": Voucher.created_at,
    "claimed": Voucher.claimed_at,
    "used": Voucher.used_at,
    "settled": Voucher.settled_at,
}
EPOCH = date(2000, 1, 1)


def local_day(column, dialect: str):
    """The Beijing calendar day of a naive-UTC column, in SQL (China keeps no summer time)."""
    if dialect == "postgresql":
        return func.date(column + literal_column("interval '8 hours'"))
    return func.date(column, "+8 hours")


def as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def count_events(session, start: datetime | None, end: datetime | None, where=None, *,
                 holders: bool = True, holders_in: str | None = None) -> dict[tuple, dict[str, int]]:
    """{(day, template_id, region_code): {event: count}} for events in [start, end) of the vouchers
    `where` picks (a condition on Voucher.template_id, and on Person.region_code if need be).
    With holders=False the holder's region is not looked up (region_code None): the counts then
    come from the index on the event's time alone. With `holders_in` a region code, only holders
    in that region are looked up; a holder elsewhere counts with region_code '' (as one unknown).

    Each event's time is indexed behind the template, (template_id, time): the dashboard counts
    today for its own region's templates only, a few short ranges of the index however busy the
    rest of the country is; the nightly roll-up names every template (a subquery on the templates)."""
    dialect = session.get_bind().dialect.name
    counts: dict[tuple, dict[str, int]] = defaultdict(lambda: dict.fromkeys(EVENTS, 0))
    if where is None:
        where = Voucher.template_id.in_(select(VoucherTemplate.id))
    for event, column in EVENTS.items():
        day = local_day(column, dialect)
        if holders:
            query = select(day, Voucher.template_id, func.coalesce(Person.region_code, ""), func.count())
            if holders_in is None:
                query = query.join(Person, Person.id == Voucher.person_id)
            else:  # whichever way the join is run, it reads no person outside the region
                query = query.outerjoin(Person, and_(Person.id == Voucher.person_id,
                                                     in_region(Person.region_code, holders_in)))
            query = query.group_by(day, Voucher.template_id, Person.region_code)
        else:
            query = select(day, Voucher.template_id, null(), func.count()).group_by(day, Voucher.template_id)
        query = query.where(where)
        query = query.where(column >= start) if start is not None else query.where(column.is_not(None))
        if end is not None:
            query = query.where(column < end)
        for row_day, template_id, region_code, count in session.execute(query):
            counts[(as_date(row_day), template_id, region_code)][event] += count
    return counts


def _lock_state(session) -> StatsRollup:
    """The single roll-up row, locked so two servers never roll up the same day twice."""
    state = session.scalar(select(StatsRollup).where(StatsRollup.id == 1).with_for_update())
    if state is not None:
        return state
    try:
        with session.begin_nested():
            session.add(StatsRollup(id=1, through_day=EPOCH))
    except IntegrityError:
        pass  # another server made it first; its lock is taken below
    return session.scalar(select(StatsRollup).where(StatsRollup.id == 1).with_for_update())


def _add_to_months(session, counts: dict[tuple, dict[str, int]]) -> int:
    """Add day counts to their month rows: INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n."""
    months: dict[tuple, dict[str, int]] = defaultdict(lambda: dict.fromkeys(EVENTS, 0))
    for (day, template_id, region_code), values in counts.items():
        month = months[(day.replace(day=1), template_id, region_code)]
        for event, count in values.items():
            month[event] += count
    if not months:
        return 0
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(VoucherMonthlyStat)
    statement = statement.on_conflict_do_update(
        index_elements=["month", "template_id", "region_code"],
        set_={event: getattr(VoucherMonthlyStat, event) + getattr(statement.excluded, event) for event in EVENTS},
    )
    session.execute(statement, [dict(month=month, template_id=template_id, region_code=region_code, **values)
                                for (month, template_id, region_code), values in months.items()])
    return len(months)


def roll_up(session, *, now: datetime | None = None, rebuild: bool = False) -> int:
    """Count every finished day not yet counted; commits. Returns the number of month rows touched."""
    now = now or utcnow()
    today = local_today(now)
    state = _lock_state(session)
    if rebuild:
        session.execute(delete(VoucherMonthlyStat))
        state.through_day = EPOCH
    if state.through_day >= today:
        session.commit()
        return 0
    start = None if state.through_day == EPOCH else start_of_local_day(state.through_day)
    touched = _add_to_months(session, count_events(session, start, start_of_local_day(today)))
    state.through_day, state.rolled_at = today, now
    session.commit()
    return touched


def take_back_use(session, *, template_id: int, person_id: int, used_at: datetime) -> None:
    """A use given back, in the transaction that clears its `used_at`: when its day is rolled up
    already, its month's row (the holder's region, as the roll-up read it) counts it no more. The
    roll-up's row is read FOR SHARE (PostgreSQL; SQLite serialises writers): a roll-up counting
    meanwhile holds it FOR UPDATE, so the use is either still in its count and taken off here after
    it commits, or already gone when it counts."""
    through = session.scalar(select(StatsRollup.through_day).where(StatsRollup.id == 1).with_for_update(read=True))
    used_on = local_today_from(used_at)
    if through is None or used_on >= through:
        return  # counted live from the vouchers, which no longer show it
    holder_region = select(func.coalesce(Person.region_code, "")).where(Person.id == person_id).scalar_subquery()
    session.execute(update(VoucherMonthlyStat).where(
        VoucherMonthlyStat.month == used_on.replace(day=1), VoucherMonthlyStat.template_id == template_id,
        VoucherMonthlyStat.region_code == holder_region, VoucherMonthlyStat.used > 0,
    ).values(used=VoucherMonthlyStat.used - 1))


def rolled_through(session) -> date:
    return session.scalar(select(StatsRollup.through_day).where(StatsRollup.id == 1)) or EPOCH
