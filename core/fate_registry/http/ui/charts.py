"""The console's charts as inline SVG, drawn on the server from numbers only: no script, no
library, nothing fetched."""

from __future__ import annotations

from markupsafe import Markup

from ...window import Minute, percentile_ms

WIDTH, HEIGHT, PAD = 720, 140, 28
RIGHT = 64  # room for the latency scale
COLOURS = {"allow": "#2e7d32", "deny": "#f9a825", "failed": "#c62828", "p99": "#1565c0"}


def decisions_chart(capability: str, minutes: list[Minute]) -> Markup:
    """Per minute, stacked bars of allowed, denied and failed decisions (left scale), and the
    p99 latency as a line (right scale)."""
    totals = [sum(m.counts.values()) for m in minutes]
    p99 = [percentile_ms(m.latency, 0.99) for m in minutes]
    top = max(totals, default=0) or 1
    known = [p for p in p99 if p is not None]
    slowest = max(known, default=0.0) or 1.0
    plot_w, plot_h = WIDTH - PAD - RIGHT, HEIGHT - 2 * PAD
    step = plot_w / max(len(minutes), 1)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{_text(capability)}: decisions per minute and p99 latency</title>",
        f'<rect x="{PAD}" y="{PAD}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
        'stroke="#ddd"/>',
    ]
    for i, minute in enumerate(minutes):
        x = PAD + i * step
        base = float(PAD + plot_h)
        stacks = (
            ("allow", minute.counts["allow"]),
            ("deny", minute.counts["deny"]),
            ("failed", minute.counts["failed_open"] + minute.counts["failed_closed"]),
        )
        for kind, count in stacks:
            if not count:
                continue
            h = plot_h * count / top
            base -= h
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{base:.1f}" width="{max(step - 2, 1):.1f}" '
                f'height="{h:.1f}" fill="{COLOURS[kind]}"><title>{count} {kind}</title></rect>'
            )
    points = [
        f"{PAD + (i + 0.5) * step:.1f},{PAD + plot_h - plot_h * p / slowest:.1f}"
        for i, p in enumerate(p99)
        if p is not None
    ]
    if len(points) > 1:
        parts.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="{COLOURS["p99"]}" '
            'stroke-width="2"/>'
        )
    elif points:  # one minute with decisions: a dot
        cx, cy = points[0].split(",")
        parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{COLOURS["p99"]}"/>')
    if known:
        parts.append(
            f'<text x="{PAD + plot_w + 4}" y="{PAD + 4}" font-size="10" '
            f'fill="{COLOURS["p99"]}">{slowest:g} ms</text>'
        )
    else:
        parts.append(
            f'<text x="{PAD + plot_w / 2}" y="{PAD + plot_h / 2}" text-anchor="middle" '
            'font-size="11" fill="#757575">no decision in the last hour</text>'
        )
    parts += [
        f'<text x="{PAD - 4}" y="{PAD + 4}" text-anchor="end" font-size="10">{top}</text>',
        f'<text x="{PAD}" y="{HEIGHT - 8}" font-size="10">-{len(minutes)} min</text>',
        f'<text x="{PAD + plot_w}" y="{HEIGHT - 8}" text-anchor="end" font-size="10">now</text>',
        "</svg>",
    ]
    return Markup("".join(parts))


def _text(value: str) -> str:
    return str(Markup.escape(value))
