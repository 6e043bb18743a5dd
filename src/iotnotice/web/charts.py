"""Small horizontal bar charts as inline SVG, drawn on the server (no JavaScript, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

__all__ = ["bar_chart_svg"]

_BAR = 22
_LABEL_WIDTH = 150
_WIDTH = 520


def bar_chart_svg(title: str, items: Sequence[tuple[str, float]]) -> str:
    """An accessible SVG bar chart (role=img, <title>) of (label, value) pairs."""
    height = _BAR * max(len(items), 1) + 10
    peak = max((v for _, v in items), default=0) or 1
    bars = []
    for i, (label, value) in enumerate(items):
        y = 5 + i * _BAR
        width = (_WIDTH - _LABEL_WIDTH - 80) * value / peak
        bars.append(
            f'<text x="{_LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{_LABEL_WIDTH}" y="{y + 3}" width="{width:.1f}" height="{_BAR - 6}" '
            'class="bar"/>'
            f'<text x="{_LABEL_WIDTH + width + 6:.1f}" y="{y + 15}">{value:,.0f}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
        f'viewBox="0 0 {_WIDTH} {height}" width="{_WIDTH}" height="{height}">'
        f"<title>{escape(title)}</title>{''.join(bars)}</svg>"
    )
