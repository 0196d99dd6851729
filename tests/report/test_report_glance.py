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

import numpy as np
import pytest

from iqa_audit.results.records import parse_all
from iqa_audit.report import figures
from iqa_audit.report.html import write_report
from iqa_audit.report.model import MetricCurves, Curve, failure_grids, gap_grids, gap_limit, gap_strips, ordered_outcomes

from .test_report import SEEDS, SETTINGS, synthetic_results, typed

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


def _figure(records):
    grids = gap_grids(records)
    counts = failure_grids(records)[0]
    fig, _ = figures.heatmap_figure(grids, counts, gap_limit(grids))
    fig.canvas = figures._mpl().FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig


def test_every_heatmap_panel_carries_its_seed_names():
    fig = _figure(_records([[-3.0, 4.0, -0.5]], [["passed", "xfailed", "passed"]]))
    panels = [ax for ax in fig.axes if ax.get_title(loc="left")]
    assert len(panels) == 3  # Δ5, Δ10, failed Δs
    for ax in panels:
        assert [t.get_text() for t in ax.get_xticklabels()] == SEED_NAMES[:3], ax.get_title(loc="left")


def test_a_failed_test_is_framed_and_marked_apart_from_expected_failures():
    records = _records([[4.0, 5.0, -2.0]], [["failed", "xfailed", "passed"]], deltas=(5,))
    fig = _figure(records)
    gap_ax = next(ax for ax in fig.axes if ax.get_title(loc="left").startswith("Δ5"))
    frames = [p for p in gap_ax.patches if p.get_linewidth() >= 2 and not p.get_fill()]
    hatched = [p for p in gap_ax.patches if p.get_hatch()]
    assert len(frames) == 1 and frames[0].get_x() == pytest.approx(-0.44)  # the failed cell (column 0)
    assert len(hatched) == 1 and hatched[0].get_x() == pytest.approx(0.5)  # the expected failure (column 1)
    texts = [t.get_text() for t in gap_ax.texts]
    assert texts[0].endswith("!") and not texts[1].endswith("!")
    legend = " ".join(t.get_text() for lg in fig.legends for t in lg.get_texts())
    assert "expects (xfail)" in legend and "regression" in legend


def test_the_colour_bar_ends_at_the_largest_gap_and_marks_the_normalised_range():
    fig = _figure(_records([[-134.0, 40.0, -0.5]], [["passed", "xfailed", "passed"]]))
    bar = next(ax for ax in fig.axes if "gap, normalised points" in ax.get_ylabel())
    ticks = [t.get_text() for t in bar.get_yticklabels()]
    assert "−134" in ticks and "+134" in ticks and "100" not in ticks  # 100 would print on top of 134
    renderer = fig.canvas.get_renderer()
    for a, b in itertools.combinations([t.get_window_extent(renderer) for t in bar.get_yticklabels() if t.get_text()], 2):
        assert not a.overlaps(b)
    assert "beyond ±100" in bar.get_ylabel()
    small = _figure(_records([[-3.0, 4.0, -0.5]], [["passed", "xfailed", "passed"]]))
    assert "beyond ±100" not in next(ax for ax in small.axes if "gap, normalised" in ax.get_ylabel()).get_ylabel()


def test_the_curves_say_when_normalised_scores_leave_0_to_100():
    def plot(means):
        mc = MetricCurves(
            "noise-sigma", "iqa_audit:noise-sigma", "1", (5,), (("s", (Curve("a", (0, 1, 5), means, (0.0, 0.0, 0.0), 1),)),)
        )
        return figures.curves(mc)

    # Read the drawn text back from the figure curves() builds, just before it is encoded.
    texts = {}
    orig = figures._finish

    def grab(fig, hit_cells=()):
        texts["y"] = fig.axes[0].get_ylabel()
        texts["note"] = fig.axes[-1].get_title(loc="right")
        return orig(fig, hit_cells)

    try:
        figures._finish = grab
        plot((60.0, 55.0, -40.0))
        assert "−40 to 60 leave the 0–100 scale" in texts["note"] and "shaded: 0–100" in texts["y"]
        plot((60.0, 55.0, 40.0))
        assert texts["note"] == "" and "shaded: 0–100" in texts["y"]
    finally:
        figures._finish = orig


def test_one_metric_colour_bars_have_room_for_their_labels():
    fig = _figure(_records([[-3.0] * 13], [["passed"] * 13], seeds=SEED_NAMES, deltas=(5, 10, 20)))
    renderer = fig.canvas.get_renderer()
    bars = [ax for ax in fig.axes if not ax.get_title(loc="left")]
    assert len(bars) == 2
    boxes = []
    for ax in bars:
        labels = [t for t in ax.get_yticklabels() if t.get_text()]
        own = [t.get_window_extent(renderer) for t in labels] + [ax.yaxis.label.get_window_extent(renderer)]
        for a, b in itertools.combinations([t.get_window_extent(renderer) for t in labels], 2):
            assert not a.overlaps(b), "tick labels of one colour bar overlap"
        # The bar's label fits beside the bar, within the bar's height.
        label = ax.yaxis.label.get_window_extent(renderer)
        bar = ax.get_window_extent(renderer)
        assert label.height <= bar.height + 1, (ax.get_ylabel(), label.height, bar.height)
        boxes.append(own)
    for a, b in itertools.product(*boxes):
        assert not a.overlaps(b), "the two colour bars' labels overlap"


def test_seed_colours_are_far_apart_and_markers_unique():
    from matplotlib.colors import to_rgb
    from skimage.color import deltaE_ciede2000, rgb2lab

    lab = rgb2lab(np.array([[to_rgb(c) for c in figures.SEED_COLOURS]]))[0]
    closest = min(deltaE_ciede2000(a, b) for a, b in itertools.combinations(lab, 2))
    assert len(figures.SEED_COLOURS) >= 13 and closest >= 20  # tab20's light/dark pairs: 12.6
    styles = [figures.seed_style(i) for i in range(26)]
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
