"""HTML pieces every report section uses: escaping, a verdict's CSS class, data URIs, a
figure with clickable cells.

Every piece of text that came from outside the code goes through `e` (html.escape): a
seed folder or a model's reasoning may hold markup, and the page must show it as text.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from iqa_audit.results.records import GapRecord, MetricStatusRecord, Record, SanityRecord
from iqa_audit.report import figures
from iqa_audit.report.model import cell_anchor


def e(value: Any) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def status_class(rec: Record) -> str:
    """CSS class for a verdict: pass, fail, known (a failure the baseline expects) or
    inconclusive (a gap with nothing visible to notice)."""
    if isinstance(rec, GapRecord) and rec.shown_verdict == "inconclusive":
        return "inconclusive"
    if not isinstance(rec, MetricStatusRecord) and rec.passed:
        return "known" if isinstance(rec, SanityRecord) and rec.warning else "pass"
    return "known" if rec.outcome in ("xfailed", "skipped") else "fail"


def data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def plot_html(plot: figures.Plot, alt: str, caption: str = "") -> str:
    """A drawn figure as an inline PNG, with a link over each of its clickable cells (the
    hits, in fractions of the picture, so they stay on their cells however it is scaled)."""
    hits = "".join(
        f'<a class="hit" href="#{cell_anchor(h.cell)}" title="{e(h.title)}" aria-label="{e(h.title)}" style="left:{100 * h.left:.3f}%;'
        f'top:{100 * h.top:.3f}%;width:{100 * h.width:.3f}%;height:{100 * h.height:.3f}%"></a>'
        for h in plot.hits
    )
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return (
        f'<figure class="plot" style="max-width:{plot.width}px"><div class="hm">'
        f'<img src="{data_uri("image/png", plot.png)}" width="{plot.width}" height="{plot.height}" alt="{e(alt)}">'
        f"{hits}</div>{cap}</figure>"
    )
