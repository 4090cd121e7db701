"""Chart geometry for the dashboard (domain/charts.py): scales, bars, points, shares."""

from __future__ import annotations

import pytest

from twostep.domain import charts


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 1), (1, 1), (1.5, 2), (3, 5), (7, 10), (10, 10), (11, 20), (99, 100), (101, 200), (4200, 5000)],
)
def test_scales_end_at_a_round_number(value: float, expected: int) -> None:
    assert charts.nice_max(value) == expected


def test_columns_stand_on_the_axis_and_are_as_long_as_their_value() -> None:
    chart = charts.column_chart([[0, 5, 10], [1, 0, 2]], ["a", "b", "c"])
    assert chart.maximum == 10
    bottom, top = chart.plot_bottom, chart.plot_top
    tallest = max(chart.columns, key=lambda c: c.value)
    assert (
        tallest.value == 10 and tallest.y == pytest.approx(top) and tallest.y + tallest.height == pytest.approx(bottom)
    )
    for column in chart.columns:
        assert column.y + column.height == pytest.approx(bottom)
        assert column.height == pytest.approx((bottom - top) * column.value / 10)
        assert chart.plot_left <= column.x and column.x + column.width <= chart.plot_right
    xs = sorted((c.category, c.series, c.x) for c in chart.columns)
    assert [x for _, _, x in xs] == sorted(x for _, _, x in xs)  # category by category, series side by side
    assert [t.value for t in chart.ticks] == [0, 5, 10]


@pytest.mark.parametrize(
    ("largest", "ticks"), [(0, [0, 1]), (1, [0, 1]), (2, [0, 1, 2]), (4, [0, 1, 2, 3, 4, 5]), (40, [0, 25, 50])]
)
def test_gridlines_fall_on_whole_numbers(largest: int, ticks: list[int]) -> None:
    assert [t.value for t in charts.column_chart([[largest]], ["a"]).ticks] == ticks


def test_a_thirty_day_chart_labels_only_some_days() -> None:
    labels = [f"d{i}" for i in range(30)]
    chart = charts.column_chart([[1] * 30, [0] * 30], labels, max_labels=6)
    assert 1 < len(chart.labels) <= 6 and chart.labels[0].text == "d0"


def test_a_line_chart_spans_the_plot_and_clips_to_its_maximum() -> None:
    chart = charts.line_chart([0, 50, 100, 120], ["a", "b", "c", "d"], maximum=100)
    assert chart.points[0].x == pytest.approx(chart.plot_left) and chart.points[-1].x == pytest.approx(chart.plot_right)
    assert chart.points[0].y == pytest.approx(chart.plot_bottom) and chart.points[2].y == pytest.approx(chart.plot_top)
    assert chart.points[3].y == pytest.approx(chart.plot_top)
    assert chart.line_path.startswith("M ") and chart.line_path.count(" L ") == 3
    assert charts.line_chart([7], ["only"]).points[0].x == pytest.approx((chart.plot_left + chart.plot_right) / 2)


def test_mismatched_series_are_refused() -> None:
    with pytest.raises(ValueError):
        charts.column_chart([[1, 2]], ["a"])
    with pytest.raises(ValueError):
        charts.line_chart([1, 2], ["a"])


def test_shares_scale_to_the_largest_and_never_hide_a_small_one() -> None:
    rows = charts.shares([("totp", 90), ("email", 1), ("sms", 0)])
    assert [(r.width_percent, r.share_percent) for r in rows] == [(100, 99), (5, 1), (0, 0)]
    assert charts.shares([("totp", 0)])[0].width_percent == 0


@pytest.mark.parametrize(
    ("part", "whole", "expected"), [(0, 0, 0), (1, 3, 33), (2, 3, 67), (999, 1000, 99), (5, 5, 100)]
)
def test_percent_rounds_but_says_100_only_when_it_is_all(part: int, whole: int, expected: int) -> None:
    assert charts.percent(part, whole) == expected
