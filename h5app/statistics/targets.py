"""Yearly targets imported from the seeds' annex tables: regions' tasks (people to train, vouchers
to issue and to use) and the annex-3 indicator thresholds. All or nothing, every bad row named;
importing a year again replaces that year's rows of the same scope."""
import re
from decimal import Decimal, InvalidOperation

from sqlalchemy import delete, or_, select

from ..ids import ascii_digits
from ..models import KpiTarget, Region, RegionTarget, in_region
from ..spreadsheets import SheetError, numbers, records
from ..timeutil import utcnow
from ..vouchers import audit
from ..vouchers.errors import OutOfScope, ValidationFailed
from ..vouchers.transactions import service
from .indicators import INDICATORS

def _with_unit(name: str, unit: str) -> tuple[str, ...]:
    """A header as a table may write it: bare, or with its unit in either kind of brackets."""
    return name, f"{name}({unit})", f"{name} ({unit})", f"{name}（{unit}）", f"{name} （{unit}）"


REGION_COLUMNS = {
    "province": ("省份", "province"), "region": ("地区", "region"), "region_code": ("地区代码", "region_code"),
    # The annexes' own headers too (seed 000: 培训人次 (人次)、全年发券 (张)、全年用券 (张)).
    "training_people": ("培训人数", "training_people", *_with_unit("培训人次", "人次")),
    "issue_target": ("发券目标", "issue_target", *_with_unit("全年发券", "张")),
    "use_target": ("用券目标", "use_target", *_with_unit("全年用券", "张")), "source": ("来源", "source"),
}
KPI_COLUMNS = {
    "indicator": ("指标", "indicator"), "code": ("指标代码", "code"), "definition": ("定义", "definition"),
    "q3_target": ("三季度目标", "q3_target"), "q4_target": ("四季度目标", "q4_target"), "source": ("来源", "source"),
}
# A bad row's column, named as the header writes it in Chinese.
FIELD_LABELS = {name: headers[0] for columns in (REGION_COLUMNS, KPI_COLUMNS) for name, headers in columns.items()}
WHOLE_CITY = re.compile(r"[（(]全市[)）]$")


def kind_of(header: list[str]) -> str:
    cells = {cell.strip().lower() for cell in header}
    if cells & {"code", "指标代码"} and cells & {"q4_target", "四季度目标"}:
        return "kpi"
    if cells & {"region", "地区"}:
        return "region"
    raise SheetError("无法识别的目标表：地区任务表需有“地区”列，指标目标表需有“指标代码”和“四季度目标”列")


def _count(text: str) -> int | None:
    text = (text or "").replace(",", "").replace("，", "").strip()
    if not text:
        return None
    if not ascii_digits(text):
        raise ValueError("应为不小于0的整数")
    return int(text)


def _share(text: str) -> Decimal | None:
    text = (text or "").strip()
    if not text:
        return None
    percent = text.endswith("%")
    try:
        value = Decimal(text.rstrip("%").strip())
    except InvalidOperation:
        raise ValueError("应为0到1之间的小数或百分数，例如 0.6 或 60%") from None
    value = value / 100 if percent else value
    if not Decimal(0) <= value <= Decimal(1):
        raise ValueError("应在0到1（0%到100%）之间")
    return value


class RegionMatcher:
    """Finds our region for a name as the annexes write it: '长沙' is 长沙市, '无锡市(全市)' is 无锡市."""

    def __init__(self, session):
        self.regions = list(session.scalars(select(Region)))

    def find(self, province: str, name: str, code: str) -> Region | None:
        if code:
            return next((r for r in self.regions if r.code == code), None)
        name = WHOLE_CITY.sub("", name.strip())
        province_region = next((r for r in self.regions if r.name == province.strip()), None)
        pool = [r for r in self.regions if province_region is None or province_region.covers(r.code)]
        for candidate in (name, name + "市", name + "区", name + "县"):
            found = [r for r in pool if r.name == candidate]
            if len(found) == 1:
                return found[0]
        return None


def _region_rows(session, rows: list[dict], actor: audit.Actor) -> tuple[list[dict], list[dict]]:
    matcher, clean, errors, seen = RegionMatcher(session), [], [], {}
    for index, row in zip(numbers(rows), rows, strict=True):
        def bad(field, message):
            errors.append({"index": index, "field": field, "message": message})

        province, name = (row.get("province") or "").strip(), (row.get("region") or "").strip()
        code = (row.get("region_code") or "").strip()
        if not name:
            bad("region", "请填写地区名称")
        elif (province, name) in seen:
            bad("region", f"与第{seen[(province, name)]}行重复")
        else:
            seen[(province, name)] = index
        if code and not re.fullmatch(r"\d{6}", code):
            bad("region_code", "地区代码应为6位数字")
        values = {}
        for field in ("training_people", "issue_target", "use_target"):
            try:
                values[field] = _count(row.get(field, ""))
            except ValueError as problem:
                bad(field, str(problem))
        region = matcher.find(province, name, code) if name else None
        if region is None and re.fullmatch(r"\d{6}", code):
            bad("region_code", "系统中没有该地区代码")
        if region is not None and not actor.in_region(region.code):
            bad("region", f"{region.name}不在本部门管辖范围内")
        clean.append(dict(province=province, region_name=name[:64], region_code=region.code if region else None,
                          source=(row.get("source") or "").strip()[:120] or None, **values))
    return clean, errors


def _kpi_rows(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    clean, errors, seen = [], [], {}
    for index, row in zip(numbers(rows), rows, strict=True):
        def bad(field, message):
            errors.append({"index": index, "field": field, "message": message})

        code = (row.get("code") or "").strip()
        if code not in INDICATORS:
            bad("code", "未知的指标代码，应为：" + "、".join(INDICATORS))
        elif code in seen:
            bad("code", f"与第{seen[code]}行重复")
        else:
            seen[code] = index
        values = {}
        for field in ("q3_target", "q4_target"):
            try:
                values[field] = _share(row.get(field, ""))
            except ValueError as problem:
                bad(field, str(problem))
        name = (row.get("indicator") or "").strip() or INDICATORS.get(code, ("",))[0]
        clean.append(dict(code=code, name=name[:64], definition=(row.get("definition") or "").strip()[:200] or None,
                          source=(row.get("source") or "").strip()[:120] or None, **values))
    return clean, errors


@service
def import_targets(session, table: list[list[str]], year: int, actor: audit.Actor) -> tuple[str, int, list[str]]:
    """Import one annex table for `year`; returns (kind, rows imported, the region names that match
    none of ours). Commits. A name that matches no region is kept as written (an annex lists other
    provinces' cities too) but is compared with nothing: the clerk is told, a typo shows at once."""
    if actor.region_code is None:
        raise OutOfScope("只有人社部门可以导入目标")
    if not 2000 <= year <= 2100:
        raise ValidationFailed("请填写正确的年度", fields={"year": "请填写正确的年度"})
    kind = kind_of(table[0] if table else [])
    if kind == "region":
        clean, errors = _region_rows(session, records(table, REGION_COLUMNS, {"region"}), actor)
    else:
        clean, errors = _kpi_rows(records(table, KPI_COLUMNS, {"code", "q4_target"}))
    if not clean:
        raise ValidationFailed("文件中没有数据行", rows=[])
    if errors:
        raise ValidationFailed(f"有{len({e['index'] for e in errors})}行有误，未导入任何数据，请修改后重新上传", rows=errors)
    now, model = utcnow(), RegionTarget if kind == "region" else KpiTarget
    session.execute(delete(model).where(model.year == year, model.scope_code == actor.region_code))
    session.add_all(model(year=year, scope_code=actor.region_code, imported_at=now, **row) for row in clean)
    audit.record(session, actor, "targets.import", region_code=actor.region_code, at=now,
                 details={"kind": kind, "year": year, "rows": len(clean)})
    session.commit()
    return kind, len(clean), [row["region_name"] for row in clean if kind == "region" and row["region_code"] is None]


def region_targets(session, region_code: str, year: int) -> list[RegionTarget]:
    """The year's region targets this bureau may see: its own imports and those for its regions."""
    return list(session.scalars(
        select(RegionTarget)
        .where(RegionTarget.year == year,
               or_(RegionTarget.scope_code == region_code, in_region(RegionTarget.region_code, region_code)))
        .order_by(RegionTarget.province, RegionTarget.id)))
