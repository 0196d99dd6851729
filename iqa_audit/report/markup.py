"""HTML pieces every report section uses: escaping, a verdict's CSS class, data URIs, a
figure.

Every piece of text that came from outside the code goes through `e` (html.escape): a
seed folder or a model's reasoning may hold markup, and the page must show it as text.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from iqa_audit.report.svg import Svg
from iqa_audit.results.records import GapRecord, MetricStatusRecord, Record, SanityRecord


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


def plot_html(plot: Svg, alt: str, caption: str = "") -> str:
    """A figure drawn as inline SVG (its cells link to their tests themselves), scaled down
    with the page, never up."""
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure class="plot" style="max-width:{plot.width}px">{plot.html(alt)}{cap}</figure>'
