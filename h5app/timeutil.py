"""Time in one place: the database stores naive UTC; people live in China Standard Time."""
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    """Naive UTC, the form every DateTime column holds."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_local(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC).astimezone(LOCAL_TZ)


def local_today(now: datetime | None = None) -> date:
    return to_local(now or utcnow()).date()


def end_of_local_day(day: date) -> datetime:
    """The last instant of a local calendar day, as naive UTC (a deadline "2021-11-30" means
    the whole of that day in Beijing time)."""
    local = datetime.combine(day + timedelta(days=1), time.min, tzinfo=LOCAL_TZ)
    return local.astimezone(UTC).replace(tzinfo=None) - timedelta(microseconds=1)


def local_at(day: date, at: time) -> datetime:
    """A local wall-clock time on a local day, as naive UTC."""
    return datetime.combine(day, at, tzinfo=LOCAL_TZ).astimezone(UTC).replace(tzinfo=None)


def start_of_local_day(day: date) -> datetime:
    return local_at(day, time.min)


def local_year_bounds(year: int) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar year as naive UTC."""
    return start_of_local_day(date(year, 1, 1)), start_of_local_day(date(year + 1, 1, 1))


def iso_local(value: datetime | None) -> str | None:
    """ISO 8601 with the +08:00 offset, as the API promises."""
    local = to_local(value)
    return local.isoformat(timespec="seconds") if local else None


def days_left(deadline: datetime | None, now: datetime | None = None) -> int | None:
    if deadline is None:
        return None
    remaining = local_today_from(deadline) - local_today(now)
    return remaining.days


def local_today_from(value: datetime) -> date:
    return to_local(value).date()
