"""Plots of the statistics drawn with matplotlib (Agg backend: no display needed)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["bar_figure", "figure_bytes", "line_figure", "save_figure"]


def line_figure(title: str, points: Sequence[tuple[str, float]], ylabel: str) -> Figure:
    """A line chart over labelled x positions (periods or days)."""
    fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
    labels = [p for p, _ in points]
    ax.plot(range(len(points)), [v for _, v in points], marker="o", color="#0b4f8a")
    ax.set_xticks(range(len(points)), labels, rotation=45 if len(points) > 6 else 0, ha="right")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig


def bar_figure(title: str, items: Sequence[tuple[str, float]], xlabel: str) -> Figure:
    """A horizontal bar chart, largest on top."""
    fig, ax = plt.subplots(figsize=(7, 0.4 * max(len(items), 1) + 1.2), layout="constrained")
    ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="#0b4f8a")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return fig


def figure_bytes(fig: Figure, fmt: str = "svg") -> bytes:
    """The figure rendered as SVG or PNG bytes; the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    plt.close(fig)
    return buf.getvalue()


def save_figure(fig: Figure, path: Path) -> Path:
    """Write the figure to ``path`` (format from its suffix: .svg or .png)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(figure_bytes(fig, path.suffix.lstrip(".").lower() or "svg"))
    return path
