"""The report's pictures: heatmaps, failure counts and score curves as inline SVG, and
the store's photographs as thumbnails and crops.

Where each figure is drawn: heatmap_figures (the gap heatmaps and failure counts),
curve_figures (score curves, stability panels, seed styles), on svg.py's primitives and
colours.py's colour maps; none of them imports matplotlib. Drawing one costs about a
millisecond, so figures are not cached; the photographs' thumbnails and crops are
(figure_cache: decoding and encoding them is what costs).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image as PILImage

from iqa_audit.report.curve_figures import curves_figure, stability_figure
from iqa_audit.report.heatmap_figures import heatmap_figure
from iqa_audit.report.model import FailureGrid, GapGrid, MetricCurves
from iqa_audit.report.stability_model import StabilityFigure
from iqa_audit.report.svg import Svg

THUMB_PX = 176  # long side of the downsized full view
CROP_PX = 128  # side of the centre crop shown at native resolution (1 image px = 1 screen px)
JPEG_QUALITY = 85


def heatmaps(grids: Sequence[GapGrid], counts: FailureGrid | None, limit: float) -> Svg:
    """One chain setting's heatmaps: one panel per Δ (the study's Figure 5: metric rows x
    seed columns, centred at 0, gaps printed) and, last, how many of the Δs failed per cell
    (Figure 6); see `heatmap_figure`."""
    return heatmap_figure(grids, counts, limit)


def curves(mc: MetricCurves) -> Svg:
    """Figure 7 of the study (curve_figures.curves_figure)."""
    return curves_figure(mc)


def stability(sf: StabilityFigure) -> Svg:
    """The stability panels (curve_figures.stability_figure)."""
    return stability_figure(sf)


# ----- photographs -----------------------------------------------------------------------
def _rgb(image: PILImage.Image) -> PILImage.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


def thumbnail_jpeg(image: PILImage.Image, long_side: int = THUMB_PX, quality: int = JPEG_QUALITY) -> tuple[bytes, int, int]:
    """A downsized full view: the whole picture at a glance (JPEG: small, and the view is
    downsized anyway, so the codec's artifacts are not what the reader looks at). Reduced
    by the largest whole factor first (reducing_gap 1), then Lanczos: half the time of a
    full Lanczos pass at this size, and the 1:1 crop is where the details are read."""
    im = _rgb(image).copy()
    im.thumbnail((long_side, long_side), PILImage.Resampling.LANCZOS, reducing_gap=1.0)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue(), im.width, im.height


def centre_crop_png(image: PILImage.Image, size: int = CROP_PX) -> tuple[bytes, int, int]:
    """The centre at native resolution, losslessly: the noise and artifacts the chain added
    are exactly what a lossy re-encode would hide or invent. zlib level 2: on chain images
    as small as level 6 (within 3 %, smaller on noisy photos) in half the time."""
    im = _rgb(image)
    w, h = im.size
    cw, ch = min(size, w), min(size, h)
    left, top = (w - cw) // 2, (h - ch) // 2
    crop = im.crop((left, top, left + cw, top + ch))
    buf = io.BytesIO()
    crop.save(buf, "PNG", compress_level=2)
    return buf.getvalue(), cw, ch
