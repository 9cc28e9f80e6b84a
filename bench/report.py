"""The figures a benchmark run measured, printed as one table at the end of ``make bench``.

A benchmark module records each figure it measures with :func:`record`: the figure, the
ceiling it is compared with (measured in the same run, on the same machine), and the
target. A module whose ``main()`` returns figures (a list of :class:`Figure` or of dicts
with the same keys) has them added too. ``python -m bench`` prints the table after the
modules' own output; a target not met is marked ``MISSED``.

Targets are one of:
- ``ratio_at_least``: the figure over the ceiling is at least this (throughputs);
- ``at_most``: the figure is at most this, in its unit (latencies, durations);
- none: shown for information (a ceiling's own figure, a count).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    ceiling: float | None = None
    ceiling_name: str = ""
    ratio_at_least: float | None = None
    at_most: float | None = None
    # How the figure was measured, for the closing note (the command that reproduces it).
    command: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ceiling in (None, 0):
            return None
        return self.value / self.ceiling  # type: ignore[operator]

    @property
    def met(self) -> bool | None:
        if self.ratio_at_least is not None:
            return self.ratio is not None and self.ratio >= self.ratio_at_least
        if self.at_most is not None:
            return self.value <= self.at_most
        return None

    @property
    def target(self) -> str:
        if self.ratio_at_least is not None:
            return f">= {self.ratio_at_least:.0%} of ceiling"
        if self.at_most is not None:
            return f"<= {_number(self.at_most)} {self.unit}"
        return ""


FIGURES: list[Figure] = []


def record(name: str, value: float, unit: str, **kwargs: Any) -> Figure:
    """Add a figure to this run's table (see :class:`Figure` for the keywords)."""
    figure = Figure(name=name, value=float(value), unit=unit, **kwargs)
    FIGURES.append(figure)
    return figure


def add_returned(returned: Any) -> None:
    """Add what a module's ``main()`` returned, if it is a list of figures."""
    if not isinstance(returned, Iterable) or isinstance(returned, (str, bytes, Mapping)):
        return
    known = {f.name for f in fields(Figure)}
    for item in returned:
        if isinstance(item, Figure):
            FIGURES.append(item)
        elif isinstance(item, Mapping) and {"name", "value", "unit"} <= item.keys():
            record(**{k: v for k, v in item.items() if k in known})


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(figures: list[Figure] | None = None) -> str:
    """The figures as a fixed-width table."""
    figures = FIGURES if figures is None else figures
    header = ("figure", "value", "ceiling (same run)", "ratio", "target", "")
    rows = [header]
    for f in figures:
        ceiling = ""
        if f.ceiling is not None:
            ceiling = f"{_number(f.ceiling)} {f.unit}"
            if f.ceiling_name:
                ceiling += f" ({f.ceiling_name})"
        ratio = f"{f.ratio:.0%}" if f.ratio is not None else ""
        verdict = {True: "met", False: "MISSED", None: ""}[f.met]
        rows.append((f.name, f"{_number(f.value)} {f.unit}", ceiling, ratio, f.target, verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)
