"""reports/<run>/index.html: one self-contained page a researcher can open from disk or mail.

Everything is inline: CSS in a <style>, figures and photographs as base64 data URIs, no
scripts, no fonts, no links outside the page. Every piece of text that came from outside
the code (seed and file names, editor messages, reasoning, prompts, versions) goes through
`html.escape`: a seed folder or a model's reasoning may hold markup, and the page must
show it as text, never run it.

Order on the page: header (what was audited, outcome counts), what changed since the
compared run, the gap heatmaps and failure counts (the study's Figures 5 and 6), the score
curves (Figure 7), the editor audit, the image strips, then one row per test outcome that
every heatmap cell and table cell links to.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image as PILImage

from ..records import Record, parse_all
from . import figures
from .changes_html import changes_section
from .compare import compare_records
from .findings_html import delay_section as _delay_section
from .findings_html import stability_section as _stability_section
from .markup import data_uri, e
from .store_images import ImageSource
from .store_images import encode_picture as encode_picture
from .store_images import thumbnail as thumbnail
from .store_images import encode_all as _encode_all
from .store_images import missing_image as _missing
from .outcomes_html import details_section as _details_section
from .outcomes_html import outcomes_section as _outcomes_section
from .header_html import page_header as _header
from .gaps_html import heatmap_plots as heatmap_plots
from .gaps_html import curves_section as _curves_section
from .gaps_html import heatmap_section as _heatmap_section
from .editors_html import editor_section as _editor_section
from ..files import write_file_atomic
from ..urls import redact_urls
from .figure_cache import Entry, FigureCache
from .model import STRIP_STEPS, StripImage, chain_anchor, fmt, gap_strips


# ----- the page --------------------------------------------------------------------------
def write_report(
    results: Mapping[str, Any],
    run_dir: Path,
    *,
    compare: Mapping[str, Any] | None = None,
    cfg: Any = None,
    figure_cache: FigureCache | None = None,
) -> Path:
    """Write run_dir/index.html from a results.json dict and return its path.

    `compare`: another run's results.json dict; adds the "changed since" section.
    `figure_cache`: where drawn figures and thumbnails are kept; by default under the
    run's store (`<store>/figures/`), `FigureCache(None)` for none.
    `cfg` is accepted for older callers and ignored: everything needed is in `results`."""
    del cfg
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    page = render_report(results, compare=compare, figure_cache=figure_cache)
    # Through a temporary file and a rename: a reader never sees half a page, and a full
    # disk leaves no temporary file behind (files.write_file_atomic). Raises OSError.
    return write_file_atomic(run_dir / "index.html", page.encode("utf-8"))


def render_report(
    results: Mapping[str, Any], *, compare: Mapping[str, Any] | None = None, figure_cache: FigureCache | None = None
) -> str:
    """The page as a string. Figures and thumbnails come from `figure_cache` (default: the
    run's store's) when their inputs are unchanged: the same bytes, without drawing them.
    The `cells` of both results are parsed here (records.parse_all: RecordError on a
    malformed record; the previous release's are read)."""
    started = time.perf_counter()
    # results.json is redacted when written; one written elsewhere, or an older one to
    # compare with, may not be: no URL credentials reach the page either way.
    results = redact_urls(results)
    compare = redact_urls(compare) if compare is not None else None
    run = results.get("run", {}) or {}
    cells = parse_all(results.get("cells", []) or [])
    images = ImageSource(run.get("store"))
    cache = figure_cache if figure_cache is not None else FigureCache(images.root)
    changes = None
    if compare is not None:
        changes = compare_records(
            parse_all(compare.get("cells", []) or []),
            cells,
            old_run=str(compare.get("run", {}).get("name", "?")),
            new_run=str(run.get("name", "?")),
        )

    sections = [
        ("changes", "Changed since", changes_section(changes, compare)) if changes is not None else None,
        (
            "heatmaps",
            "Gap heatmaps",
            _heatmap_section(cells, cache, run.get("evidence_threshold"), results.get("excluded_settings") or ()),
        ),
        ("curves", "Score curves", _curves_section(cells, cache)),
        ("stability", "Stability", _stability_section(cells, cache)),
        ("editors", "Editor audit", _editor_section(cells, images, cache)),
        ("delays", "Detection delay", _delay_section(results)),
        ("strips", "Image strips", _strip_section(cells, images, cache)),
        ("outcomes", "Test outcomes", _outcomes_section(cells)),
        ("audited", "Run details", _details_section(results)),
    ]
    sections = [s for s in sections if s is not None]
    nav = " ".join(f'<a href="#{sid}">{e(title)}</a>' for sid, title, _ in sections)
    body = "\n".join(body for _, _, body in sections)
    took = time.perf_counter() - started
    title = f"iqa-audit · {run.get('name', 'run')}"
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{CSS}</style></head>\n<body>\n"
        f"{_header(results, cells)}\n<nav>{nav}</nav>\n<main>\n{body}\n</main>\n"
        f"<footer>Written by iqa-audit {e(run.get('iqa_audit', ''))} in {took:.1f} s from results.json "
        f"(format {e(results.get('format', '?'))}).</footer>\n</body></html>\n"
    )


# ----- image strips ----------------------------------------------------------------------
def _strip_frame(im: PILImage.Image) -> tuple:
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
        return f'<div class="frame"><b>step {item.step}</b>{_missing(item.image)}{_score_lines(item)}</div>'
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


def _strip_section(cells: Sequence[Record], images: ImageSource, cache: FigureCache) -> str:
    strips = gap_strips(cells)
    if not strips:
        return '<section id="strips"><h2>Image strips</h2><p>No metric chains in this run.</p></section>'
    frames = _encode_all((it.image for st in strips for it in st.images), lambda image: _cached_frame(images, cache, image))
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


CSS = """
:root{--pass:#1a7f37;--pass-bg:#e7f5ea;--fail:#b42318;--fail-bg:#fde8e6;--known:#9a6700;--known-bg:#fff4d6;--line:#d8dde3;--dim:#5f6b7a}
*{box-sizing:border-box}
body{font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2328;margin:0;background:#fafbfc}
header,main,nav,footer{max-width:1560px;margin:0 auto;padding:0 20px}
header{padding-top:14px}
h1{font-size:21px;margin:0 0 4px}
h1 .run{font-weight:400;color:var(--dim)}
h2{font-size:17px;margin:26px 0 6px;padding-bottom:3px;border-bottom:2px solid #1f2328}
h3{font-size:14px;margin:14px 0 6px}
h3 small,h2 small{font-weight:400;color:var(--dim)}
.lede{margin:2px 0 8px;color:#333;max-width:980px}
.note{color:var(--dim);margin:2px 0 8px;max-width:1100px}
.warn{color:var(--fail);font-weight:600}
.dim{color:var(--dim)}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
nav{position:sticky;top:0;background:#fafbfcee;border-bottom:1px solid var(--line);padding:6px 20px;z-index:5;margin-top:8px}
nav a{margin-right:14px;text-decoration:none;color:#0b57d0;font-weight:600}
a{color:#0b57d0}
.outcomes{margin:6px 0}
.sep{color:#aaa;margin:0 4px}
.badge{display:inline-block;border-radius:10px;padding:1px 8px;font-weight:600;background:#eef0f2;color:#333;font-size:12px}
.badge.passed{background:var(--pass-bg);color:var(--pass)}
.badge.failed,.badge.error{background:var(--fail-bg);color:var(--fail)}
.badge.xfailed,.badge.xpassed{background:var(--known-bg);color:var(--known)}
.facts{display:flex;flex-wrap:wrap;gap:4px 22px;margin:8px 0}
.facts div{display:flex;gap:6px}
.facts dt{color:var(--dim)}
.facts dd{margin:0;font-weight:500}
.audited{display:grid;grid-template-columns:minmax(0,1.35fr) minmax(0,1fr);gap:20px;align-items:start}
.audited p{margin:2px 0 8px}
.chip{display:inline-block;background:#eef2f7;border:1px solid #dde3ea;border-radius:4px;padding:0 6px;margin:1px 2px;font-size:12px}
table{border-collapse:collapse;background:white;margin:4px 0 10px}
th,td{border:1px solid var(--line);padding:3px 6px;text-align:left;vertical-align:top}
thead th{background:#f0f2f5;font-weight:600}
table.compact td,table.compact th{padding:2px 6px}
caption{caption-side:top;text-align:left;color:var(--dim);padding:2px 0}
td.pass{background:var(--pass-bg)} td.fail{background:var(--fail-bg)} td.known{background:var(--known-bg)} td.part{background:#fff4d6}
td.inconclusive{background:repeating-linear-gradient(45deg,#f1f1f1 0 4px,#e4e4e4 4px 8px);color:#555}
td.pass a{color:var(--pass)} td.fail a{color:var(--fail);font-weight:600} td.known a{color:var(--known)}
td.na{color:#999;text-align:center}
.nowrap{white-space:nowrap}
table.verdicts td{text-align:center;min-width:90px}
td a{text-decoration:none}
.v{font-weight:700} .v.pass{color:var(--pass)} .v.fail{color:var(--fail)} .v.inconclusive{color:var(--dim)}
.plots{display:flex;flex-wrap:wrap;gap:10px 14px;align-items:flex-start}
figure.plot{margin:0;flex:0 1 auto;min-width:0;background:white;border:1px solid var(--line)}
.hm{position:relative}
.hm img{display:block;width:100%;height:auto}
.hit{position:absolute;display:block}
.hit:hover,.hit:focus{outline:2px solid #111;outline-offset:-1px}
table.editors td.ends{white-space:nowrap}
table.editors td.ends img{vertical-align:middle;margin-right:3px;border:1px solid var(--line)}
table.editors td.se{max-width:340px;color:#333}
table.editors tbody th{font-weight:600;white-space:nowrap}
table.delays td{white-space:nowrap}
.scroll{overflow-x:auto;max-width:100%}
.strips{display:flex;flex-direction:column;gap:8px}
.strip{display:flex;gap:8px;align-items:flex-start;background:white;border:1px solid var(--line);padding:6px}
.strip .seed{width:130px;flex:none;font-weight:600;word-break:break-word}
.strip .seed small{display:block;font-weight:400;color:var(--dim)}
.frame{display:flex;flex-direction:column;gap:3px;font-size:12px}
.frame small{color:var(--dim)}
.frame img{display:block;border:1px solid var(--line)}
.frame img.crop{image-rendering:pixelated}
.scores{display:flex;flex-direction:column;font-size:11px;line-height:1.3;max-width:176px}
.sc b{font-weight:600} .sc.out{color:var(--fail)}
.badge.regression{background:var(--fail);color:white} .badge.warning{background:var(--known-bg);color:var(--known)}
.missing{width:120px;height:90px;background:#f3f3f3;color:#888;font-size:11px;display:flex;flex-direction:column;justify-content:center;align-items:center;border:1px dashed #ccc}
table.outcomes{width:100%;table-layout:fixed}
table.outcomes th:nth-child(1){width:24%} table.outcomes th:nth-child(2){width:7%} table.outcomes th:nth-child(3){width:28%}
table.outcomes tr.fail td:first-child{border-left:4px solid var(--fail)}
table.outcomes pre.error{white-space:pre-wrap;margin:0 0 4px;font-size:12px}
table.outcomes tr.pass td:first-child{border-left:4px solid var(--pass)}
table.outcomes tr.known td:first-child{border-left:4px solid var(--known)}
table.outcomes tr.inconclusive td:first-child{border-left:4px dotted #999}
tr:target td,tr:target th{background:#fff1a8 !important}
.strip:target{outline:3px solid #e0b400}
details{margin:4px 0}
pre{background:white;border:1px solid var(--line);padding:8px;overflow:auto;max-height:420px}
footer{color:var(--dim);padding:20px;font-size:12px}
@media (max-width:900px){.audited{grid-template-columns:1fr}}
"""
