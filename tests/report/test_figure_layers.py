"""Heatmaps of one layout share their background (figure_base.Layers): the seed and metric
names, colour bars and frames are drawn once per run, each setting's cells on top, and
the pictures are pixel for pixel those of an ordinary draw."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image as PILImage

from iqa_audit.report import figure_base
from iqa_audit.report.heatmap_figures import heatmap_figure
from iqa_audit.report.model import failure_grids, gap_grids, gap_limit
from iqa_audit.results.records import parse_all


def _records(setting: str, values, outcomes, seeds=("s-one", "s-two", "s-three"), deltas=(5, 10)):
    return [
        {
            "kind": "gap",
            "cell": f"gap:{setting}-m{i}-{s}-d{d}",
            "metric": f"m:{i}",
            "metric_id": f"metric-{i}",
            "version": "1",
            "setting": setting,
            "seed": s,
            "delta_step": d,
            "value": v + d / 10,
            "passed": v < 0,
            "outcome": outcomes[i][j],
            "verdict": "inconclusive" if outcomes[i][j] == "skipped" else None,
        }
        for i, row in enumerate(values)
        for j, (s, v) in enumerate(zip(seeds, row))
        for d in deltas
    ]


def _pixels(plot) -> np.ndarray:
    return np.asarray(PILImage.open(io.BytesIO(plot.png)).convert("RGB"))


def _draw(grids, counts, limit, *, layered: bool):
    fig, hits = heatmap_figure(grids, counts, limit)
    if not layered:
        del fig.iqa_layers
    return figure_base.finish(fig, hits)


def test_settings_of_one_layout_draw_the_same_pixels_over_a_shared_background(monkeypatch):
    records = parse_all(
        _records("aaa-setting", [[-3.0, 4.0, -0.5], [2.0, -1.0, 7.0]], [["passed", "xfailed", "passed"], ["failed"] * 3])
        + _records("bbb-setting", [[-8.0, 0.5, 1.5], [-2.0, -3.0, 9.0]], [["passed", "skipped", "xfailed"], ["passed"] * 3])
    )
    grids, counts = gap_grids(records), {f.setting: f for f in failure_grids(records)}
    limit = gap_limit(grids)
    by_setting = {s: [g for g in grids if g.setting == s] for s in ("aaa-setting", "bbb-setting")}
    monkeypatch.setattr(figure_base, "_background", {})
    plain = {s: _draw(g, counts[s], limit, layered=False) for s, g in by_setting.items()}
    assert figure_base._background == {}  # no layers, nothing kept

    drawn = []
    real = figure_base._mpl().FigureCanvasAgg.draw
    monkeypatch.setattr(figure_base._mpl().FigureCanvasAgg, "draw", lambda self: drawn.append(1) or real(self))
    layered = {s: _draw(g, counts[s], limit, layered=True) for s, g in by_setting.items()}
    assert drawn == [1]  # the second setting reused the first one's background
    for s in by_setting:
        assert np.array_equal(_pixels(layered[s]), _pixels(plain[s])), s
        assert layered[s].hits == plain[s].hits

    other = parse_all(_records("aaa-setting", [[-3.0, 4.0]], [["passed", "passed"]], seeds=("s-one", "s-two")))
    g = gap_grids(other)
    c = failure_grids(other)[0]
    own = _draw(g, c, limit, layered=True)
    assert drawn == [1, 1]  # another layout draws its own background
    assert np.array_equal(_pixels(own), _pixels(_draw(g, c, limit, layered=False)))
