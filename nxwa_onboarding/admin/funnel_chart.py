"""Server-side bar charts: the geometry of an SVG the template draws with classes, nothing else.

No script, no ``style`` attribute, no ``<style>`` element: the colours come from the static
``funnel.css`` by class, so the page works under a strict Content-Security-Policy. Coordinates are
strings formatted here (never localised by the template: ``12,5`` would break the SVG).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.formats import number_format

WIDTH = 640
#: A row: its label on one line, the bar under it, then a gap.
ROW = 46
LABEL_BASELINE = 14
BAR_TOP = 20
BAR_HEIGHT = 16
#: Room right of the longest bar for its number.
VALUE_ROOM = 170


@dataclass(frozen=True)
class Bar:
    label: str
    value: str
    kind: str
    label_y: str
    bar_y: str
    value_y: str
    width: str
    value_x: str


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    width: str
    height: str
    bars: tuple[Bar, ...]


def count_text(value: int) -> str:
    return number_format(value, force_grouping=True)


def bar_chart(chart_id: str, title: str, rows: Sequence[tuple[str, int, str, str]]) -> Chart:
    """``rows``: (label, value, what follows the value, kind: the bar's CSS modifier)."""
    biggest = max((value for _label, value, _note, _kind in rows), default=0) or 1
    room = WIDTH - VALUE_ROOM
    bars = []
    for index, (label, value, note, kind) in enumerate(rows):
        top = index * ROW
        width = room * value / biggest
        if value:
            width = max(width, 2.0)  # a row with something is never invisible
        shown = count_text(value) + (f" · {note}" if note else "")
        bars.append(
            Bar(
                label=label,
                value=shown,
                kind=kind,
                label_y=str(top + LABEL_BASELINE),
                bar_y=str(top + BAR_TOP),
                value_y=str(top + BAR_TOP + BAR_HEIGHT - 3),
                width=f"{width:.1f}",
                value_x=f"{width + 8:.1f}",
            )
        )
    return Chart(chart_id, title, str(WIDTH), str(max(len(rows), 1) * ROW), tuple(bars))
