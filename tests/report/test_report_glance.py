"""The report at a glance: what a reader sees without hunting.

Every heatmap panel names its seeds; a failed test looks different from an expected
failure and the legend says so; the colour bar and the curves say when values leave the
0–100 normalised scale; strips show every run with each metric's raw and normalised score;
failures come first in the outcomes table; the seeds' colours are far apart; a
one-metric figure's colour-bar labels do not collide."""

from __future__ import annotations

import copy
import itertools
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from iqa_audit.report import figures
from iqa_audit.report.curve_figures import SEED_COLOURS, seed_style
from iqa_audit.report.heatmap_figures import REGRESSION_EDGE
from iqa_audit.report.html import write_report
from iqa_audit.report.model import Curve, MetricCurves, failure_grids, gap_grids, gap_limit, gap_strips, ordered_outcomes
from iqa_audit.report.svg import text_width
from iqa_audit.results.records import parse_all

from .test_report import SEEDS, SETTINGS, parse_svg, svg_cells, synthetic_results, typed

SEED_NAMES = [f"seed-{i:02d}-long-name" for i in range(13)]


def _records(values, outcomes, seeds=SEED_NAMES[:3], deltas=(5, 10)):
    """Gap records of one setting: values[metric][seed] at every Δ, with the given outcomes."""
    return parse_all(
        [
            {
                "kind": "gap",
                "cell": f"gap:m{i}-{s}-d{d}",
                "metric": f"m:{i}",
                "metric_id": f"metric-{i}",
                "version": "1",
                "setting": "sim-noise-tint-replicate",
                "seed": s,
                "delta_step": d,
                "value": v,
                "passed": v < 0,
                "outcome": outcomes[i][j],
            }
            for i, row in enumerate(values)
            for j, (s, v) in enumerate(zip(seeds, row))
            for d in deltas
        ]
    )


def _figure(records) -> ET.Element:
    grids = gap_grids(records)
    counts = failure_grids(records)[0]
    return parse_svg(figures.heatmaps(grids, counts, gap_limit(grids)).body)


def _texts(node: ET.Element) -> list[ET.Element]:
    return list(node.iter("text"))


def _titles(fig: ET.Element) -> list[str]:
    return [t.text for t in _texts(fig) if t.get("font-weight") == "bold" and t.get("font-size") == "13"]


def _bars(fig: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-bar"): g for g in fig.iter("g") if g.get("data-bar")}


def _ticks(bar: ET.Element) -> list[tuple[str, float]]:
    """A colour bar's tick labels and their heights (the label is the rotated text)."""
    return [(t.text, float(t.get("y"))) for t in _texts(bar) if "rotate" not in (t.get("transform") or "")]


def _label(bar: ET.Element) -> list[str]:
    return [t.text for t in _texts(bar) if "rotate" in (t.get("transform") or "")]


def test_every_heatmap_panel_carries_its_seed_names():
    fig = _figure(_records([[-3.0, 4.0, -0.5]], [["passed", "xfailed", "passed"]]))
    assert [t.split(" · ")[0] for t in _titles(fig)] == ["Δ5", "Δ10", "failed Δs"]
    rotated = [t.text for t in _texts(fig) if "rotate(-40)" in (t.get("transform") or "")]
    assert rotated == SEED_NAMES[:3] * 3  # under each of the three panels


def test_a_failed_test_is_framed_and_marked_apart_from_expected_failures():
    records = _records([[4.0, 5.0, -2.0]], [["failed", "xfailed", "passed"]], deltas=(5,))
    fig = _figure(records)
    cells = svg_cells(ET.tostring(fig, encoding="unicode"))
    failed, expected, passed = (cells[f"gap:m0-{s}-d5"] for s in SEED_NAMES[:3])

    def framed(c):
        return any(r.get("stroke") == REGRESSION_EDGE and r.get("stroke-width") == "2.2" for r in c["rects"])

    def hatched(c):
        return any(r["fill"].endswith("-hd)") or r["fill"].endswith("-hl)") for r in c["rects"])

    assert (failed["mark"], framed(failed), hatched(failed)) == ("failed", True, False)
    assert (expected["mark"], framed(expected), hatched(expected)) == ("expected", False, True)
    assert (passed["mark"], framed(passed), hatched(passed)) == ("passed", False, False)
    assert failed["text"].endswith("!") and not expected["text"].endswith("!")
    legend = " ".join(t.text for t in _texts(fig))
    assert "expects (xfail)" in legend and "regression" in legend


def test_the_colour_bar_ends_at_the_largest_gap_and_marks_the_normalised_range():
    fig = _figure(_records([[-134.0, 40.0, -0.5]], [["passed", "xfailed", "passed"]]))
    bar = _bars(fig)["gap"]
    ticks = _ticks(bar)
    labels = [t for t, _ in ticks]
    assert "−134" in labels and "+134" in labels and "100" not in labels  # 100 would print on top of 134
    heights = sorted(y for _, y in ticks)
    assert all(b - a >= 10 for a, b in zip(heights, heights[1:]))  # 10 px text: no two labels overlap
    assert len(bar.findall("line[@stroke-width='1.2']")) == 2  # ±100 marked across the bar
    assert any("beyond ±100" in s for s in _label(bar))
    small = _figure(_records([[-3.0, 4.0, -0.5]], [["passed", "xfailed", "passed"]]))
    assert not any("beyond ±100" in s for s in _label(_bars(small)["gap"]))


def test_the_curves_say_when_normalised_scores_leave_0_to_100():
    def texts(means):
        mc = MetricCurves(
            "noise-sigma", "iqa_audit:noise-sigma", "1", (5,), (("s", (Curve("a", (0, 1, 5), means, (0.0, 0.0, 0.0), 1),)),)
        )
        return " | ".join(t.text for t in parse_svg(figures.curves(mc).body).iter("text"))

    drawn = texts((60.0, 55.0, -40.0))
    assert "−40 to 60 leave the 0–100 scale" in drawn and "shaded: 0–100" in drawn
    drawn = texts((60.0, 55.0, 40.0))
    assert "leave the 0–100 scale" not in drawn and "shaded: 0–100" in drawn


def test_one_metric_colour_bars_have_room_for_their_labels():
    fig = _figure(_records([[-3.0] * 13], [["passed"] * 13], seeds=SEED_NAMES, deltas=(5, 10, 20)))
    bars = _bars(fig)
    assert set(bars) == {"gap", "counts"}
    spans = []
    for bar in bars.values():
        heights = sorted(y for _, y in _ticks(bar))
        assert all(b - a >= 10 for a, b in zip(heights, heights[1:])), "tick labels of one colour bar overlap"
        body = max(bar.iter("rect"), key=lambda r: float(r.get("height")))  # the whole bar
        top, height = float(body.get("y")), float(body.get("height"))
        # The bar's label (read bottom to top) fits beside the bar, within the bar's height.
        for line in _label(bar):
            assert text_width(line, 10) <= height + 1, (line, height)
        spans.append((top, top + height))
    (a0, a1), (b0, b1) = sorted(spans)
    assert a1 < b0, "the two colour bars overlap"


def test_seed_colours_are_far_apart_and_markers_unique():
    from PIL import ImageColor
    from skimage.color import deltaE_ciede2000, rgb2lab

    lab = rgb2lab(np.array([[np.array(ImageColor.getrgb(c)) / 255 for c in SEED_COLOURS]]))[0]
    closest = min(deltaE_ciede2000(a, b) for a, b in itertools.combinations(lab, 2))
    assert len(SEED_COLOURS) >= 13 and closest >= 20  # tab20's light/dark pairs: 12.6
    styles = [seed_style(i) for i in range(26)]
    assert len(set(styles)) == 26 and len({c for c, _ in styles[:13]}) == 13


# ----- the page ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return synthetic_results(tmp_path_factory.mktemp("glance") / "store")


def test_strips_show_every_run_with_each_metrics_raw_and_normalised_score(results, tmp_path):
    one = copy.deepcopy(results)
    one["cells"] = [c for c in one["cells"] if c["kind"] == "editor" or c["setting"] == SETTINGS[0]]
    for c in one["cells"]:  # run 1's scores differ from run 0's (range 0–1: normalised = 100 x raw)
        if c["kind"] == "gap":
            c["raw"]["1"] = {k: v + 0.5 for k, v in c["raw"]["0"].items()}
            c["normalised"]["1"] = {k: 100 * (v + 0.5) for k, v in c["raw"]["0"].items()}
    strips = gap_strips(parse_all(one["cells"]))
    assert [(s.seed, s.run) for s in strips] == [(seed, run) for seed in sorted(SEEDS) for run in ("0", "1")]
    frame = strips[1].images[1]  # run 1, step 1
    assert frame.step == 1 and {s.metric_id for s in frame.scores} == {"noticer", "misser"}
    noticer = next(s for s in frame.scores if s.metric_id == "noticer")
    assert noticer.raw == pytest.approx(0.575 + 0.5) and noticer.normalised == pytest.approx(107.5)  # range 0–1
    page = write_report(typed(one), tmp_path / "run").read_text()
    strips_html = page[page.index('id="strips"') : page.index('id="outcomes"')]
    assert strips_html.count('<div class="strip"') == 4
    assert "run 1" in strips_html
    assert '<span class="sc out"' in strips_html and "noticer</b> 1.07 → 108" in strips_html  # outside 0–100: marked
    assert "noticer</b> 0.575 → 57.5" in strips_html


def test_failures_and_regressions_come_first_in_the_outcomes_table(results, tmp_path):
    cells = copy.deepcopy(results["cells"])
    regression = next(c for c in cells if c["outcome"] == "failed" and c["kind"] == "gap")
    regression["baseline"] = "regression"
    ordered = ordered_outcomes(parse_all(cells))
    order = [o.outcome for o in ordered]
    assert ordered[0].cell == regression["cell"]
    first_pass = order.index("passed")
    assert "failed" not in order[first_pass:] and "xfailed" not in order[first_pass:]
    assert order.index("xfailed") > max(i for i, o in enumerate(order) if o == "failed")
    page = write_report(typed({**results, "cells": cells}), tmp_path / "run").read_text()
    rows = re.findall(r'<tr id="cell-[^"]+" class="(\w+)"><td><code>[^<]+</code>.*?<span class="badge (\w+)">', page)
    labels = [b for _, b in rows]
    assert labels[0] == "regression" and labels.index("passed") > labels.index("xfailed") > labels.index("failed")
