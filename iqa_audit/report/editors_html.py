"""The editor audit table: one row per editor chain with its first and last picture, each
fidelity check's measured value against its tolerance (coloured by verdict, linked to its
test), and when the editor's own reasoning first called its input noisy (the study's
self-evaluation delay).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from iqa_audit.report.figure_cache import FigureCache
from iqa_audit.report.markup import data_uri, e, status_class
from iqa_audit.report.model import StripImage, cell_anchor, chain_anchor, editor_rows, ends_of_chain, fmt
from iqa_audit.report.sentences import describe_self_evaluation
from iqa_audit.report.store_images import ImageSource, encode_all, missing_image, thumbnail
from iqa_audit.results.records import Record

EDITOR_THUMB_PX = 72  # the step-0 / last-step pair in each editor-table row


def _thumb(item: StripImage, thumbs: Mapping[str, Any]) -> str:
    got = thumbs.get(item.image)
    if got is None:
        return missing_image(item.image)
    data, w, h = got
    return f'<img src="{data_uri("image/jpeg", data)}" width="{w}" height="{h}" alt="step {item.step}" title="step {item.step}">'


def editor_section(cells: Sequence[Record], images: ImageSource, cache: FigureCache) -> str:
    """The "Editor audit" section. Each row's id is its chain's anchor (model.chain_anchor),
    which the outcome rows link to; its thumbnails are EDITOR_THUMB_PX on the long side."""
    checks, rows = editor_rows(cells)
    if not rows:
        return '<section id="editors"><h2>Editor audit</h2><p>No editor cells in this run.</p></section>'
    thumbs = encode_all(
        (it.image for row in rows for it in ends_of_chain(row.images)),
        lambda image: thumbnail(images, cache, image, EDITOR_THUMB_PX),
    )
    head = "".join(f"<th>{e(c.replace('_', ' '))}</th>" for c in checks)  # spaces: eight check names wrap
    body = []
    for row in rows:
        tds = []
        for c in checks:
            rec = row.checks.get(c)
            if rec is None:
                tds.append('<td class="na">—</td>')
                continue
            tds.append(
                f'<td class="{status_class(rec)}" title="{e(rec.message)}"><a href="#{cell_anchor(rec.cell)}">'
                f"{e(fmt(rec.value, 3))}<small> / {e(fmt(rec.tolerance, 3))}</small></a></td>"
            )
        ends = ends_of_chain(row.images)
        pair = "".join(_thumb(it, thumbs) for it in ends)
        span = f"{ends[0].step}→{ends[-1].step}" if ends else ""
        se = describe_self_evaluation(row.self_evaluation)
        why = row.self_evaluation.get("why") if row.self_evaluation and not row.self_evaluation.get("available") else None
        se_html = e(se) + (f' <small class="dim">({e(why)})</small>' if why and why != "this editor returns no reasoning" else "")
        body.append(
            f'<tr id="{chain_anchor(row.setting, row.seed)}"><th>{e(row.editor)} <small>v{e(row.version)}</small></th>'
            f'<td>{e(row.task)}</td><td>{e(row.seed)}</td><td class="ends">{pair}<small>{e(span)}</small></td>'
            f'{"".join(tds)}<td class="se">{se_html}</td></tr>'
        )
    return f"""<section id="editors"><h2>Editor audit</h2>
<p class="note">Each cell: the measured value / its tolerance (green kept, red failed, amber a failure the baseline expects);
hover for the measurement, click for the test. Last column: when the editor's own reasoning first said its input was
noisy (the study's self-evaluation delay).</p>
<table class="editors"><thead><tr><th>editor</th><th>task</th><th>seed</th><th>first → last</th>{head}<th>self-evaluation</th></tr></thead>
<tbody>{"".join(body)}</tbody></table></section>"""
