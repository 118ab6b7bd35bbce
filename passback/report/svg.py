"""Inline SVG charts made by passback (nothing from the network): writes per run as bars, held-back
rows per reason as lines, so that a spike is seen, not read.  Every label is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#1971c2", "#e8590c", "#2b8a3e", "#c2255c", "#6741d9", "#0c8599", "#f08c00", "#5c940d", "#868e96")
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 900, 230, 56, 210, 16, 44


def _scale(top: float) -> float:
    """A round axis maximum at or above ``top``."""
    if top <= 0:
        return 1.0
    step = 10 ** (len(str(int(top))) - 1)
    for m in (1, 2, 2.5, 5, 10):
        if m * step >= top:
            return float(m * step)
    return float(10 * step)


def _frame(title: str, labels: Sequence[str], top: float) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" class="trend">',
        f'<text x="{LEFT}" y="11" font-size="12" font-weight="600">{escape(title)}</text>',
    ]
    for i in range(5):
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e9ecef"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{top * i / 4:,.0f}</text>')
    step = max(1, len(labels) // 8)
    for i, label in enumerate(labels):
        if i % step == 0 or i == len(labels) - 1:
            x = _x(i, len(labels))
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="10" text-anchor="middle">{escape(label)}</text>'
            )
    return parts


def _x(i: int, n: int) -> float:
    plot_w = WIDTH - LEFT - RIGHT
    return LEFT + (plot_w * (i + 0.5) / n if n else 0)


def _y(value: float, top: float) -> float:
    plot_h = HEIGHT - TOP - BOTTOM
    return TOP + plot_h - plot_h * (value / top)


def bars(title: str, labels: Sequence[str], values: Sequence[float]) -> str:
    top = _scale(max(values, default=0))
    parts = _frame(title, labels, top)
    width = max(2.0, (WIDTH - LEFT - RIGHT) / max(len(labels), 1) * 0.6)
    for i, v in enumerate(values):
        y = _y(v, top)
        parts.append(
            f'<rect x="{_x(i, len(labels)) - width / 2:.1f}" y="{y:.1f}" width="{width:.1f}" '
            f'height="{HEIGHT - BOTTOM - y:.1f}" fill="{PALETTE[0]}"><title>{escape(labels[i])}: {v:,.0f}</title></rect>'
        )
    parts.append("</svg>")
    return "".join(parts)


def lines(title: str, labels: Sequence[str], series: dict[str, Sequence[float]]) -> str:
    top = _scale(max((max(v, default=0) for v in series.values()), default=0))
    parts = _frame(title, labels, top)
    n = len(labels)
    for k, (name, values) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        points = " ".join(f"{_x(i, n):.1f},{_y(v, top):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"/>')
        for i, v in enumerate(values):
            parts.append(
                f'<circle cx="{_x(i, n):.1f}" cy="{_y(v, top):.1f}" r="2.5" fill="{color}">'
                f"<title>{escape(name)} — {escape(labels[i])}: {v:,.0f}</title></circle>"
            )
        y = TOP + 4 + 15 * k
        parts.append(
            f'<rect x="{WIDTH - RIGHT + 12}" y="{y}" width="10" height="10" fill="{color}"/>'
            f'<text x="{WIDTH - RIGHT + 27}" y="{y + 9}" font-size="11">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
