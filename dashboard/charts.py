"""Charts as inline SVG, drawn on the server: nothing is fetched from another host.

Each function returns markup that is safe to insert (every text is escaped) and
describes itself to screen readers (``role="img"``, a title and a summary).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="12"'
INK, MUTED, GRID = "#1f2937", "#4b5563", "#e5e7eb"
BLUE, GREEN, RED, PALE = "#2563eb", "#15803d", "#b91c1c", "#bfdbfe"


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]
    color: str


def format_svg(template: str, *args: object) -> str:
    """``template.format(*args)`` with every text argument escaped; numbers keep their
    format specs (``{:.1f}``), which ``format_html`` would refuse."""
    return template.format(
        *(arg if isinstance(arg, int | float) else conditional_escape(arg) for arg in args)
    )


def _axis(value: float, ticks: int = 4) -> tuple[int, int]:
    """A whole-number axis step (1, 2 or 5 x 10^n) and maximum with ``ticks`` steps."""
    raw = max(value / ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if raw <= m * magnitude)
    return int(step), int(step * ticks)


def _svg(width: int, height: int, title: str, summary: str, body: list[str]) -> SafeString:
    head = format_svg(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="100%" '
        'role="img" aria-label="{}" class="chart" {}><title>{}</title><desc>{}</desc>',
        width,
        height,
        title,
        mark_safe(FONT),  # noqa: S308 - a constant
        title,
        summary,
    )
    return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308 - parts escaped above


def line_chart(
    labels: Sequence[str], series: Sequence[Series], *, title: str, width: int = 960
) -> SafeString:
    """Lines over evenly spaced labels (days), with a y grid and a legend."""
    height, left, right, top, bottom = 260, 48, 16, 30, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    step, peak = _axis(max((max(s.values, default=0) for s in series), default=0))
    count = max(len(labels), 1)

    def x(i: int) -> float:
        return left + (plot_w / 2 if count == 1 else plot_w * i / (count - 1))

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / peak

    body: list[str] = []
    for tick in range(5):
        value = step * tick
        body.append(
            format_svg(
                '<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" stroke="{}"/>'
                '<text x="{}" y="{:.1f}" text-anchor="end" fill="{}">{}</text>',
                left,
                width - right,
                y(value),
                y(value),
                GRID,
                left - 6,
                y(value) + 4,
                MUTED,
                f"{value:g}",
            )
        )
    every = max(1, math.ceil(count / 8))
    for i, label in enumerate(labels):
        last = i == count - 1
        # Every few days, and the last day unless it would overprint its neighbour.
        if (i % every == 0 and (last or count - 1 - i >= every / 2)) or last:
            body.append(
                format_svg(
                    '<text x="{:.1f}" y="{}" text-anchor="{}" fill="{}">{}</text>',
                    x(i),
                    height - 12,
                    "end" if last and count > 1 else "middle",
                    MUTED,
                    label,
                )
            )
    for index, line in enumerate(series):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(line.values))
        body.append(
            format_svg(
                '<polyline points="{}" fill="none" stroke="{}" stroke-width="2.5" '
                'stroke-linejoin="round"/>',
                points,
                line.color,
            )
        )
        for i, v in enumerate(line.values):
            body.append(
                format_svg(
                    '<circle cx="{:.1f}" cy="{:.1f}" r="3" fill="{}"><title>{}: {} {}</title>'
                    "</circle>",
                    x(i),
                    y(v),
                    line.color,
                    labels[i],
                    v,
                    line.name,
                )
            )
        legend_x = left + index * 160
        body.append(
            format_svg(
                '<rect x="{}" y="8" width="14" height="4" fill="{}"/>'
                '<text x="{}" y="14" fill="{}">{}</text>',
                legend_x,
                line.color,
                legend_x + 20,
                INK,
                line.name,
            )
        )
    summary = "; ".join(f"{s.name}: {sum(s.values)} in all" for s in series)
    return _svg(width, height, title, summary, body)


def bar_chart(
    rows: Sequence[tuple[str, int]], *, title: str, color: str = BLUE, width: int = 560
) -> SafeString:
    """Horizontal bars, one per (label, value), the value written at the bar's end."""
    label_w, bar_h, gap, top = 170, 22, 10, 8
    height = top + max(len(rows), 1) * (bar_h + gap)
    peak = max((value for _, value in rows), default=0) or 1
    span = width - label_w - 70
    body = []
    for i, (label, value) in enumerate(rows):
        y0 = top + i * (bar_h + gap)
        length = span * value / peak
        body.append(
            format_svg(
                '<text x="{}" y="{}" text-anchor="end" fill="{}">{}</text>'
                '<rect x="{}" y="{}" width="{:.1f}" height="{}" rx="3" fill="{}"/>'
                '<text x="{:.1f}" y="{}" fill="{}">{}</text>',
                label_w - 8,
                y0 + 15,
                INK,
                label,
                label_w,
                y0,
                max(length, 1),
                bar_h,
                color,
                label_w + max(length, 1) + 6,
                y0 + 15,
                INK,
                value,
            )
        )
    if not rows:
        body.append(format_svg('<text x="8" y="20" fill="{}">No data in this range.</text>', MUTED))
    summary = "; ".join(f"{label}: {value}" for label, value in rows)
    return _svg(width, height, title, summary, body)


def funnel_chart(stages: Sequence[tuple[str, int]], *, title: str, width: int = 560) -> SafeString:
    """Centred bars narrowing stage by stage, each with its share of the first stage."""
    bar_h, gap, top = 30, 6, 4
    height = top + max(len(stages), 1) * (bar_h + gap)
    first = stages[0][1] if stages else 0
    body = []
    for i, (label, value) in enumerate(stages):
        share = value / first if first else 0
        bar_w = max((width - 20) * share, 2)
        y0 = top + i * (bar_h + gap)
        shade = BLUE if i < len(stages) - 1 else GREEN
        text = f"{label}: {value}" + (f" ({share * 100:.0f}%)" if first and i else "")
        body.append(
            format_svg(
                '<rect x="{:.1f}" y="{}" width="{:.1f}" height="{}" rx="4" fill="{}" '
                'fill-opacity="{:.2f}"/><text x="{}" y="{}" text-anchor="middle" fill="{}" '
                'font-weight="600">{}</text>',
                (width - bar_w) / 2,
                y0,
                bar_w,
                bar_h,
                shade,
                0.2 + 0.5 * share,
                width / 2,
                y0 + 20,
                INK,
                text,
            )
        )
    summary = "; ".join(f"{label}: {value}" for label, value in stages)
    return _svg(width, height, title, summary, body)


def offer_chart(
    rows: Sequence[tuple[str, int, int]], *, title: str, width: int = 560
) -> SafeString:
    """Per offer, a pale bar for times shown with the accepted part drawn over it."""
    label_w, bar_h, gap, top = 170, 22, 10, 8
    height = top + max(len(rows), 1) * (bar_h + gap)
    peak = max((shown for _, shown, _ in rows), default=0) or 1
    span = width - label_w - 150
    body = []
    for i, (label, shown, accepted) in enumerate(rows):
        y0 = top + i * (bar_h + gap)
        shown_w, accepted_w = span * shown / peak, span * accepted / peak
        rate = f"{accepted / shown * 100:.0f}%" if shown else "-"
        body.append(
            format_svg(
                '<text x="{}" y="{}" text-anchor="end" fill="{}">{}</text>'
                '<rect x="{}" y="{}" width="{:.1f}" height="{}" rx="3" fill="{}"/>'
                '<rect x="{}" y="{}" width="{:.1f}" height="{}" rx="3" fill="{}"/>'
                '<text x="{:.1f}" y="{}" fill="{}">{} of {} accepted ({})</text>',
                label_w - 8,
                y0 + 15,
                INK,
                label,
                label_w,
                y0,
                max(shown_w, 1),
                bar_h,
                PALE,
                label_w,
                y0,
                accepted_w,
                bar_h,
                GREEN,
                label_w + max(shown_w, 1) + 6,
                y0 + 15,
                INK,
                accepted,
                shown,
                rate,
            )
        )
    if not rows:
        body.append(
            format_svg('<text x="8" y="20" fill="{}">No offers shown in this range.</text>', MUTED)
        )
    summary = "; ".join(f"{label}: {a} of {s} accepted" for label, s, a in rows)
    return _svg(width, height, title, summary, body)


def stacked_bar_chart(
    rows: Sequence[tuple[str, Sequence[tuple[str, int, str]]]], *, title: str, width: int = 560
) -> SafeString:
    """Horizontal bars, one per label, each cut into parts (name, value, colour) with the
    parts' values written after the bar."""
    label_w, bar_h, gap, top = 110, 22, 10, 8
    height = top + max(len(rows), 1) * (bar_h + gap)
    peak = max((sum(value for _, value, _ in parts) for _, parts in rows), default=0) or 1
    span = width - label_w - 230
    body = []
    for i, (label, parts) in enumerate(rows):
        y0 = top + i * (bar_h + gap)
        body.append(
            format_svg(
                '<text x="{}" y="{}" text-anchor="end" fill="{}">{}</text>',
                label_w - 8,
                y0 + 15,
                INK,
                label,
            )
        )
        x0 = float(label_w)
        for name, value, color in parts:
            length = span * value / peak
            body.append(
                format_svg(
                    '<rect x="{:.1f}" y="{}" width="{:.1f}" height="{}" fill="{}">'
                    "<title>{}: {} {}</title></rect>",
                    x0,
                    y0,
                    length,
                    bar_h,
                    color,
                    label,
                    value,
                    name,
                )
            )
            x0 += length
        text = ", ".join(f"{value} {name}" for name, value, _ in parts)
        body.append(
            format_svg('<text x="{:.1f}" y="{}" fill="{}">{}</text>', x0 + 6, y0 + 15, INK, text)
        )
    if not rows:
        body.append(format_svg('<text x="8" y="20" fill="{}">No data in this range.</text>', MUTED))
    summary = "; ".join(
        f"{label}: " + ", ".join(f"{value} {name}" for name, value, _ in parts)
        for label, parts in rows
    )
    return _svg(width, height, title, summary, body)


def interval_chart(
    rows: Sequence[tuple[str, float | None, float | None, float | None]],
    *,
    title: str,
    unit: str = "pts",
    width: int = 560,
) -> SafeString:
    """Differences with their intervals around a zero line, one row per (label, estimate,
    low, high); a row without an interval says "not enough data"."""
    label_w, row_h, top = 190, 30, 8
    height = top + max(len(rows), 1) * row_h + 20
    span = width - label_w - 20
    reach = max((abs(v) for _, e, lo, hi in rows for v in (e, lo, hi) if v is not None),
                default=0) or 1  # fmt: skip

    def x(value: float) -> float:
        return label_w + span / 2 + span / 2 * value / reach

    body = [
        format_svg(
            '<line x1="{:.1f}" x2="{:.1f}" y1="{}" y2="{}" stroke="{}"/>'
            '<text x="{:.1f}" y="{}" text-anchor="middle" fill="{}">0</text>',
            x(0),
            x(0),
            top,
            height - 18,
            MUTED,
            x(0),
            height - 4,
            MUTED,
        )
    ]
    for i, (label, estimate, low, high) in enumerate(rows):
        y0 = top + i * row_h + row_h / 2
        body.append(
            format_svg(
                '<text x="{}" y="{:.1f}" text-anchor="end" fill="{}">{}</text>',
                label_w - 8,
                y0 + 4,
                INK,
                label,
            )
        )
        if estimate is None or low is None or high is None:
            body.append(
                format_svg(
                    '<text x="{:.1f}" y="{:.1f}" fill="{}">not enough data</text>',
                    x(0) + 6,
                    y0 + 4,
                    MUTED,
                )
            )
            continue
        color = GREEN if low > 0 else RED if high < 0 else BLUE
        body.append(
            format_svg(
                '<line x1="{:.1f}" x2="{:.1f}" y1="{:.1f}" y2="{:.1f}" stroke="{}" '
                'stroke-width="3"/><circle cx="{:.1f}" cy="{:.1f}" r="5" fill="{}">'
                "<title>{}: {:+.2f} {} (95% CI {:+.2f} to {:+.2f})</title></circle>",
                x(low),
                x(high),
                y0,
                y0,
                color,
                x(estimate),
                y0,
                color,
                label,
                estimate,
                unit,
                low,
                high,
            )
        )
    summary = "; ".join(
        f"{label}: not enough data"
        if estimate is None or low is None or high is None
        else f"{label}: {estimate:+.2f} {unit} (95% CI {low:+.2f} to {high:+.2f})"
        for label, estimate, low, high in rows
    )
    return _svg(width, height, title, summary, body)
