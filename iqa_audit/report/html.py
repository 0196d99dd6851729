"""reports/<run>/index.html: one self-contained page a researcher can open from disk or mail.

Everything is inline: CSS in a <style>, figures as SVG, photographs as base64 data URIs,
no scripts, no fonts, no links outside the page. Every piece of text that came from outside
the code (seed and file names, editor messages, reasoning, prompts, versions) goes through
`html.escape`: a seed folder or a model's reasoning may hold markup, and the page must
show it as text, never run it.

Order on the page: header (what was audited, outcome counts), what changed since the
compared run, the gap heatmaps and failure counts (the study's Figures 5 and 6), the score
curves (Figure 7), the editor audit, the chains' artifact profiles, the image strips, then one row per test outcome that
every heatmap cell and table cell links to.

The sections are built in their own modules; this one lays out the page (head, CSS,
navigation, footer) and writes it:
- header_html: the header (what was audited, outcome counts, metrics, editors, seeds);
- changes_html: what changed since the compared run;
- gaps_html: the gap heatmaps, failure counts and score curves;
- families_html: which metric each setting fools, and the seeds' clean scores;
- findings_html: stability under content change, detection delays;
- editors_html: the editor audit table;
- profiles_html: each chain's artifact profile, and the simulator closest to each real chain;
- strips_html: the image strips (pictures read through store_images);
- outcomes_html: the test outcomes and the run's details.
"""

from __future__ import annotations

import time
from pathlib import Path

from iqa_audit.core.files import write_file_atomic
from iqa_audit.report.changes_html import changes_section
from iqa_audit.report.compare import compare_records
from iqa_audit.report.editors_html import editor_section
from iqa_audit.report.families_html import fooled_section
from iqa_audit.report.figure_cache import FigureCache
from iqa_audit.report.findings_html import delay_section, stability_section
from iqa_audit.report.gaps_html import curves_section, heatmap_section
from iqa_audit.report.header_html import page_header
from iqa_audit.report.markup import e
from iqa_audit.report.outcomes_html import details_section, outcomes_section
from iqa_audit.report.profiles_html import profile_section
from iqa_audit.report.store_images import ImageSource
from iqa_audit.report.strips_html import strip_section
from iqa_audit.results.writer import RunResults

# The record kinds (results.records) of the metric audit; "editor" is the editor audit's.
METRIC_KINDS = frozenset({"gap", "stability", "sanity", "metric-status"})


# ----- the page --------------------------------------------------------------------------
def write_report(
    results: RunResults, run_dir: Path, *, compare: RunResults | None = None, figure_cache: FigureCache | None = None
) -> Path:
    """Write run_dir/index.html from a run's results and return its path.

    `compare`: another run's results; adds the "changed since" section. `figure_cache`:
    where the photographs' thumbnails and crops are kept; by default under the run's store
    (`<store>/figures/`), `FigureCache(None)` for none."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    page = render_report(results, compare=compare, figure_cache=figure_cache)
    # Through a temporary file and a rename: a reader never sees half a page, and a full
    # disk leaves no temporary file behind (files.write_file_atomic). Raises OSError.
    return write_file_atomic(run_dir / "index.html", page.encode("utf-8"))


def render_report(results: RunResults, *, compare: RunResults | None = None, figure_cache: FigureCache | None = None) -> str:
    """The page as a string, drawn from the typed results (their URLs already redacted:
    results.writer.RunResults). Thumbnails and crops come from `figure_cache` (default:
    the run's store's) when their images are unchanged: the same bytes, without decoding
    or encoding them. The figures are written as SVG each time (milliseconds)."""
    started = time.perf_counter()
    summary, run, cells = results.summary, results.run, results.cells
    images = ImageSource(run.get("store"))
    cache = figure_cache if figure_cache is not None else FigureCache(images.root)
    changes = None
    if compare is not None:
        changes = compare_records(
            compare.cells, cells, old_run=str(compare.run.get("name", "?")), new_run=str(run.get("name", "?"))
        )

    # A run of one audit alone (--metrics-only, --editors-only) shows that audit's sections
    # only; a run without any cell shows every section, each saying what it lacks.
    kinds = {record.kind for record in cells}
    audits = {"metric": bool(kinds & METRIC_KINDS), "editor": "editor" in kinds}
    if not any(audits.values()):
        audits = dict.fromkeys(audits, True)
    sections = [
        ("changes", "Changed since", changes_section(changes, compare)) if changes is not None else None,
        (
            "heatmaps",
            "Gap heatmaps",
            heatmap_section(cells, run.get("evidence_threshold"), summary.get("excluded_settings") or ()),
        )
        if audits["metric"]
        else None,
        ("families", "Which metric each setting fools", fooled_section(cells)) if audits["metric"] else None,
        ("curves", "Score curves", curves_section(cells)) if audits["metric"] else None,
        ("stability", "Stability", stability_section(cells)) if audits["metric"] else None,
        ("editors", "Editor audit", editor_section(cells, images, cache)) if audits["editor"] else None,
        ("profiles", "Artifact profiles", profile_section(results.profiles)),
        ("delays", "Detection delay", delay_section(summary)),
        ("strips", "Image strips", strip_section(cells, images, cache)) if audits["metric"] else None,
        ("outcomes", "Test outcomes", outcomes_section(cells)),
        ("audited", "Run details", details_section(summary)),
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
        f"{page_header(summary, cells)}\n<nav>{nav}</nav>\n<main>\n{body}\n</main>\n"
        f"<footer>Written by iqa-audit {e(run.get('iqa_audit', ''))} in {took:.1f} s from results.json "
        f"(format {e(summary.get('format', '?'))}).</footer>\n</body></html>\n"
    )


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
.interrupted{background:#fde2e1;border:2px solid #c0392b;padding:6px 10px;border-radius:4px}
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
figure.plot a:hover rect.cell,figure.plot a:focus rect.cell{stroke:#111;stroke-width:2}
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
