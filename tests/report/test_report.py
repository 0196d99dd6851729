"""The HTML report, the run comparison and the pytest-html support.

The page is checked the way a reader uses it: every section is there, every embedded
picture decodes and every figure is well-formed SVG, every heatmap cell and table cell
leads to its test's row, and text from outside (seed names, editor messages, reasoning)
shows as text, never as markup.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from iqa_audit.report import figures
from iqa_audit.report.changes_html import changes_section
from iqa_audit.report.compare import compare_results, moved_beyond
from iqa_audit.report.html import write_report
from iqa_audit.report.model import cell_anchor, chain_anchor, fmt_gap, gap_grids, gap_limit
from iqa_audit.results.records import parse, parse_all
from iqa_audit.results.writer import RunResults, detection_delays
from iqa_audit.store.store import Store
from tests.conftest import textured_image
from tests.tiny_audit import GAP_TEST

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]

EVIL = '<script>alert("x")</script>'
SETTINGS = ("codec-jpeg-replicate", "sim-noise-tint-replicate")
SEEDS = ("grid", "faces$1 " + EVIL)  # a '$' was matplotlib math; the script must stay text
METRICS = {"noticer": ("iqa_audit:noticer", "noticer-2"), "misser": ("pyiqa:misser", "pyiqa-0.1.16")}
DELTAS = (3, 6)
STEPS = 6


# ----- a synthetic run -------------------------------------------------------------------
def _chain(store: Store, salt: int) -> dict[str, dict[str, str]]:
    """Two runs of steps 0..STEPS: small textured images, stored like real chain steps."""
    out = {}
    for run in ("0", "1"):
        out[run] = {}
        for step in range(STEPS + 1):
            digest, ext = store.put_image(textured_image(96, 64, seed=salt * 100 + step))
            out[run][str(step)] = f"{digest}.{ext}"
    return out


def typed(results: dict) -> RunResults:
    """A results.json dict as the typed results the report takes (results.writer.RunResults)."""
    return RunResults.from_json(results)


def synthetic_results(root: Path, *, name: str = "synthetic") -> dict:
    """A results.json dict shaped like results.build_results makes it, over a tiny store:
    2 settings x 2 seeds x 2 metrics x 2 Δs of gap cells, and 2 editor chains x 2 checks."""
    store = Store(root)
    cells = []
    for si, setting in enumerate(SETTINGS):
        for di, seed in enumerate(SEEDS):
            images = _chain(store, si * 10 + di)
            for metric_id, (metric, version) in METRICS.items():
                # noticer: the score falls with each step; misser: it rises (a miss).
                slope = -2.5 if metric_id == "noticer" else 1.5
                means = {str(k): 60.0 + slope * k * (si + 1) for k in (0, 1, *DELTAS)}
                for d in DELTAS:
                    gap = means[str(d)] - means["1"]
                    passed = gap < 0
                    cell = f"gap:{metric_id}-{setting}-{seed}-d{d}"
                    outcome = "passed" if passed else ("xfailed" if si == 0 else "failed")
                    cells.append(
                        {
                            "kind": "gap",
                            "cell": cell,
                            "metric": metric,
                            "metric_id": metric_id,
                            "version": version,
                            "range": {"lo": 0.0, "hi": 1.0, "higher_better": True, "source": "Banana100 Table 2"},
                            "setting": setting,
                            "editor": setting.rsplit("-", 1)[0],
                            "task": "replicate",
                            "seed": seed,
                            "delta_step": d,
                            "value": gap,
                            "passed": passed,
                            "runs": 2,
                            "mean_normalised": means,
                            "spread_normalised": {k: 1.0 for k in means},
                            "raw": {"0": {k: v / 100 for k, v in means.items()}},
                            "normalised": {"0": means},
                            "images": images,
                            "outcome": outcome,
                            "nodeid": f"tests_metrics/test_gap.py::test_gap[{cell[4:]}]",
                            "detection_delay": (
                                {
                                    "per_run": [3, 6],
                                    "mean": 4.5,
                                    "sd": 2.1213,
                                    "noticed_runs": 2,
                                    "runs": 2,
                                    "resolution": list(DELTAS),
                                }
                                if passed
                                else {
                                    "per_run": [None, None],
                                    "mean": None,
                                    "sd": None,
                                    "noticed_runs": 0,
                                    "runs": 2,
                                    "resolution": list(DELTAS),
                                }
                            ),
                        }
                    )
    # Stability (the study's Figure 7): the misser jumps with every added fruit, the noticer does not.
    add_images = _chain(store, 77)
    for metric_id, (metric, version) in METRICS.items():
        jumpy = metric_id == "misser"
        rep = {str(k): 70.0 - 2.0 * k + (0.4 if k % 2 else -0.4) for k in range(STEPS + 1)}
        add = {str(k): rep[str(k)] + ((6.0 * k + (4 if k % 2 else -4)) if jumpy else 0.3) for k in range(STEPS + 1)}
        ratio = 4.4 if jumpy else 1.1
        cell = f"stability:{metric_id}-add-fruits-grid"
        cells.append(
            {
                "kind": "stability",
                "cell": cell,
                "metric": metric,
                "metric_id": metric_id,
                "version": version,
                "editor": "sim-noise-tint",
                "task": "add-fruits",
                "setting": "sim-noise-tint-add-fruits",
                "replicate_setting": "sim-noise-tint-replicate",
                "seed": "grid",
                "passed": not jumpy,
                "value": ratio,
                "tolerance": 3.0,
                "add_spread": 3.0 * ratio,
                "replicate_spread": 3.0,
                "differences": 5,
                "message": f"{metric_id}: ratio {ratio}",
                "curves": {"add": {"0": add}, "replicate": {"0": rep}},
                "images": add_images,
                "outcome": "failed" if jumpy else "passed",
                "nodeid": f"tests_metrics/test_stability.py::test_stability[{cell[10:]}]",
            }
        )
    for ei, (editor, reasoning) in enumerate((("identity", False), ("sim-crop", True))):
        setting = f"{editor}-replicate"
        images = _chain(store, 90 + ei)
        se = (
            {"available": True, "per_run": [4, None], "mean": 4.0, "sd": None, "noticed_runs": 1, "runs": 2}
            if reasoning
            else {"available": False, "why": "this editor returns no reasoning"}
        )
        for check, value, tol in (("aspect_ratio", 0.0 if editor == "identity" else 0.021, 0.005), ("tint", 0.4 + ei, 3.0)):
            passed = value <= tol
            cell = f"editor:{check}-{setting}-grid"
            cells.append(
                {
                    "kind": "editor",
                    "cell": cell,
                    "check": check,
                    "setting": setting,
                    "editor": editor,
                    "version": "1",
                    "task": "replicate",
                    "seed": "grid",
                    "passed": passed,
                    "value": value,
                    "tolerance": tol,
                    "message": f"{check} measured {value} (tolerance {tol}) {EVIL}",
                    "details": {"runs": []},
                    "images": images,
                    "self_evaluation": se,
                    "outcome": "passed" if passed else "failed",
                    "nodeid": f"tests_editors/test_fidelity.py::test_{check}[{setting}-grid]",
                }
            )
    store.close()
    metrics = {
        mid: {"name": m, "version": v, "range": {"lo": 0.0, "hi": 1.0, "higher_better": True, "source": "Banana100 Table 2"}}
        for mid, (m, v) in METRICS.items()
    }
    editors = {
        c["setting"]: {"editor": c["editor"], "version": c["version"], "task": "replicate"}
        for c in cells
        if c["kind"] == "editor"
    }
    counts: dict[str, int] = {}
    for c in cells:
        counts[c["outcome"]] = counts.get(c["outcome"], 0) + 1
    return {
        "format": "iqa-audit-results/1",
        "run": {
            "name": name,
            "profile": "quick",
            "started": "2026-01-01T00:00:00",
            "duration_s": 12.5,
            "iqa_audit": "0.1.0",
            "machine": {"python": "3.11", "cpus": 2},
            "outcomes": counts,
            "store": str(root),
            "config": {
                "runs": 2,
                "steps": STEPS,
                "delta_steps": list(DELTAS),
                "long_side": 512,
                "audit_runs": 1,
                "audit_steps": STEPS,
            },
        },
        "metrics": metrics,
        "editors": editors,
        "cells": cells,
        "detection_delays": detection_delays(parse_all(cells)),
        "excluded_settings": [
            {
                "setting": "sim-noise-tint-reconstruct",
                "task": "reconstruct",
                "why": "reconstruction changes the content on purpose",
            }
        ],
    }


# Built and rendered once per module: drawing the figures is the slow part. Tests that
# change the results work on a deep copy.
@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    return synthetic_results(tmp_path_factory.mktemp("report") / "store")


@pytest.fixture(scope="module")
def page(results, tmp_path_factory) -> str:
    run_dir = tmp_path_factory.mktemp("run")
    path = write_report(typed(results), run_dir)
    assert path == run_dir / "index.html"
    return path.read_text(encoding="utf-8")


def one_setting(results: dict, setting: str = SETTINGS[0]) -> dict:
    """A deep copy keeping one chain setting's gap cells (and the editor cells): fewer
    figures to draw for tests that look at something else."""
    out = copy.deepcopy(results)
    out["cells"] = [c for c in out["cells"] if c["kind"] == "editor" or c["setting"] == setting]
    return out


# ----- reading the page ------------------------------------------------------------------
class Page(HTMLParser):
    """Ids, links, images and table rows of a page, as a browser would see them."""

    def __init__(self, text: str):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.images: list[dict] = []
        self.svgs: list[dict] = []  # the figures' <svg> elements' attributes
        self.rows: dict[str, list[str]] = {}  # table class -> ids of its body rows
        self._tables: list[str] = []
        self._in_body = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and a.get("href", "").startswith("#"):
            self.links.append(a["href"][1:])
        if tag == "img":
            self.images.append(a)
        if tag == "svg":
            self.svgs.append(a)
        if tag == "table":
            self._tables.append(a.get("class", ""))
        if tag == "tbody":
            self._in_body = True
        if tag == "tr" and self._in_body and self._tables:
            self.rows.setdefault(self._tables[-1], []).append(a.get("id", ""))

    def handle_endtag(self, tag):
        if tag == "table" and self._tables:
            self._tables.pop()
        if tag == "tbody":
            self._in_body = False


def decode_data_uri(uri: str) -> PILImage.Image:
    m = re.fullmatch(r"data:(image/(?:png|jpeg));base64,([A-Za-z0-9+/=]+)", uri)
    assert m, uri[:60]
    im = PILImage.open(io.BytesIO(base64.b64decode(m.group(2), validate=True)))
    im.load()
    assert im.format == {"image/png": "PNG", "image/jpeg": "JPEG"}[m.group(1)]
    return im


def parse_svg(markup: str) -> ET.Element:
    """A figure's markup (an Svg's body, or a whole <svg> element) as XML: malformed, it raises."""
    markup = markup if markup.startswith("<svg") else f"<svg>{markup}</svg>"
    return ET.fromstring(markup.replace(' xmlns="http://www.w3.org/2000/svg"', "", 1))


def svg_cells(markup: str) -> dict[str, dict]:
    """Each linked cell of a figure: its fill colour, mark, tooltip and printed text. A
    failure count links to its first Δ's cell too; the gap panels come first and win."""
    out = {}
    for a in parse_svg(markup).iter("a"):
        if a.get("data-cell") in out:
            continue
        cell = next(r for r in a.iter("rect") if r.get("class") == "cell")
        out[a.get("data-cell")] = {
            "href": a.get("href"),
            "fill": cell.get("fill"),
            "mark": cell.get("data-mark"),
            "title": a.find("title").text,
            "text": "".join(t.text or "" for t in a.iter("text")),
            "rects": [r.attrib for r in a.iter("rect")],
            "box": tuple(float(cell.get(k)) for k in ("x", "y", "width", "height")),
        }
    return out


def figures_of(page: str) -> list[str]:
    return re.findall(r"<svg .*?</svg>", page, flags=re.S)


# ----- the page --------------------------------------------------------------------------
def test_every_section_is_there_and_the_header_says_what_was_audited(page, results):
    p = Page(page)
    for section in ("heatmaps", "curves", "stability", "editors", "delays", "strips", "outcomes", "audited"):
        assert section in p.ids, section
    assert "changes" not in p.ids  # only with a comparison
    # Heatmaps come before everything else that is drawn.
    assert page.index('id="heatmaps"') < page.index('id="curves"') < page.index('id="editors"') < page.index('id="strips"')
    header = page[: page.index("<nav>")]
    for metric, version in METRICS.values():
        assert metric in header and version in header
    assert "Banana100 Table 2" in header  # where the range came from
    for editor in ("identity", "sim-crop"):
        assert editor in header
    assert "grid" in header and "faces$1" in header
    assert "2 × 6" in header and "3, 6" in header  # runs x steps, Δ steps
    assert "12.5 s" in header and "cpus 2" in header
    counts = results["run"]["outcomes"]
    for outcome, n in counts.items():
        assert f">{n} {outcome}<" in header


def test_every_picture_is_embedded_and_decodes(page):
    p = Page(page)
    assert p.images and all(img["src"].startswith("data:image/") for img in p.images)
    sizes = [decode_data_uri(img["src"]).size for img in p.images]
    assert all(w > 0 and h > 0 for w, h in sizes)
    # One figure per chain setting: a panel per Δ, then the failure counts; inline SVG, each
    # well-formed.
    heatmaps = [svg for svg in p.svgs if svg["aria-label"].startswith("gap heatmaps")]
    assert [h["aria-label"] for h in heatmaps] == [f"gap heatmaps {s}: Δ3, Δ6 and failed Δs" for s in SETTINGS]
    curves = [svg for svg in p.svgs if svg["aria-label"].startswith("normalised")]
    assert len(curves) == len(METRICS)
    for figure in figures_of(page):
        parse_svg(figure)
    assert "matplotlib" not in page
    # Strips: steps 0, 1, 5 and the last (6) of every run of each chain, a thumbnail each, and
    # a 1:1 crop each for the first run.
    crops = [img for img in p.images if "1:1 pixels" in img["alt"]]
    assert len(crops) == len(SETTINGS) * len(SEEDS) * 4
    wholes = [img for img in p.images if img["alt"].endswith("whole image")]
    assert len(wholes) == len(SETTINGS) * len(SEEDS) * 2 * 4
    assert all(decode_data_uri(c["src"]).format == "PNG" for c in crops)
    # Self-contained: nothing is fetched from elsewhere.
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", page)
    assert "<link" not in page and "@import" not in page and not re.search(r"url\((?!#)", page)  # url(#…): in-figure


def test_cells_and_tables_link_to_their_test_rows(page, results):
    p = Page(page)
    cells = results["cells"]
    outcome_rows = p.rows["outcomes"]
    assert sorted(outcome_rows) == sorted(cell_anchor(c["cell"]) for c in cells)  # one row per test
    for c in cells:
        row = page[page.index(f'id="{cell_anchor(c["cell"])}"') :]
        row = row[: row.index("</tr>")]
        assert c["nodeid"].split("[")[0] in row and f"badge {c['outcome']}" in row
    # Every in-page link lands somewhere, and every cell is reachable from a heatmap or table.
    assert set(p.links) <= p.ids, set(p.links) - p.ids
    assert {cell_anchor(c["cell"]) for c in cells} <= set(p.links)
    # The editor table: one row per editor chain, a cell per check, the measured number shown.
    assert p.rows["editors"] == [chain_anchor("identity-replicate", "grid"), chain_anchor("sim-crop-replicate", "grid")]
    assert "0.021<small> / 0.005</small>" in page
    assert "first noticed at step 4; 1/2 runs noticed (per run: 4, never)" in page
    assert "no reasoning from this editor" in page
    # The gap explanation the rows give matches the record.
    assert "= −5.0 over 2 run(s): noticed" in page


def test_compare_follows_stability_cells(results):
    old, new = copy.deepcopy(results), copy.deepcopy(results)
    _edit(new, "stability:noticer-add-fruits-grid", value=3.6, passed=False, outcome="failed")
    flipped = compare_results(typed(old), typed(new)).flipped
    assert [(c.cell, c.label, c.new.value) for c in flipped] == [
        ("stability:noticer-add-fruits-grid", "noticer · stability · sim-noise-tint-add-fruits · grid", 3.6)
    ]


def test_stability_and_detection_delay_sections(page):
    stability = page[page.index('id="stability"') : page.index('id="editors"')]
    figure = [svg for svg in Page(stability).svgs if svg["aria-label"].startswith("stability: normalised score vs step")]
    assert len(figure) == 1 and int(figure[0]["width"]) > 300  # one figure per (add task, seed)
    drawn = parse_svg(figures_of(stability)[0])
    panels = [t.text for t in drawn.iter("text") if ": ratio " in (t.text or "")]
    assert len(panels) == len(METRICS) and any("UNSTABLE" in t for t in panels)  # a panel per metric
    assert len(drawn.findall("polyline")) == 2 * len(panels)  # each: the add chain and the replicate chain
    assert "ratio (bound 3)" in stability and '<td class="fail">4.4</td>' in stability
    delays = page[page.index('id="delays"') : page.index('id="strips"')]
    assert "noticer · codec-jpeg-replicate" in delays and "4.5 ± 2.1 (2/2)" in delays  # metrics ...
    assert "never (0/2)" in delays and "sim-crop-replicate" in delays and "4 (1/2)" in delays  # ... beside editors
    assert "read at steps 3, 6: a delay of 3 means by step 3" in delays
    assert "Not judged: <code>sim-noise-tint-reconstruct</code>" in page


def test_text_from_outside_is_shown_as_text_never_run(page):
    assert "<script" not in page.lower()  # the page has no scripts of its own, so any would be injected
    assert html_escaped(EVIL) in page
    assert page.count(html_escaped(EVIL)) >= 4  # messages, seed names in strips, outcomes, header


def html_escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def test_heatmap_cells_link_to_their_tests_in_matplotlibs_colours():
    """A click on a heatmap cell must open that cell's test, and its colour must be the one
    matplotlib's RdBu_r gives the gap through the SymLogNorm (the report no longer imports
    matplotlib, the test does)."""
    from matplotlib import colormaps
    from matplotlib.colors import SymLogNorm, to_hex

    values = [[-40.0, 5.0, -3.0], [2.0, -0.5, 60.0]]
    grids = gap_grids(
        parse_all(
            [
                {
                    "kind": "gap",
                    "cell": f"gap:m{i}-s{j}",
                    "metric": f"m:{i}",
                    "metric_id": f"metric-{i}",
                    "version": "1",
                    "setting": "st",
                    "seed": f"seed-{j}",
                    "delta_step": 5,
                    "value": v,
                    "passed": v < 0,
                    "outcome": "passed" if v < 0 else "xfailed",
                }
                for i, row in enumerate(values)
                for j, v in enumerate(row)
            ]
        )
    )
    limit = gap_limit(grids)
    plot = figures.heatmaps(grids, None, limit)
    cells = svg_cells(plot.body)
    assert list(cells) == [f"gap:m{i}-s{j}" for i in range(2) for j in range(3)]
    norm, cmap = SymLogNorm(linthresh=1.0, linscale=1.0, vmin=-limit, vmax=limit, base=10), colormaps["RdBu_r"]
    boxes = []
    for cell, got in cells.items():
        i, j = int(cell[5]), int(cell[8])
        assert got["href"] == "#" + cell_anchor(cell)
        assert got["fill"] == to_hex(cmap(norm(values[i][j]))), cell
        assert got["text"] == fmt_gap(values[i][j]) and fmt_gap(values[i][j]) in got["title"]
        assert got["mark"] == ("passed" if values[i][j] < 0 else "expected")
        x, y, w, h = got["box"]
        assert 0 <= x and x + w <= plot.width and 0 <= y and y + h <= plot.height
        boxes.append((i, j, x, y))
    # Rows and columns in the grid's order: metric i lower down, seed j further right.
    for (i, j, x, y), (k, m, x2, y2) in zip(boxes, boxes[1:]):
        assert (y2 > y) if k > i else (y2 == y and x2 > x)


def test_missing_store_still_gives_a_page_and_leaves_no_store_behind(results, tmp_path):
    gone = tmp_path / "no-such-store"
    results = one_setting(results)
    results["run"]["store"] = str(gone)
    text = write_report(typed(results), tmp_path / "run2").read_text()
    assert "image not in the store" in text and "is not here" in text
    assert not gone.exists()
    Page(text)  # still parses


def test_a_run_without_cells_gives_a_page():
    from iqa_audit.report.html import render_report

    text = render_report(typed({"run": {"name": "empty"}, "cells": []}))
    assert "No metric cells in this run" in text and "No editor cells in this run" in text


@pytest.mark.parametrize(
    "audit, shown, left_out",
    [
        pytest.param("editor", {"editors"}, {"heatmaps", "families", "curves", "stability", "strips"}, id="editors-only"),
        pytest.param("gap", {"heatmaps", "families", "curves", "stability", "strips"}, {"editors"}, id="metrics-only"),
    ],
)
def test_a_run_of_one_audit_shows_only_that_audits_sections(results, audit, shown, left_out):
    from iqa_audit.report.figure_cache import FigureCache
    from iqa_audit.report.html import render_report

    alone = one_setting(results)
    alone["cells"] = [c for c in alone["cells"] if c["kind"] == audit]
    if audit == "gap":
        alone["editors"] = {}  # results.json's editor-audit settings: none in a metrics-only run
    page = render_report(typed(alone), figure_cache=FigureCache(None))
    sections = set(re.findall(r'<section id="([a-z-]+)"', page))
    assert shown <= sections and not (left_out & sections), sorted(sections)
    assert {"outcomes", "audited"} <= sections
    counts = page.split('class="outcomes">')[1].split("</div>")[0]  # the header's counts: this audit's only
    assert ("metric audit," in counts, "editor audit:" in counts) == ((audit == "gap"), (audit == "editor")), counts
    shape = page.split("<dt>runs × steps</dt><dd>")[1].split("</dd>")[0]
    assert ("editor audit" in shape) == (audit == "editor"), shape  # the shape of the audit that ran only
    editors = page.split("<h3>Editors</h3><p>")[1].split("</p>")[0]
    if audit == "gap":  # not "none": the chains' editors ran, the editor audit did not
        assert editors.startswith("no editor audit in this run; the metric audit's chains:"), editors
        assert f'<span class="chip">{SETTINGS[0]}</span>' in editors, editors
    else:
        assert "no editor audit" not in editors and 'class="chip"' in editors, editors


# ----- changed since ---------------------------------------------------------------------
def _edit(results: dict, cell: str, **changes) -> None:
    rec = next(c for c in results["cells"] if c["cell"] == cell)
    rec.update(changes)


def test_compare_reports_flips_and_moves_with_both_versions(results, tmp_path):
    old = one_setting(results)
    old["run"]["name"] = "yesterday"
    new = copy.deepcopy(old)
    flip = "gap:misser-codec-jpeg-replicate-grid-d3"  # +3 in both: a miss
    _edit(new, flip, value=-0.4, passed=True, outcome="passed", version="pyiqa-0.1.17")
    moved = "gap:noticer-codec-jpeg-replicate-grid-d6"  # -12.5 in both
    _edit(new, moved, value=-14.0)
    _edit(new, "gap:noticer-codec-jpeg-replicate-grid-d3", value=-5.0 - 0.9)  # within 1.0: not reported
    _edit(new, "editor:tint-sim-crop-replicate-grid", value=1.4 * 1.2)  # +20 %: beyond 10 %
    _edit(new, "editor:tint-identity-replicate-grid", value=0.4 * 1.05)  # +5 %: within
    new["cells"] = [c for c in new["cells"] if c["cell"] != "gap:misser-codec-jpeg-replicate-grid-d6"]

    ch = compare_results(typed(old), typed(new))
    assert [c.cell for c in ch.flipped] == [flip]
    f = ch.flipped[0]
    assert (f.old.passed, f.new.passed) == (False, True) and (f.old.version, f.new.version) == ("pyiqa-0.1.16", "pyiqa-0.1.17")
    assert [c.cell for c in ch.moved] == ["editor:tint-sim-crop-replicate-grid", moved]
    assert ch.moved[1].moved_by == pytest.approx(-1.5)
    assert ch.only_old == ("gap:misser-codec-jpeg-replicate-grid-d6",) and ch.only_new == ()
    assert compare_results(typed(old), typed(new), gap_tolerance=2.0).moved == ch.moved[:1]

    text = write_report(typed(new), tmp_path / "cmp", compare=typed(old)).read_text()
    p = Page(text)
    assert "changes" in p.ids and text.index('id="changes"') < text.index('id="heatmaps"')
    section = text[text.index('id="changes"') : text.index('id="heatmaps"')]
    assert "Changed since yesterday" in section
    assert "<code>pyiqa-0.1.16</code> → <code>pyiqa-0.1.17</code>" in section  # both sides' versions
    assert (
        f"{len(new['cells'])} cells in both runs: <b>1</b> flipped, <b>2</b> moved, <b>0</b> unstable, <b>0</b> weaker; "
        "0 new, 1 gone."
    ) in section
    assert "Verdict flipped (1)" in section and "Moved beyond tolerance (2)" in section
    assert f'href="#{cell_anchor(flip)}"' in section and "gap:misser-codec-jpeg-replicate-grid-d6" in section
    assert set(p.links) <= p.ids


def test_compare_with_itself_finds_nothing(results, tmp_path):
    ch = compare_results(typed(results), typed(copy.deepcopy(results)))
    assert ch.empty and not ch.flipped and not ch.moved
    assert "Nothing changed" in changes_section(ch, typed(results))


@settings(max_examples=60, deadline=None)
@given(old=st.floats(-200, 200), delta=st.floats(-50, 50), tol=st.floats(0.01, 10))
def test_gap_moves_beyond_tolerance_iff_the_difference_exceeds_it(old, delta, tol):
    new = old + delta
    assert moved_beyond("gap", old, new, gap_tolerance=tol) == (abs(new - old) > tol)
    assert moved_beyond("gap", old, new, gap_tolerance=tol) == moved_beyond("gap", new, old, gap_tolerance=tol)
    assert not moved_beyond("editor", old, old, gap_tolerance=tol)


@settings(max_examples=60, deadline=None)
@given(v=st.floats(-1e4, 1e4, allow_nan=False).filter(lambda v: v != 0))
def test_a_printed_gap_keeps_its_sign(v):
    """The sign is the verdict: a heatmap number must never show a miss as a notice."""
    assert fmt_gap(v)[0] == ("−" if v < 0 else "+")
    assert len(fmt_gap(v)) <= 6  # fits a heatmap cell


@settings(max_examples=60, deadline=None)
@given(a=st.text(min_size=1, max_size=30), b=st.text(min_size=1, max_size=30))
def test_cell_anchors_are_valid_ids_and_tell_cells_apart(a, b):
    for x in (a, b):
        assert re.fullmatch(r"cell-[A-Za-z0-9_-]+", cell_anchor(x))
    if a != b:
        assert cell_anchor(a) != cell_anchor(b)


# ----- pytest-html -----------------------------------------------------------------------
def test_html_extras_case_html_shows_the_compared_steps(results):
    from iqa_audit.audit.pytest_html import HtmlExtras, summary_html

    extras = HtmlExtras(config=None, store_root=results["run"]["store"])
    gap = next(c for c in results["cells"] if c["kind"] == "gap" and c["delta_step"] == 6)
    html = extras.case_html(parse(gap))
    assert ">step 1<" in html and ">step 6<" in html and "over 2 run(s)" in html
    editor = next(c for c in results["cells"] if c["kind"] == "editor")
    html = extras.case_html(parse(editor))
    assert ">step 0<" in html and f">step {STEPS}<" in html and html_escaped(EVIL) in html and "<script" not in html
    for uri in re.findall(r'src="(data:[^"]+)"', html):
        decode_data_uri(uri)
    summary = summary_html(parse_all(one_setting(results)["cells"]))
    assert len(figures_of(summary)) == 1  # one figure per setting
    parse_svg(figures_of(summary)[0])


@pytest.mark.slow
def test_pytest_html_report_carries_heatmaps_and_case_thumbnails(pytester, tmp_path, seed_dir):
    """Needs iqa_audit.pytest_plugin to register HtmlExtras when pytest-html is active."""
    pytester.makepyfile(test_gap=GAP_TEST)
    out = tmp_path / "html" / "report.html"
    res = pytester.runpytest_subprocess(
        "-p",
        "iqa_audit.pytest_plugin",
        "--seed",
        "tiny",
        "--seed-dir",
        str(seed_dir),
        "--editor",
        "sim-noise-tint",
        "--runs",
        "1",
        "--steps",
        "4",
        "--delta-steps",
        "3,4",
        "--long-side",
        "0",
        "--store",
        str(tmp_path / "store"),
        "--reports-dir",
        str(tmp_path / "reports"),
        "--metric",
        "iqa_audit:noise-sigma",
        "--baseline",
        "none",
        "--run-name",
        "html",
        "-p",
        "no:cacheprovider",
        f"--html={out}",
        "--self-contained-html",
    )
    res.assert_outcomes(passed=2)
    text = out.read_text()
    assert "iqa-audit: gap heatmaps" in text, (
        "the pytest-html summary has no iqa-audit heatmaps: is HtmlExtras registered by iqa_audit.pytest_plugin "
        "when config.pluginmanager.hasplugin('html')?"
    )
    summary = text[text.index("iqa-audit: gap heatmaps") :]
    heatmaps = figures_of(summary)
    assert len(heatmaps) == 1  # one setting: its Δ3, Δ4 and failure-count panels in one figure
    assert len(svg_cells(heatmaps[0])) >= 2  # gap cells and failure counts, each a link
    # Each case's extras (inside pytest-html's JSON blob, HTML-escaped): step 1 vs step Δ.
    blob = json.loads(html_unescape(re.search(r'data-jsonblob="([^"]*)"', text).group(1)))
    extras = [x for t in blob["tests"].values() for r in t for x in r.get("extras", [])]
    assert len(extras) == 2
    for x in extras:
        assert x["format_type"] == "html" and ">step 1<" in x["content"]
        thumbs = re.findall(r'src="(data:image/jpeg;base64,[^"]+)"', x["content"])
        assert len(thumbs) == 2 and all(decode_data_uri(u).size[0] > 0 for u in thumbs)


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


# ----- verdicts with evidence: inconclusive cells, requested metrics, the noise band ---------
def _inconclusive_record(i: int, j: int, gap: float) -> dict:
    return {
        "kind": "gap",
        "cell": f"gap:m{i}-s{j}",
        "metric": f"m:{i}",
        "metric_id": f"metric-{i}",
        "version": "1",
        "setting": "st",
        "seed": f"seed-{j}",
        "delta_step": 5,
        "value": gap,
        "passed": False,
        "verdict": "inconclusive",
        "outcome": "skipped",
        "reason": "no run changed visibly between step 1 and step 5 (run 0: identical pixels (no visible change))",
    }


def test_inconclusive_cells_are_drawn_grey_not_in_the_verdict_colours():
    recs = [
        {
            "kind": "gap",
            "cell": "gap:m0-s0",
            "metric": "m:0",
            "metric_id": "metric-0",
            "version": "1",
            "setting": "st",
            "seed": "seed-0",
            "delta_step": 5,
            "value": -30.0,
            "passed": True,
            "verdict": "pass",
            "outcome": "passed",
        },
        _inconclusive_record(0, 1, -30.0),
    ]  # the same gap, but nothing to notice
    grids = gap_grids(parse_all(recs))
    assert [c.verdict for c in grids[0].cells[0]] == ["pass", "inconclusive"]
    plot = figures.heatmaps(grids, None, gap_limit(grids))
    cells = svg_cells(plot.body)
    blue = [int(cells["gap:m0-s0"]["fill"][k : k + 2], 16) for k in (1, 3, 5)]
    assert blue[2] > blue[0] + 40  # noticed: blue
    grey = cells["gap:m0-s1"]
    assert grey["mark"] == "inconclusive" and grey["fill"] == "#ececec"  # light grey, whatever its gap
    assert any("dots" in r["fill"] for r in grey["rects"])  # and dotted
    assert "inconclusive" in grey["title"]


def test_failure_counts_do_not_count_inconclusive_cells_as_misses():
    from iqa_audit.report.model import failure_grids

    recs = [
        _inconclusive_record(0, 0, 1.0),
        {**_inconclusive_record(0, 0, 2.0), "cell": "gap:x", "delta_step": 10, "verdict": "fail", "outcome": "failed"},
    ]
    count = failure_grids(parse_all(recs))[0].counts[0][0]
    assert (count.failed, count.inconclusive, count.total) == (1, 1, 2)


def test_an_errored_delta_is_neither_a_miss_nor_a_notice_in_the_counts_and_the_seed_table():
    from iqa_audit.report.gaps_html import _metric_verdicts
    from iqa_audit.report.model import failure_grids

    def errored(i, j, d):
        rec = {**_inconclusive_record(i, j, 0.0), "cell": f"gap:m{i}-s{j}-d{d}", "delta_step": d, "value": None}
        return {**rec, "verdict": None, "outcome": "error", "error": "ValueError: boom", "error_type": "ValueError"}

    missed = {**_inconclusive_record(0, 0, 2.0), "cell": "gap:m0-s0-d10", "delta_step": 10}
    missed = {**missed, "verdict": "fail", "outcome": "failed"}
    recs = parse_all([errored(0, 0, 5), missed, errored(0, 1, 5), errored(0, 1, 10)])
    grid = failure_grids(recs)[0]
    one, every = grid.counts[0]
    assert (one.failed, one.errored, one.judged, one.first_cell) == (1, 1, 1, "gap:m0-s0-d10")
    assert (every.failed, every.errored, every.judged, every.first_cell) == (0, 2, 0, "gap:m0-s1-d5")
    table = _metric_verdicts(recs)
    assert '<td class="fail">0/1 <small class="dim">+1 errored</small></td>' in table  # the miss, not the error
    plot = figures.heatmaps(gap_grids(recs), grid, gap_limit(gap_grids(recs)))
    assert "metric-0 · seed-1: 0 of 0 judged Δs failed (2 errored)" in plot.body  # the count panel's tooltip
    # and the seed whose Δs all raised is drawn "error", not "0/0"
    assert ">error<" in plot.body and ">0/0<" not in plot.body


def test_a_stability_cell_that_raised_is_an_error_not_an_instability(results):
    from iqa_audit.report.findings_html import stability_section
    from iqa_audit.report.stability_model import stability_figures

    res = copy.deepcopy(results)
    raised = next(c for c in res["cells"] if c["kind"] == "stability" and c["metric_id"] == "misser")
    raised.update(value=None, passed=False, tolerance=None, add_spread=None, replicate_spread=None, curves={})
    raised.update(outcome="error", error="metric m: ValueError: boom", error_type="ValueError")
    recs = parse_all(res["cells"])
    (figure,) = stability_figures(recs)
    assert {p.metric_id: p.verdict for p in figure.panels} == {"misser": "error: ValueError", "noticer": "stable"}
    assert figure.bound == 3.0  # from the cells that measured one, whichever sorts first
    drawn = figures.stability(figure).body
    assert "misser: ratio — (error: ValueError)" in drawn and "UNSTABLE" not in drawn
    html = stability_section(recs)
    assert "ratio (bound 3)" in html and '<td class="inconclusive">error: ValueError</td>' in html


def test_a_metric_without_a_finite_score_gets_a_note_not_an_empty_curve_plot(results):
    from iqa_audit.report.gaps_html import curves_section

    res = copy.deepcopy(results)
    for c in res["cells"]:
        if c["kind"] == "gap" and c["metric_id"] == "misser":
            c.update(value=None, passed=False, verdict=None, outcome="error", error="boom", error_type="ValueError")
            c.update(mean_normalised={}, spread_normalised={})
    from iqa_audit.report.model import metric_anchor

    html = curves_section(parse_all(res["cells"]))
    misser = html[html.index(f'id="{metric_anchor("misser")}"') :].split("<h3")[0]
    noticer = html[html.index(f'id="{metric_anchor("noticer")}"') :].split("<h3")[0]
    assert "No score to draw" in misser and "<svg" not in misser and "<img" not in misser
    assert "No score to draw" not in noticer and ("<svg" in noticer or "<img" in noticer)


def test_header_counts_verdicts_and_lists_every_requested_metric_with_its_status(results):
    from iqa_audit.report.html import render_report

    res = one_setting(results)
    res["cells"].append(
        {
            **_inconclusive_record(0, 0, -0.0),
            "metric_id": "noticer",
            "metric": "iqa_audit:noticer",
            "setting": SETTINGS[0],
            "seed": "grid",
            "delta_step": 99,
            "cell": "gap:noticer-inc",
        }
    )
    res["metrics"]["musiq"] = {
        "name": "pyiqa:musiq",
        "status": "unavailable",
        "version": None,
        "range": None,
        "why": "metric pyiqa:musiq: expected its weight files, got 1 missing. Fetch them once.",
    }
    res["metrics"]["cnniqa"] = {"name": "pyiqa:cnniqa", "status": "not run", "version": None, "range": None, "why": None}
    text = render_report(typed(res), figure_cache=None)
    header = text[: text.index("<nav>")]
    gaps = [c for c in res["cells"] if c["kind"] == "gap"]
    noticed = sum(1 for c in gaps if c.get("verdict", "pass" if c["passed"] else "fail") == "pass")
    assert (
        f"{len(gaps)} gaps: <b>{noticed}</b> noticed, <b>{len(gaps) - noticed - 1}</b> missed,\n<b>1</b> inconclusive" in header
    )
    assert "Metrics requested" in header
    assert '<td class="fail">unavailable</td>' in header and "Fetch them once." in header
    assert '<td class="na">not run</td>' in header and "no cell of this metric ran" in header
    assert '<td class="pass">audited</td>' in header
    row = text[text.index(f'id="{cell_anchor("gap:noticer-inc")}"') :]
    assert row.startswith(f'id="{cell_anchor("gap:noticer-inc")}" class="inconclusive"')
    assert "INCONCLUSIVE: " in row[:2000] and ": no run changed visibly" in row[:2000]


def test_compare_shows_a_thousandth_flip_as_unstable_and_a_collapse_as_weaker(results):
    old = one_setting(results)
    new = copy.deepcopy(old)
    tiny = "gap:noticer-codec-jpeg-replicate-grid-d3"
    collapse = "gap:noticer-codec-jpeg-replicate-grid-d6"
    _edit(old, tiny, value=-0.001, passed=True, verdict="pass", gap_stderr=0.0)
    _edit(new, tiny, value=0.001, passed=False, verdict="fail", gap_stderr=0.0)
    _edit(old, collapse, value=-55.0, gap_stderr=1.0)
    _edit(new, collapse, value=-0.01, gap_stderr=0.0)
    ch = compare_results(typed(old), typed(new))
    assert [c.cell for c in ch.unstable] == [tiny] and tiny not in [c.cell for c in ch.flipped]
    assert [c.cell for c in ch.weaker] == [collapse] and collapse not in [c.cell for c in ch.moved]
    section = changes_section(ch, typed(old))
    assert "Unstable: the verdict flipped inside the noise band" in section and "Weaker: still noticed" in section
    assert "0.5 normalised points" in section  # the stated tolerance
