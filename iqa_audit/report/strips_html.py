"""The image strips: every run of each metric chain at the strip steps (model.STRIP_STEPS)
and its last step, each picture downsized whole, the first run's also as a 1:1 centre
crop where noise shows, with every metric's raw and normalised score under it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image as PILImage

from iqa_audit.report import figures
from iqa_audit.report.figure_cache import Entry, FigureCache
from iqa_audit.report.markup import data_uri, e
from iqa_audit.report.model import STRIP_STEPS, StripImage, chain_anchor, fmt, gap_strips
from iqa_audit.report.store_images import ImageSource, encode_all, encode_picture, missing_image
from iqa_audit.results.records import Record


def _strip_frame(im: PILImage.Image) -> tuple:
    """What a strip shows of one picture: ((JPEG, w, h) of the whole image downsized,
    (PNG, w, h) of its 1:1 centre crop, (w, h) of the picture in pixels)."""
    return figures.thumbnail_jpeg(im), figures.centre_crop_png(im), im.size


def _frame_entry(frame: tuple) -> Entry:
    (tj, tw, th), (cp, cw, ch), (w, h) = frame
    return Entry((tj, cp), {"thumb": [tw, th], "crop": [cw, ch], "size": [w, h]})


def _entry_frame(entry: Entry) -> tuple:
    (tw, th), (cw, ch), (w, h) = entry.meta["thumb"], entry.meta["crop"], entry.meta["size"]
    tj, cp = entry.parts
    return (tj, int(tw), int(th)), (cp, int(cw), int(ch)), (int(w), int(h))


def _cached_frame(images: ImageSource, cache: FigureCache, image: str) -> tuple | None:
    params = {"long_side": figures.THUMB_PX, "quality": figures.JPEG_QUALITY, "crop": figures.CROP_PX}
    return encode_picture(
        images, cache, image, "strip_frame", params, _strip_frame, to_entry=_frame_entry, from_entry=_entry_frame
    )


def _score_lines(item: StripImage) -> str:
    """Under an image: each metric's raw score and its normalised score (0–100, higher =
    better; marked when it leaves [0, 100], i.e. the metric's typical range)."""
    rows = []
    for sc in item.scores:
        norm = fmt(sc.normalised, 3)
        outside = sc.normalised is not None and not 0 <= sc.normalised <= 100
        rows.append(
            f'<span class="sc{" out" if outside else ""}" title="{e(sc.metric_id)}: raw {e(fmt(sc.raw, 6))}, '
            f'normalised {e(norm)}{" (outside 0–100)" if outside else ""}"><b>{e(sc.metric_id)}</b> '
            f"{e(fmt(sc.raw, 3))} → {e(norm)}</span>"
        )
    return f'<div class="scores">{"".join(rows)}</div>' if rows else ""


def _strip_cell(item: StripImage, frames: Mapping[str, Any], *, crop: bool = True) -> str:
    """One step of a strip: the whole image, its 1:1 centre crop (`crop`), the scores."""
    got = frames.get(item.image)
    if got is None:
        return f'<div class="frame"><b>step {item.step}</b>{missing_image(item.image)}{_score_lines(item)}</div>'
    (tj, tw, th), (cp, cw, ch), (w, h) = got
    crop_html = (
        (
            f'<img class="crop" src="{data_uri("image/png", cp)}" width="{cw}" height="{ch}" '
            f'alt="step {item.step}, centre {cw}×{ch} at 1:1 pixels">'
        )
        if crop
        else ""
    )
    return (
        f'<div class="frame"><b>step {item.step}</b> <small>{w}×{h}</small>'
        f'<img src="{data_uri("image/jpeg", tj)}" width="{tw}" height="{th}" alt="step {item.step}, whole image">'
        f"{crop_html}{_score_lines(item)}</div>"
    )


def strip_section(cells: Sequence[Record], images: ImageSource, cache: FigureCache) -> str:
    """The "Image strips" section, grouped by chain setting; the first run of each chain
    carries its anchor (model.chain_anchor), which the outcome rows link to. Says so when the
    store is not here rather than failing."""
    strips = gap_strips(cells)
    if not strips:
        return '<section id="strips"><h2>Image strips</h2><p>No metric chains in this run.</p></section>'
    frames = encode_all((it.image for st in strips for it in st.images), lambda image: _cached_frame(images, cache, image))
    parts = [
        '<section id="strips"><h2>Image strips</h2>',
        (
            f'<p class="note">Every run of each chain at steps {", ".join(map(str, STRIP_STEPS))} and its last step: '
            f"the whole image downsized; for the first run also the centre {figures.CROP_PX}×{figures.CROP_PX} pixels "
            "at 1:1, where noise and artifacts show (lossless PNG: one run's crops are most of the page's weight, so "
            "later runs show the whole image only); under each image every metric's score: raw → normalised (0–100, "
            'higher = better; <span class="sc out">red</span> outside 0–100, the metric\'s typical range).</p>'
        ),
    ]
    if images.root is None or not images.root.is_dir():
        parts.append(f'<p class="warn">The store {e(images.root)} is not here, so no pictures could be shown.</p>')
    setting = None
    chain = None
    for s in strips:
        if s.setting != setting:
            if setting is not None:
                parts.append("</div>")
            setting = s.setting
            parts.append(f'<h3>{e(setting)}</h3><div class="strips">')
        first = (s.setting, s.seed) != chain  # strips come run by run; the first run's gets the crops and the anchor
        chain = (s.setting, s.seed)
        cells = "".join(_strip_cell(it, frames, crop=first) for it in s.images) or '<div class="missing">no images recorded</div>'
        anchor = f' id="{chain_anchor(s.setting, s.seed)}"' if first else ""
        parts.append(f'<div class="strip"{anchor}><div class="seed">{e(s.seed)}<small>run {e(s.run)}</small></div>{cells}</div>')
    parts.append("</div></section>")
    return "\n".join(parts)
