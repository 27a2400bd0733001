"""查询统计 in the bureau console: the annex-3 supervision indicators of the clerk's region and its
districts, by month, against the year's targets; XLSX export; importing the targets."""
from functools import partial

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from ..access import BUREAU, require_supervisor, roles_required
from ..extensions import db
from ..models import Region
from ..spreadsheets import XLSX, download, read_table, xlsx_book
from ..statistics import charts
from ..statistics.indicators import COUNT_LABELS, COUNTS, INDICATORS, build, kpi_targets
from ..statistics.targets import FIELD_LABELS, import_targets, region_targets
from ..template_filters import percent
from ..timeutil import local_today
from ..vouchers import audit
from ..vouchers.errors import DomainError
from .forms import TargetsImportForm
from .routes import bp


def _region() -> Region:
    region = db.session.scalar(select(Region).where(Region.code == current_user.region_code))
    if region is None:
        abort(404)
    return region


def _year() -> int:
    year = request.args.get("year", type=int)
    return year if year and 2000 <= year <= 2100 else local_today().year


_pct = partial(percent, digits=1)  # 71.4%


@bp.route("/statistics")
@roles_required(BUREAU)
def statistics():
    board = build(db.session, _region(), _year(), district=request.args.get("district") or None)
    months = [(m, {name: getattr(t, name) for name in COUNTS}) for m, t in board.months]
    # Issuing counts a general template's whole stock in the month it opens; claims and uses run a
    # hundred times smaller. Each gets a chart on its own scale, or the second would lie flat.
    trends = []
    for names in (("issued",), ("claimed", "used", "settled")):
        series = {name: COUNT_LABELS[name] for name in names}
        title = f"{board.chosen.name}{board.year}年逐月{'、'.join(series.values())}"
        trends.append((series, charts.trend_chart(months, series, title=title)))
    return render_template("bureau/statistics.html", board=board, indicators=INDICATORS, trends=trends,
                           bar=charts.progress_bar, pct=_pct, count_labels=COUNT_LABELS,
                           years=range(local_today().year, local_today().year - 6, -1))


@bp.route("/statistics.xlsx")
@roles_required(BUREAU)
def statistics_export():
    """The page's tables as a workbook: every area, and the chosen district's months (as on the page)."""
    board = build(db.session, _region(), _year(), district=request.args.get("district") or None)
    codes = list(INDICATORS)
    header = ["地区", "发券", "领券", "用券", "核销", "发券目标", "用券目标", *(INDICATORS[c][0] for c in codes), "预警"]
    rows = []
    for area in board.areas:
        t = area.target
        rows.append([area.name, area.tally.issued, area.tally.claimed, area.tally.used, area.tally.settled,
                     t.issue_target if t else None, t.use_target if t else None,
                     *(_rounded(area.rates[c]) for c in codes), "；".join(area.flags)])
    if board.unallocated:
        u = board.unallocated.tally
        rows.append([board.unallocated.name, u.issued, u.claimed, u.used, u.settled, None, None,
                     *([None] * len(codes)), ""])
    thresholds = [["本季度目标", *([None] * 6), *(board.threshold(c) for c in codes), None]]
    monthly = [[f"{board.year}年{m}月", t.issued, t.claimed, t.used, t.settled] for m, t in board.months]
    rates = {index: "0.0%" for index in range(7, 7 + len(codes))}  # shown as the page shows them
    data = xlsx_book([
        ("各地区指标", header, rows + thresholds, rates),
        ("逐月统计", [f"月份（{board.chosen.name}）", "发券", "领券", "用券", "核销"], monthly),
    ])
    return download(data, f"查询统计-{board.region.name}-{board.year}年.xlsx", XLSX)


def _rounded(value):
    return None if value is None else round(value, 4)


@bp.route("/statistics/targets", methods=["GET", "POST"])
@roles_required(BUREAU)
def statistics_targets():
    form, message, errors, fields = TargetsImportForm(), None, [], {}
    year = form.year.data if form.is_submitted() else _year()
    if form.is_submitted():
        require_supervisor()
        if not form.validate():
            message = form.error_text()
        else:
            upload = form.file.data
            try:
                kind, count, unmatched = import_targets(db.session, read_table(upload.filename, upload.read()), year,
                                                        audit.Actor.for_staff(current_user))
                flash(f"已导入{year}年{'地区任务' if kind == 'region' else '调度指标目标'}{count}行", "success")
                if unmatched:
                    shown = "、".join(unmatched[:5]) + ("等" if len(unmatched) > 5 else "")
                    flash(f"其中{len(unmatched)}行的地区（{shown}）与系统中的地区都不匹配，不与统计数据对比；"
                          "如是本地区，请核对名称或填写6位地区代码后重新导入", "warning")
                return redirect(url_for("bureau.statistics_targets", year=year))
            except DomainError as refusal:  # an unreadable file (SheetError), bad rows or a rule
                message, errors = refusal.message, refusal.details.get("rows", [])
        fields = FIELD_LABELS
    year = year or local_today().year
    return render_template("bureau/targets.html", form=form, year=year, message=message, errors=errors,
                           fields=fields, targets=region_targets(db.session, current_user.region_code, year),
                           kpis=kpi_targets(db.session, current_user.region_code, year), indicators=INDICATORS,
                           pct=_pct), 400 if message else 200
