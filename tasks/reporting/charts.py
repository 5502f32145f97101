"""Inline SVG charts for the HTML report, drawn by hand: no script, no external file, no font.

Every function returns one ``<svg>`` element as text, to be placed inside an HTML5 document
(inline SVG needs no ``xmlns`` there, so the file carries no URL at all). All text is escaped.
Colours and sizes are fixed; the charts scale with ``viewBox`` and ``width="100%"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from html import escape

BAR = "#3b6ea5"
BAR_LIGHT = "#9db8d6"
MUTED = "#8a8a8a"
TEXT = "#222222"

CALLBACK_BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 5 min", 5),
    ("5–15 min", 15),
    ("15–60 min", 60),
    ("1–4 h", 240),
    ("4–24 h", 1440),
    ("> 1 day", float("inf")),
)
NEVER = "never"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, label: str, *, anchor: str = "start", fill: str = TEXT) -> str:
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}" fill="{fill}" '
        f'font-size="12">{escape(label)}</text>'
    )


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" font-family="sans-serif">'
        f"<title>{escape(title)}</title>"
    )


def funnel_svg(stages: Sequence[tuple[str, float]], *, title: str = "Funnel") -> str:
    """Centred horizontal bars, each labelled with its value and its share of the first stage."""
    width, row_h, label_w = 640, 34, 150
    height = max(1, len(stages)) * row_h + 10
    top = stages[0][1] if stages else 0
    usable = width - label_w - 20
    parts = [_open(width, height, title)]
    for i, (label, value) in enumerate(stages):
        y = 5 + i * row_h
        bar_w = usable * (value / top) if top > 0 else 0.0
        x = label_w + (usable - bar_w) / 2
        share = f" ({value / top:.0%})" if top > 0 and i > 0 else ""
        parts.append(_text(label_w - 8, y + row_h / 2 + 4, label, anchor="end"))
        parts.append(
            f'<rect x="{_num(x)}" y="{_num(y + 3)}" width="{_num(max(bar_w, 1.0))}" '
            f'height="{row_h - 6}" fill="{BAR_LIGHT}" rx="3"/>'
        )
        parts.append(
            _text(label_w + usable / 2, y + row_h / 2 + 4, f"{_num(value)}{share}", anchor="middle")
        )
    parts.append("</svg>")
    return "".join(parts)


def bars_svg(
    items: Sequence[tuple[str, float | None]],
    *,
    title: str,
    fmt: Callable[[float], str],
    max_value: float | None = None,
    missing: str = "n/a",
) -> str:
    """Horizontal bars, one per (label, value); a None value shows ``missing`` and no bar."""
    width, row_h, label_w = 640, 26, 260
    height = max(1, len(items)) * row_h + 10
    values = [v for _, v in items if v is not None]
    scale = max_value if max_value is not None else max(values, default=0.0)
    usable = width - label_w - 80
    parts = [_open(width, height, title)]
    for i, (label, value) in enumerate(items):
        y = 5 + i * row_h
        short = label if len(label) <= 40 else label[:39] + "…"
        parts.append(_text(label_w - 8, y + row_h / 2 + 4, short, anchor="end"))
        if value is None:
            parts.append(_text(label_w + 4, y + row_h / 2 + 4, missing, fill=MUTED))
            continue
        bar_w = usable * (value / scale) if scale > 0 else 0.0
        parts.append(
            f'<rect x="{label_w}" y="{_num(y + 4)}" width="{_num(max(bar_w, 1.0))}" '
            f'height="{row_h - 8}" fill="{BAR}" rx="2"/>'
        )
        parts.append(_text(label_w + bar_w + 6, y + row_h / 2 + 4, fmt(value)))
    parts.append("</svg>")
    return "".join(parts)


def histogram_svg(buckets: Sequence[tuple[str, int]], *, title: str) -> str:
    """Vertical bars with their counts on top and bucket labels below."""
    width, height, base, top_pad = 640, 220, 180, 20
    n = max(1, len(buckets))
    slot = (width - 20) / n
    peak = max((count for _, count in buckets), default=0)
    parts = [_open(width, height, title)]
    parts.append(f'<line x1="10" y1="{base}" x2="{width - 10}" y2="{base}" stroke="{MUTED}"/>')
    for i, (label, count) in enumerate(buckets):
        bar_h = (base - top_pad) * (count / peak) if peak > 0 else 0.0
        x = 10 + i * slot + slot * 0.15
        colour = MUTED if label == NEVER else BAR
        parts.append(
            f'<rect x="{_num(x)}" y="{_num(base - bar_h)}" width="{_num(slot * 0.7)}" '
            f'height="{_num(bar_h)}" fill="{colour}"/>'
        )
        parts.append(_text(x + slot * 0.35, base - bar_h - 5, str(count), anchor="middle"))
        parts.append(_text(x + slot * 0.35, base + 18, label, anchor="middle"))
    parts.append("</svg>")
    return "".join(parts)


def callback_buckets(delays: Iterable[float | None]) -> list[tuple[str, int]]:
    """Counts of callback delays (minutes) per :data:`CALLBACK_BUCKETS`, plus ``never`` (None)."""
    counts = dict.fromkeys([label for label, _ in CALLBACK_BUCKETS] + [NEVER], 0)
    for delay in delays:
        if delay is None:
            counts[NEVER] += 1
            continue
        label = next(lbl for lbl, upper in CALLBACK_BUCKETS if delay < upper)
        counts[label] += 1
    return list(counts.items())
