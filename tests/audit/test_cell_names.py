"""One function forms every audit cell's test id and key (cells.cell_name); the committed
baseline's keys are exactly the default configuration's cells, so keys and ids are stable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iqa_audit.audit.cells import EditorCell, GapCell, StabilityCell, cell_name, editor_cells, gap_cells, stability_cells
from iqa_audit.chains.plan import Setting
from iqa_audit.config.audit_config import find_pyproject, resolve_config

ROOT = Path(__file__).resolve().parents[2]


def test_the_formats() -> None:
    assert cell_name("gap", "codec-jpeg-replicate", "grid-perspective", metric_id="piqe", delta_step=5) == (
        "piqe-codec-jpeg-replicate-grid-perspective-d5",
        "gap:piqe-codec-jpeg-replicate-grid-perspective-d5",
    )
    assert cell_name("editor", "sim-crop-replicate", "grid-perspective", check="aspect_ratio") == (
        "sim-crop-replicate-grid-perspective",
        "editor:aspect_ratio-sim-crop-replicate-grid-perspective",
    )
    assert cell_name("stability", "add-fruits", "empty-table", metric_id="piqe") == (
        "piqe-add-fruits-empty-table",
        "stability:piqe-add-fruits-empty-table",
    )


@pytest.mark.parametrize(
    "kind,kw",
    [("gap", {"metric_id": "piqe"}), ("gap", {"delta_step": 5}), ("editor", {}), ("sanity", {"check": "x"}), ("stability", {})],
)
def test_a_missing_part_or_unknown_kind_is_refused(kind, kw) -> None:
    with pytest.raises(ValueError, match="cell_name"):
        cell_name(kind, "s", "seed", **kw)


def test_cells_take_their_id_and_key_from_cell_name() -> None:
    setting = Setting("codec-jpeg-replicate", "codec-jpeg", "replicate")
    gap = GapCell("pyiqa:piqe", "piqe", setting, "smooth-gradient", 10)
    assert (gap.id, gap.key) == cell_name("gap", setting.label, "smooth-gradient", metric_id="piqe", delta_step=10)
    ed = EditorCell(setting, "smooth-gradient", "tint", steps=10, runs=1)
    assert (ed.id, ed.key) == cell_name("editor", setting.label, "smooth-gradient", check="tint")
    assert ed.cell == "tint-codec-jpeg-replicate-smooth-gradient"
    st = StabilityCell("pyiqa:piqe", "piqe", "sim-noise-tint", "add-apples", "empty-table")
    assert (st.id, st.key) == cell_name("stability", "add-apples", "empty-table", metric_id="piqe")


def test_the_committed_baseline_keys_are_the_default_cells() -> None:
    cfg = resolve_config({}, pyproject=find_pyproject(ROOT))
    keys = {c.key for c in gap_cells(cfg)} | {c.key for c in editor_cells(cfg)} | {c.key for c in stability_cells(cfg)}
    baseline = json.loads((ROOT / cfg.baseline).read_text())["cells"]
    assert set(baseline) == keys
