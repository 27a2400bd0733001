"""The supervision indicators of seed 001 annex 3 for one bureau's region, each district of it and
each month of a year, measured against the imported targets.

Voucher counts come from the daily roll-up plus today's events (rollup.py); a voucher counts in
the district of its holder (the template's own region when the holder's is outside it or unknown).
Coverage and rating completion come from the institutions and classes, which are few."""
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from datetime import date, datetime

from sqlalchemy import and_, case, exists, func, literal_column, or_, select

from ..models import (
    CheckIn, ClassSession, Institution, KpiTarget, Person, Region, RegionTarget, TrainingClass, Voucher,
    VoucherMonthlyStat, VoucherTemplate, in_region, region_covers, region_prefix, under_prefix,
)
from ..models.classes import CLASS_COMPLETED
from ..models.vouchers import FACE_VALUE, GENERAL, OFFERED, TEMPLATE_ACTIVE
from ..timeutil import local_today, start_of_local_day, utcnow
from .rollup import count_events, roll_up, rolled_through

INDICATORS = {
    "claim_rate": ("领券率", "已领取的职业培训券总数 ÷ 已发放的职业培训券总数"),
    "use_rate": ("用券率", "已使用的职业培训券总数 ÷ 已发放的职业培训券总数"),
    "face_value_share": ("面值券发放率", "已发放的面值券总数 ÷ 发券总数"),
    "general_share": ("通用券发放率", "已发放的通用券总数 ÷ 发券总数"),
    "institution_coverage": ("培训机构和培训平台覆盖率", "支持职业培训券的培训机构 ÷ 全部培训机构"),
    "project_coverage": ("培训项目覆盖率", "使用职业培训券的培训项目（班期） ÷ 全部培训项目（班期）"),
    "checkin_coverage": ("打卡签到覆盖率", "启用打卡签到的培训机构 ÷ 全部培训机构"),
    "rating_completion": ("培训评价完成率", "完成培训后评价课程的人数 ÷ 完成培训的人数"),
}
COUNTS = ("issued", "claimed", "used", "settled")
COUNT_LABELS = {"issued": "发券", "claimed": "领券", "used": "用券", "settled": "核销"}


@dataclass
class Tally:
    issued: int = 0
    claimed: int = 0
    used: int = 0
    settled: int = 0
    face_value_issued: int = 0
    general_issued: int = 0

    def add(self, other: "Tally") -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass
class Area:
    """The whole region, or one district of it."""

    code: str
    name: str
    tally: Tally = field(default_factory=Tally)
    institutions: int = 0
    institutions_using: int = 0
    institutions_checking_in: int = 0
    classes: int = 0
    classes_using: int = 0
    trainees_completed: int = 0
    ratings: int = 0
    target: RegionTarget | None = None
    flags: list[str] = field(default_factory=list)

    @property
    def rates(self) -> dict[str, float | None]:
        t = self.tally
        return {
            "claim_rate": ratio(t.claimed, t.issued),
            "use_rate": ratio(t.used, t.issued),
            "face_value_share": ratio(t.face_value_issued, t.issued),
            "general_share": ratio(t.general_issued, t.issued),
            "institution_coverage": ratio(self.institutions_using, self.institutions),
            "project_coverage": ratio(self.classes_using, self.classes),
            "checkin_coverage": ratio(self.institutions_checking_in, self.institutions),
            "rating_completion": ratio(self.ratings, self.trainees_completed),
        }


@dataclass
class Dashboard:
    year: int
    as_of: date
    region: Region
    areas: list[Area]  # the whole region first, then its districts
    months: list[tuple[int, Tally]]  # of the chosen area, up to `as_of`
    chosen: Area
    kpis: dict[str, KpiTarget]
    quarter_field: str | None  # 'q3_target' / 'q4_target': the threshold in force, if any
    elapsed: float  # the share of the year gone by: where a count should be against its target
    # What counts in the region but in none of its districts (an open template's unclaimed stock,
    # vouchers of the region's own level held elsewhere): its own row, so the districts' rows and
    # it add up to the whole. None when there is nothing, or no district.
    unallocated: Area | None = None

    def threshold(self, code: str) -> float | None:
        kpi = self.kpis.get(code)
        value = getattr(kpi, self.quarter_field) if kpi is not None and self.quarter_field else None
        return float(value) if value is not None else None

    def expected(self, target: int | None) -> int | None:
        return None if target is None else round(target * self.elapsed)


def _as_of(year: int, now: datetime) -> date:
    today = local_today(now)
    return today if today.year == year else date(year, 12, 31) if year < today.year else date(year, 1, 1)


def _elapsed(year: int, as_of: date, today: date) -> float:
    if year < today.year:
        return 1.0
    if year > today.year:
        return 0.0
    return as_of.timetuple().tm_yday / date(year, 12, 31).timetuple().tm_yday


def _quarter_field(as_of: date) -> str | None:
    # Annex 3 dispatches these indicators in the second half: Q3 thresholds from July, Q4 from October.
    return "q4_target" if as_of.month >= 10 else "q3_target" if as_of.month >= 7 else None


class Areas:
    """Which area a region code counts in."""

    def __init__(self, region: Region, districts: list[Region]):
        self.region, self.districts = region, districts
        self._cache: dict[str, str] = {}

    def of(self, code: str | None) -> str:
        code = code or ""
        if code not in self._cache:
            self._cache[code] = next((d.code for d in self.districts if region_covers(d.code, code)), self.region.code)
        return self._cache[code]

    def counting(self, code: str | None) -> list[str]:
        """The whole region, and the district too when `code` lies in one."""
        return list(dict.fromkeys((self.region.code, self.of(code))))

    def holds_whole(self, code: str) -> bool:
        """Every voucher of a template of region `code` counts in one area, `code`'s, whoever holds
        it: `code` lies in this region and no district lies strictly within it (a holder inside
        `code` is in `code`'s district, a holder elsewhere counts where the voucher came from)."""
        return region_covers(self.region.code, code) and not any(
            region_covers(code, d.code) and not region_covers(d.code, code) for d in self.districts)


def counted_here(region_code: str, templates, template_id, holder_region):
    """SQL: the vouchers that count in the region — those of its own templates, and those of the
    bureaus above it held by people here — given the columns of the template and of the holder's
    region. The template ids lead the indexes the counts read, (template_id, time)."""
    own = [t.id for t in templates if region_covers(region_code, t.region_code)]
    above = [t.id for t in templates if not region_covers(region_code, t.region_code)]
    if not above:
        return template_id.in_(own)
    held_here = in_region(holder_region, region_code)
    return and_(template_id.in_(own + above), or_(template_id.in_(own), held_here) if own else held_here)


def _voucher_tallies(session, templates, areas: Areas, year: int, through: date) -> dict[tuple[str, int], Tally]:
    """{(area code, month): Tally} for the year: the months rolled up through `through`, and the
    days since counted live. Only the region's own vouchers are read, never the country's."""
    tallies: dict[tuple[str, int], Tally] = defaultdict(Tally)
    by_id = {t.id: t for t in templates}
    if not by_id:
        return tallies
    code = areas.region.code

    @cache
    def area_of(template_id, region_code) -> str | None:
        template = by_id[template_id]
        if region_covers(template.region_code, region_code) and region_covers(areas.region.code, region_code):
            return areas.of(region_code)  # the holder's district
        if region_covers(areas.region.code, template.region_code):
            return areas.of(template.region_code)  # a holder from elsewhere counts where the voucher came from
        return None  # a higher bureau's voucher held outside this region

    modes = {t.id: (t.function_mode == FACE_VALUE, t.distribution_mode == GENERAL) for t in templates}

    def add(template_id, region_code, month, values):
        area = area_of(template_id, region_code)
        if area is None:
            return
        tally = tallies[(area, month)]
        tally.issued += values["issued"]
        tally.claimed += values["claimed"]
        tally.used += values["used"]
        tally.settled += values["settled"]
        face_value, general = modes[template_id]
        if face_value:
            tally.face_value_issued += values["issued"]
        if general:
            tally.general_issued += values["issued"]

    rolled = session.execute(
        select(VoucherMonthlyStat.template_id, VoucherMonthlyStat.region_code, VoucherMonthlyStat.month,
               *(getattr(VoucherMonthlyStat, e) for e in COUNTS))
        .where(counted_here(code, templates, VoucherMonthlyStat.template_id, VoucherMonthlyStat.region_code),
               VoucherMonthlyStat.month >= date(year, 1, 1), VoucherMonthlyStat.month <= date(year, 12, 1))
    )
    for template_id, region_code, month, *values in rolled:
        add(template_id, region_code, month.month, dict(zip(COUNTS, values)))
    # Today (and anything after the last roll-up), of this region's vouchers only: a few short
    # ranges of the (template_id, time) indexes. A district's template counts in its district
    # whoever holds it, so its events are counted from the index alone; only the templates of this
    # region's own level and of the bureaus above it look up their holders, and only holders here
    # (one from elsewhere counts where the voucher came from, or not at all).
    if through.year <= year:
        start = start_of_local_day(through)
        whole = [t for t in templates if areas.holds_whole(t.region_code)]
        by_holder = [t for t in templates if not areas.holds_whole(t.region_code)]
        live = []
        if whole:
            live.append(count_events(session, start, None, Voucher.template_id.in_([t.id for t in whole]),
                                     holders=False))
        if by_holder:
            live.append(count_events(session, start, None,
                                     counted_here(code, by_holder, Voucher.template_id, Person.region_code),
                                     holders_in=code))
        for counts in live:
            for (day, template_id, region_code), values in counts.items():
                if day.year == year:
                    add(template_id, by_id[template_id].region_code if region_code is None else region_code,
                        day.month, values)
    # An open general template puts its whole stock out at once: the part nobody holds yet is issued
    # too. Offered vouchers are rows already counted above and do not take stock until claimed.
    stocked = [t for t in templates if t.distribution_mode == GENERAL and t.audience == "open"
               and t.stock is not None and t.status == TEMPLATE_ACTIVE and t.claim_starts_on.year == year]
    # The status written out, not bound: the partial (template_id, status) index holds offered
    # vouchers only, and a planner proves a query fits it from a literal, never from a parameter.
    offered = dict(session.execute(
        select(Voucher.template_id, func.count())
        .where(Voucher.template_id.in_([t.id for t in stocked]), Voucher.status == literal_column(f"'{OFFERED}'"))
        .group_by(Voucher.template_id)
    ).all()) if stocked else {}
    for template in stocked:
        unheld = max(template.stock - template.claimed_count - offered.get(template.id, 0), 0)
        add(template.id, template.region_code, template.claim_starts_on.month,
            {"issued": unheld, "claimed": 0, "used": 0, "settled": 0})
    return tallies


def _flag_of(condition):
    return case((condition, 1), else_=0)


def _institution_coverage(session, prefix: str, areas: Areas, by_code: dict[str, Area]) -> None:
    using = exists().where(Voucher.institution_id == Institution.id)
    checking_in = exists().where(
        CheckIn.session_id == ClassSession.id, ClassSession.class_id == TrainingClass.id,
        TrainingClass.institution_id == Institution.id)
    rows = session.execute(
        select(Institution.region_code, func.count(), func.sum(_flag_of(using)), func.sum(_flag_of(checking_in)))
        .where(under_prefix(Institution.region_code, prefix)).group_by(Institution.region_code))
    for region_code, count, n_using, n_checking_in in rows:
        for area in (by_code[c] for c in areas.counting(region_code)):
            area.institutions += count
            area.institutions_using += n_using or 0
            area.institutions_checking_in += n_checking_in or 0


def _class_coverage(session, prefix: str, areas: Areas, by_code: dict[str, Area], year: int) -> None:
    using = exists().where(Voucher.class_id == TrainingClass.id)
    completed = TrainingClass.status == CLASS_COMPLETED
    trainees = case((completed, TrainingClass.trainees_completed), else_=0)
    ratings = case((~completed, 0), (TrainingClass.ratings_count > TrainingClass.trainees_completed,
                                     TrainingClass.trainees_completed), else_=TrainingClass.ratings_count)
    rows = session.execute(
        select(Institution.region_code, func.count(), func.sum(_flag_of(using)), func.sum(trainees), func.sum(ratings))
        .join(Institution, Institution.id == TrainingClass.institution_id)
        .where(under_prefix(Institution.region_code, prefix),
               TrainingClass.starts_on >= date(year, 1, 1), TrainingClass.starts_on <= date(year, 12, 31))
        .group_by(Institution.region_code)
    )
    for region_code, count, n_using, n_trainees, n_ratings in rows:
        for area in (by_code[c] for c in areas.counting(region_code)):
            area.classes += count
            area.classes_using += n_using or 0
            area.trainees_completed += n_trainees or 0
            area.ratings += n_ratings or 0


def covering_codes(region_code: str) -> set[str]:
    """The region and the bureaus above it: the codes whose regions cover it."""
    return {region_code, region_code[:4] + "00", region_code[:2] + "0000"}


def kpi_targets(session, region_code: str, year: int) -> dict[str, KpiTarget]:
    """Each indicator's thresholds from the most local bureau that set them for the year."""
    chosen: dict[str, KpiTarget] = {}
    for kpi in session.scalars(select(KpiTarget).where(KpiTarget.year == year,
                                                       KpiTarget.scope_code.in_(covering_codes(region_code)))):
        if region_covers(kpi.scope_code, region_code):
            held = chosen.get(kpi.code)
            if held is None or len(region_prefix(kpi.scope_code)) > len(region_prefix(held.scope_code)):
                chosen[kpi.code] = kpi
    return chosen


def _flag(board: Dashboard, area: Area) -> None:
    target = area.target
    for count, goal, label in (("issued", "issue_target", "发券"), ("used", "use_target", "用券")):
        expected = board.expected(getattr(target, goal, None) if target else None)
        if expected and getattr(area.tally, count) < expected:
            area.flags.append(f"{label}进度落后（应达{expected}，实际{getattr(area.tally, count)}）")
    for code, value in area.rates.items():
        threshold = board.threshold(code)
        if threshold is not None and value is not None and value < threshold:
            area.flags.append(f"{INDICATORS[code][0]}{value:.1%}，低于目标{threshold:.0%}")


def build(session, region: Region, year: int, *, district: str | None = None, now: datetime | None = None) -> Dashboard:
    now = now or utcnow()
    # Roll up the finished days on the first view of a day; later views only read how far it went
    # (no lock, no commit: a crowd of views does not queue on the roll-up's row).
    through = rolled_through(session)
    if through < local_today(now):
        roll_up(session, now=now)
        through = rolled_through(session)
    prefix = region_prefix(region.code)
    districts = list(session.scalars(select(Region).where(Region.parent_code == region.code).order_by(Region.code)))
    areas = Areas(region, districts)
    by_code = {r.code: Area(r.code, r.name) for r in [region, *districts]}
    # This region's own templates, and those of the bureaus above it, whose holders here count here.
    above = covering_codes(region.code) - {region.code}
    templates = session.scalars(select(VoucherTemplate).where(or_(
        under_prefix(VoucherTemplate.region_code, prefix), VoucherTemplate.region_code.in_(above)))).all()
    tallies = _voucher_tallies(session, templates, areas, year, through)
    whole = by_code[region.code]
    per_area_total: dict[str, Tally] = defaultdict(Tally)
    for (code, _month), tally in tallies.items():
        per_area_total[code].add(tally)
    for code, tally in per_area_total.items():
        if code != region.code:
            by_code[code].tally.add(tally)
        whole.tally.add(tally)
    _institution_coverage(session, prefix, areas, by_code)
    _class_coverage(session, prefix, areas, by_code, year)
    for target in session.scalars(select(RegionTarget).where(RegionTarget.year == year,
                                                             RegionTarget.region_code.in_(by_code))
                                  .order_by(RegionTarget.imported_at)):
        by_code[target.region_code].target = target  # the latest import wins
    as_of = _as_of(year, now)
    chosen = by_code.get(district) if district else whole
    chosen = chosen or whole
    months = []
    for month in range(1, as_of.month + 1):
        tally = Tally()
        for (code, m), value in tallies.items():
            if m == month and (chosen is whole or code == chosen.code):
                tally.add(value)
        months.append((month, tally))
    board = Dashboard(year=year, as_of=as_of, region=region, areas=[whole, *(by_code[d.code] for d in districts)], months=months, chosen=chosen,
                      kpis=kpi_targets(session, region.code, year), quarter_field=_quarter_field(as_of),
                      elapsed=_elapsed(year, as_of, local_today(now)))
    for area in board.areas:
        _flag(board, area)
    own_level = per_area_total.get(region.code)
    if districts and own_level is not None and any(
            (own_level.issued, own_level.claimed, own_level.used, own_level.settled)):
        board.unallocated = Area(region.code, f"{region.name}本级（未分到区县）", tally=own_level)
    return board
