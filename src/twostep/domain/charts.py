"""Chart geometry for the dashboard's server-drawn SVG: numbers in, rectangles and points out.

The templates draw what this module computes; no JavaScript, no chart service. Every chart is drawn
in a fixed coordinate box (``viewBox``) that the browser scales to the page width, so a chart never
makes a phone scroll sideways. The drawing area is the box minus a left gutter for the axis labels
and a bottom gutter for the category labels:

    0,0 ┌───────┬──────────────────────────────┐
        │ 100 % │ ─ ─ ─ ─ gridline ─ ─ ─ ─ ─ ─ │
        │       │      ▇▇      ▇▇              │
        │   0   │ ▇▇   ▇▇  ▇▇  ▇▇  ▇▇          │ <- plot bottom (height - bottom gutter)
        │       │ Mon  Tue ...                 │
        └───────┴──────────────────────────────┘ width,height

Scales start at zero (a bar's length is its value) and end at a "nice" maximum (1, 2 or 5 times a
power of ten), so the gridlines fall on round numbers. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 640
HEIGHT = 220
LEFT_GUTTER = 48
BOTTOM_GUTTER = 28
TOP_GUTTER = 10
RIGHT_GUTTER = 8


def nice_max(value: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50… that is at least ``value`` (1 for 0 or less)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return int(step * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


@dataclass(frozen=True)
class Tick:
    value: int
    y: float


@dataclass(frozen=True)
class Column:
    """One bar: ``series`` is its index in the group (success 0, failure 1…), ``label`` its category."""

    x: float
    y: float
    width: float
    height: float
    value: float
    series: int
    label: str
    category: int


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: float
    label: str


@dataclass(frozen=True)
class Label:
    x: float
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    ticks: list[Tick]
    columns: list[Column]
    points: list[Point]
    labels: list[Label]
    maximum: int

    @property
    def view_box(self) -> str:
        return f"0 0 {self.width} {self.height}"

    @property
    def line_path(self) -> str:
        """``points`` as an SVG path ("M x y L x y …"), empty without points."""
        return " ".join(f"{'M' if i == 0 else 'L'} {p.x:.1f} {p.y:.1f}" for i, p in enumerate(self.points))


def _frame(width: int, height: int) -> tuple[float, float, float, float]:
    return LEFT_GUTTER, width - RIGHT_GUTTER, TOP_GUTTER, height - BOTTOM_GUTTER


def _ticks(maximum: int, top: float, bottom: float) -> list[Tick]:
    """Gridlines on whole numbers: halves of an even maximum (0, 5, 10), every unit up to 5 (0…5),
    or just 0 and 1."""
    count = 2 if maximum % 2 == 0 else (5 if maximum == 5 else 1)
    return [Tick(value=maximum * i // count, y=bottom - (bottom - top) * i / count) for i in range(count + 1)]


def _every(count: int, wanted: int) -> int:
    """Label every n-th category so at most ``wanted`` labels share the axis."""
    return max(1, math.ceil(count / max(1, wanted)))


def column_chart(
    series: Sequence[Sequence[float]],
    labels: Sequence[str],
    *,
    maximum: float | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
    max_labels: int = 8,
) -> Chart:
    """Grouped columns: ``series[s][c]`` is series ``s`` in category ``c`` (all series as long as
    ``labels``). Each category gets an equal slot; its columns share 80 % of it."""
    count = len(labels)
    if any(len(values) != count for values in series):
        raise ValueError("every series needs one value per label")
    left, right, top, bottom = _frame(width, height)
    top_value = nice_max(max([maximum or 0.0, *(v for values in series for v in values)]))
    slot = (right - left) / max(1, count)
    bar = slot * 0.8 / max(1, len(series))
    columns = []
    for s, values in enumerate(series):
        for c, value in enumerate(values):
            length = (bottom - top) * max(0.0, value) / top_value
            x = left + c * slot + slot * 0.1 + s * bar
            columns.append(Column(x, bottom - length, bar, length, value, s, labels[c], c))
    step = _every(count, max_labels)
    axis = [Label(left + c * slot + slot / 2, labels[c]) for c in range(0, count, step)]
    return Chart(width, height, left, right, top, bottom, _ticks(top_value, top, bottom), columns, [], axis, top_value)


def line_chart(
    values: Sequence[float],
    labels: Sequence[str],
    *,
    maximum: float | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
    max_labels: int = 6,
) -> Chart:
    """A line through one point per label, spread from the left edge of the plot to the right one."""
    if len(values) != len(labels):
        raise ValueError("one value per label")
    left, right, top, bottom = _frame(width, height)
    top_value = int(maximum) if maximum else nice_max(max(values, default=0))
    span = (right - left) / max(1, len(values) - 1)
    points = [
        Point(left + i * span if len(values) > 1 else (left + right) / 2,
              bottom - (bottom - top) * max(0.0, min(value, top_value)) / top_value, value, labels[i])
        for i, value in enumerate(values)
    ]  # fmt: skip
    step = _every(len(values), max_labels)
    axis = [Label(points[i].x, labels[i]) for i in range(0, len(values), step)]
    return Chart(width, height, left, right, top, bottom, _ticks(top_value, top, bottom), [], points, axis, top_value)


@dataclass(frozen=True)
class Share:
    """One row of a horizontal bar list: ``percent`` of the largest value (0–100) and of the total."""

    label: str
    value: int
    width_percent: int
    share_percent: int


def shares(values: Sequence[tuple[str, int]]) -> list[Share]:
    """Horizontal bars scaled to the largest value (the longest bar fills the row), each with its
    share of the total rounded to a whole percent. The widths are steps of 5 % so the stylesheet can
    draw them with classes (the Content-Security-Policy forbids style attributes)."""
    largest = max((v for _, v in values), default=0)
    total = sum(v for _, v in values)
    rows = []
    for label, value in values:
        width = 0 if largest == 0 else round(100 * value / largest / 5) * 5
        if value > 0 and width == 0:
            width = 5
        rows.append(Share(label, value, width, round(100 * value / total) if total else 0))
    return rows


def percent(part: int, whole: int) -> int:
    """``part`` of ``whole`` as a whole percent (0 when ``whole`` is 0), never 100 before it is all."""
    if whole <= 0:
        return 0
    value = math.floor(100 * part / whole + 0.5)
    return 99 if value == 100 and part < whole else value
