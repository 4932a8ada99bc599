"""The opinion-group map: an SVG picture written by our own code (no plotting library).

Each published group is a disc at its centre in the projection, its area proportional to its
size, labelled with its letter and size. No participant is drawn: a dot per person would let a
reader who knows where one person sits guess their votes, and groups smaller than the minimum
cell size are not drawn on their own (see ``report.published``).
"""

from __future__ import annotations

import math
from html import escape

from engage.deliberation.report import Published

WIDTH, HEIGHT, MARGIN = 640, 420, 70
COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#999999")


def render_svg(result: Published, title: str) -> str:
    """A self-contained SVG document (UTF-8 text)."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="16" y="28" font-family="sans-serif" font-size="16">{escape(title)}</text>',
    ]
    if not result.groups:
        parts.append(f'<text x="16" y="{HEIGHT // 2}" font-family="sans-serif" font-size="14">'
                     "Not enough voters yet to show opinion groups.</text></svg>")
        return "\n".join(parts)
    xs = [g.center[0] for g in result.groups]
    ys = [g.center[1] for g in result.groups]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-9)
    biggest = max(g.size for g in result.groups)
    for i, g in enumerate(result.groups):
        x = MARGIN + (g.center[0] - min(xs)) / span * (WIDTH - 2 * MARGIN)
        y = MARGIN + 20 + (g.center[1] - min(ys)) / span * (HEIGHT - 2 * MARGIN - 40)
        r = 12 + 48 * math.sqrt(g.size / biggest)
        colour = COLOURS[min(i, len(COLOURS) - 1)]
        name = "Other small groups" if g.label == "others" else f"Group {g.label}"
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{colour}" '
                     'fill-opacity="0.55" stroke="#333333"/>')
        parts.append(f'<text x="{x:.1f}" y="{y + 5:.1f}" text-anchor="middle" '
                     f'font-family="sans-serif" font-size="13">{escape(name)} · '
                     f"{g.size} people</text>")
    parts.append(f'<text x="16" y="{HEIGHT - 12}" font-family="sans-serif" font-size="11" '
                 f'fill="#555555">{result.voters} voters. Closer discs voted more alike. '
                 "Groups under the minimum size are not shown alone.</text>")
    parts.append("</svg>")
    return "\n".join(parts)
