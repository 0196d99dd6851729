"""The figures are inline SVG drawn without matplotlib: their colours are, to the byte,
matplotlib's (RdBu_r through its SymLogNorm for gaps, Reds through a BoundaryNorm for
failure counts), a report never imports it, and every id inside a figure is the page's only
one."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from iqa_audit.report import colours
from iqa_audit.report.html import render_report
from iqa_audit.report.svg import nice_ticks

from .test_report import synthetic_results, typed

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("limit", [2.0, 13.7, 100.0, 134.0, 4321.5])
def test_gap_colours_are_matplotlibs(limit):
    from matplotlib import colormaps
    from matplotlib.colors import SymLogNorm, to_hex

    norm, cmap = SymLogNorm(linthresh=1.0, linscale=1.0, vmin=-limit, vmax=limit, base=10), colormaps["RdBu_r"]
    values = np.concatenate([np.linspace(-limit, limit, 2001), [0.0, 1.0, -1.0, 0.3, -0.3, 99.5, -99.5]])
    values = values[np.abs(values) <= limit]
    for v in values:
        assert colours.to_hex(colours.gap_colour(float(v), limit)) == to_hex(cmap(norm(v))), v
    # The colour bar's gradient: the colour map's anchors, evenly spaced (linear between them;
    # matplotlib's 256-entry table is within a level or two of them there).
    anchors = colours.MAPS["RdBu_r"]
    for k, c in enumerate(anchors):
        drawn = np.array(cmap(k / (len(anchors) - 1))[:3]) * 255
        assert np.abs(drawn - [int(c[i : i + 2], 16) for i in (1, 3, 5)]).max() <= 2.5, (k, c)


def test_failure_count_colours_are_matplotlibs():
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm, to_hex

    cmap = colormaps["Reds"]
    for n in range(1, 12):
        norm = BoundaryNorm(np.arange(-0.5, n + 1.5), cmap.N)
        assert [colours.to_hex(colours.count_colour(f, n)) for f in range(n + 1)] == [to_hex(cmap(norm(f))) for f in range(n + 1)]


def test_text_stays_readable_on_every_colour():
    for rgb in colours.table("RdBu_r") + colours.table("Reds"):
        luminance = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
        assert colours.text_colour(rgb) == ("white" if luminance < 0.5 else "black")


def test_ticks_are_round_and_cover_the_range():
    assert nice_ticks(-5.0, 105.0) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(0.0, 6.0) == [0, 1, 2, 3, 4, 5, 6]
    ticks = nice_ticks(-123.4, 17.0)
    assert ticks[0] >= -123.4 and ticks[-1] <= 17.0 and len(ticks) >= 3


def test_a_report_never_imports_matplotlib(tmp_path):
    """The figures cost a small run milliseconds: matplotlib's import alone was ~0.7 s."""
    script = (
        "import sys\n"
        "from tests.report.test_report import synthetic_results, typed\n"
        "from iqa_audit.report.html import render_report\n"
        f"page = render_report(typed(synthetic_results(__import__('pathlib').Path({str(tmp_path / 'store')!r}))))\n"
        "assert '<svg' in page\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_ids_inside_figures_are_unique_on_the_page(tmp_path):
    page = render_report(typed(synthetic_results(tmp_path / "store")))
    ids = Counter(re.findall(r'\sid="([^"]+)"', page))
    assert ids and max(ids.values()) == 1, [i for i, n in ids.items() if n > 1]
    for ref in re.findall(r"url\(#([^)]+)\)", page):
        assert ref in ids, ref


def test_an_inconclusive_heatmap_cell_says_why_it_is():
    """A Δ beyond the chain's length is 'no step 10', not 'no visible change' (a newcomer's trial)."""
    from iqa_audit.report.heatmap_figures import heatmap_figure
    from iqa_audit.report.model import GapGrid, GridCell

    short = GridCell("gap:m-s-x-d10", None, False, "skipped", None, "inconclusive", reason="no step 10")
    quiet = GridCell("gap:m-s-y-d10", 0.1, False, "skipped", None, "inconclusive")
    grid = GapGrid("s", 10, ("m",), ("x", "y"), ((short, quiet),))
    svg = str(heatmap_figure([grid], None, 10.0))
    assert "(inconclusive: no step 10;" in svg and "(inconclusive: no visible change to notice;" in svg
