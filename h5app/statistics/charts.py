"""Charts drawn on the server as inline SVG: no chart framework, nothing for a phone to download or
run, and they print. Every chart has a text alternative in its <title>; the numbers are in tables."""
from markupsafe import Markup, escape

from ..template_filters import percent

BAR_COLOURS = {"issued": "#1d4ed8", "claimed": "#0891b2", "used": "#16a34a", "settled": "#9333ea"}


def progress_bar(value: float | None, target: float | None, *, label: str) -> Markup:
    """A bar of `value` (0–1+) with a tick at `target`; red when behind it."""
    width, height = 200, 14
    filled = 0 if value is None else min(value, 1.0) * width
    behind = value is not None and target is not None and value < target
    colour = "#dc2626" if behind else "#16a34a"
    tick = ""
    if target is not None:
        x = min(target, 1.0) * width
        tick = f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}" stroke="#111827" stroke-width="2"/>'
    title = f"{label}：{percent(value, 1)}" + (f"，目标{percent(target, 1)}" if target is not None else "")
    return Markup(
        f'<svg class="bar" viewBox="0 0 {width} {height}" width="100%" height="{height}" role="img" '
        f'preserveAspectRatio="none"><title>{escape(title)}</title>'
        f'<rect width="{width}" height="{height}" rx="3" fill="#e5e7eb"/>'
        f'<rect width="{filled:.1f}" height="{height}" rx="3" fill="{colour}"/>{tick}</svg>'
    )


def trend_chart(months: list[tuple[int, dict[str, int]]], series: dict[str, str], *, title: str) -> Markup:
    """Lines of monthly counts, one per series, with the month on the x axis."""
    width, height, left, bottom, top = 360, 200, 44, 24, 12
    plot_w, plot_h = width - left - 20, height - bottom - top
    peak = max([1, *(values[name] for _m, values in months for name in series)])
    scale = _nice_ceiling(peak)
    step = plot_w / 11
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img">'
             f'<title>{escape(title)}</title>']
    intervals = _intervals(scale)
    for i in range(intervals + 1):  # grid lines with their values: whole numbers, as the counts are
        y = top + plot_h - plot_h * i / intervals
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e5e7eb"/>'
                     f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="12" fill="#57606a">'
                     f'{_short(scale * i / intervals)}</text>')
    for month in range(1, 13, 1):
        x = left + step * (month - 1)
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" font-size="12" fill="#57606a">'
                     f'{month}月</text>' if month % 2 or month == 12 else "")
    for name, label in series.items():
        points = " ".join(f"{left + step * (m - 1):.1f},{top + plot_h - plot_h * values[name] / scale:.1f}"
                          for m, values in months)
        colour = BAR_COLOURS.get(name, "#374151")
        if len(months) == 1:
            x, y = points.split(",")
            parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}"><title>{escape(label)}</title></circle>')
        elif months:
            parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2">'
                         f'<title>{escape(label)}</title></polyline>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _intervals(scale: float) -> int:
    """How many steps up the axis: 4 where they are whole numbers, else 5, 2 or 1 (a scale of 10
    is 0, 2, 4 … rather than 2.5 and 7.5 of a count)."""
    return next((n for n in (4, 5, 2) if scale % n == 0), 1)


def _nice_ceiling(value: float) -> float:
    magnitude = 10 ** (len(str(int(value))) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _short(value: float) -> str:
    if value >= 10000:
        return f"{value / 10000:g}万"
    return f"{value:g}"
