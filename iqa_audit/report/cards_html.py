"""The report header's robustness cards: metrics ranked, the editors' cards, each card's score over versions.

Drawn from results.json's `cards` section (results/cards.py) as HTML tables, with each
subject's history as a small inline SVG (no figure library: it costs nothing to draw).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from iqa_audit.analysis.cards import Card, card_from_dict
from iqa_audit.report.markup import e


def _n(value: Any, fmt: str = "{:.2f}", none: str = "–") -> str:
    return none if value is None else fmt.format(value)


def score_svg(series: Sequence[Card], width: int = 120, height: int = 28) -> str:
    """The scores of a subject's cards (oldest first) as a small line with its intervals as bars."""
    pts = [(i, c) for i, c in enumerate(series) if c.score is not None]
    if not pts:
        return ""
    step = (width - 8) / max(len(series) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return 4 + i * step, height - 3 - v * (height - 6)

    bars = "".join(
        f'<line x1="{xy(i, 0)[0]:.1f}" x2="{xy(i, 0)[0]:.1f}" y1="{xy(i, c.low or 0.0)[1]:.1f}" '
        f'y2="{xy(i, c.high if c.high is not None else 1.0)[1]:.1f}" stroke="#bbb" stroke-width="3"/>'
        for i, c in pts
    )
    line = " ".join("%.1f,%.1f" % xy(i, c.score) for i, c in pts)
    titles = "; ".join(f"{c.version}: {c.interval()}" for _, c in pts)
    return (
        f'<svg class="spark" width="{width}" height="{height}" role="img" aria-label="{e(titles)}"><title>{e(titles)}</title>'
        f'{bars}<polyline points="{line}" fill="none" stroke="#3366aa" stroke-width="1.5"/></svg>'
    )


def _history(section: Mapping[str, Any], card: Card) -> str:
    series = [card_from_dict(d) for d in (section.get("history") or {}).get(f"{card.kind}:{card.subject}", ())]
    if len(series) < 2:
        return '<small class="dim">first run on this chain set</small>'
    cells = " → ".join(f"{e(c.version)} <b>{_n(c.score)}</b>" for c in series[-4:])
    return f"{score_svg(series)} <small>{cells}</small>"


def cards_html(section: Mapping[str, Any]) -> str:
    """The header's cards block ('' when results.json has no cards)."""
    metrics = [card_from_dict(d) for d in section.get("metrics", ())]
    editors = [card_from_dict(d) for d in section.get("editors", ())]
    if not metrics and not editors:
        return ""
    out = ['<div class="cards">']
    if metrics:
        rows = "".join(
            f"<tr{' class=reference' if c.reference else ''}><td>{i}</td><td>{e(c.subject)}"
            f"{' <small>(study reference: fooled in Banana100)</small>' if c.reference else ''}</td>"
            f"<td><b>{e(c.interval())}</b></td><td>{c.noticed}/{c.pairs}</td>"
            f"<td>{e(', '.join(f'{s} {p}/{n}' for s, (p, n) in c.per_setting.items()))}</td>"
            f"<td>{_n(c.median_delay, '{:g}')}</td><td>{_n(c.worst_stability)}</td><td>{e(c.sanity)}</td>"
            f"<td>{_history(section, c)}</td></tr>"
            for i, c in enumerate(metrics, 1)
        )
        out.append(
            "<h3>Metric robustness cards</h3><p class=dim>Score: the share of conclusive (model-like setting, seed) "
            "pairs where the metric noticed at every conclusive Δ, with its 95 % Wilson interval; ranked.</p>"
            '<table class="compact"><thead><tr><th>#</th><th>metric</th><th>score [95 % CI]</th><th>noticed</th>'
            "<th>per setting</th><th>median delay (steps)</th><th>worst stability ratio</th><th>sanity</th>"
            f"<th>score over versions</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    if editors:
        rows = "".join(
            f"<tr><td>{e(c.subject)} <small>{e(c.version)}</small></td><td><b>{e(c.interval())}</b> "
            f"({c.checks_passed}/{c.checks}{f', <b>{c.errors} error</b>' if c.errors else ''})</td><td>{_visible(c)}</td>"
            f"<td>{_decay(c.decay)}</td><td>{e(', '.join(f'{t} {p}/{n}' for t, (p, n) in c.tasks.items()))}</td>"
            f"<td>{_history(section, c)}</td></tr>"
            for c in editors
        )
        out.append(
            "<h3>Editor cards</h3><p class=dim>Fidelity checks passed (95 % Wilson interval); the first step whose "
            "image changed visibly (PSNR &lt; 38.59 dB or SSIM &lt; 0.95) against step 1 / the seed, median over the "
            "replication chains; PSNR (dB) against the seed by step.</p>"
            '<table class="compact"><thead><tr><th>editor</th><th>checks passed</th><th>visible from step</th>'
            "<th>PSNR vs seed by step</th><th>tasks passed</th><th>score over versions</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    out.append("</div>")
    return "\n".join(out)


def _decay(rows: Sequence[Sequence[Any]]) -> str:
    return e(" ".join(f"{int(r[0])}:{_n(r[3], '{:.0f}')}" for r in rows)) or "–"


def _visible(c) -> str:
    """The first visibly changed step against step 1 / the seed; '-' without a measured chain
    ('never' would claim the chains stayed unchanged)."""
    if not c.chains:
        return "- <small>(no replication chain measured)</small>"
    fv = c.first_visible
    return f"{_n(fv.get('step1'), '{:g}', 'never')} / {_n(fv.get('seed'), '{:g}', 'never')} <small>({c.chains} chains)</small>"
