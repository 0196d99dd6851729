"""The cheap evidence measure decides exactly as the measure it replaced.

`reference_change` below is evidence.measure_change as it was before it got cheap (float64
PSNR, scikit-image's SSIM on every changed pair). On real chain pairs, photographs and
procedural scenes through the suite's codecs and simulators (step 1 against steps 2..8),
the new measure must give the same visible/invisible decision for every pair, the same
PSNR to the last bit, the same alignment, an SSIM within 1e-12 wherever it measures one,
and skip SSIM only where PSNR alone already showed a visible change.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from PIL import Image as PILImage

from iqa_audit.analysis.evidence import PSNR_BOUND_DB, SSIM_BOUND, Change, measure_change
from iqa_audit.core.images import Image
from iqa_audit.editors import create_editor
from iqa_audit.fidelity.alignment import align_to_reference
from iqa_audit.tasks.table import get_task

EDITORS = ("codec-jpeg", "codec-webp", "codec-reupload", "sim-noise-tint", "sim-grain-tint", "sim-texture-loss", "sim-crop")
STEPS = 8
SIDE = 192


def reference_change(reference: Image, later: Image) -> Change:
    """The measure before this change, verbatim but for the early return of equal pixels."""
    from skimage.metrics import structural_similarity

    ref_px, out_px, info = align_to_reference(reference, later)
    a, b = np.asarray(ref_px, dtype=np.float64), np.asarray(out_px, dtype=np.float64)
    mse = float(np.mean((a - b) ** 2))
    psnr = None if mse == 0.0 else 10.0 * math.log10(255.0**2 / mse)
    side = min(a.shape[0], a.shape[1])
    win = min(7, side if side % 2 else side - 1)
    ssim = 1.0 if mse == 0.0 else float(structural_similarity(ref_px, out_px, channel_axis=2, data_range=255, win_size=win))
    return Change(psnr, ssim, str(info["method"]))


def _photo(name: str) -> Image:
    from skimage import data

    px = np.asarray(getattr(data, name)())
    if px.ndim == 2:
        px = np.stack([px] * 3, axis=2)
    im = PILImage.fromarray(px[..., :3].astype(np.uint8))
    im.thumbnail((SIDE, SIDE), PILImage.Resampling.LANCZOS)
    return Image.from_array(np.asarray(im))


@functools.lru_cache(maxsize=None)
def _chain(editor: str, seed: str) -> tuple[Image, ...]:
    from iqa_audit.seeds import get_seed

    start = _photo(seed) if not seed.startswith("proc:") else get_seed(seed[5:]).render(SIDE)
    ed, task = create_editor(editor), get_task("replicate")
    images = [task.prepare_seed(start)]
    for k in range(1, STEPS + 1):
        images.append(ed.edit(images[-1], task.prompt(k), seed=0, step=k).image)
    return tuple(images)


SEEDS = ("chelsea", "coffee", "coins", "proc:grid-perspective", "proc:deep-shadows")
DELTAS = (2, 3, 5, 8)


@functools.lru_cache(maxsize=None)
def _pair(editor: str, seed: str, delta: int) -> tuple[Change, Change, Change]:
    """(old measure, new measure, new measure with full=True) of step 1 against step Δ."""
    chain = _chain(editor, seed)
    a, b = chain[1], chain[delta]
    return reference_change(a, b), measure_change(a, b), measure_change(a, b, full=True)


@pytest.mark.parametrize("editor", EDITORS)
def test_new_measure_decides_as_the_old_one_on_real_chain_pairs(editor):
    for seed in SEEDS:
        for delta in DELTAS:
            old, new, full = _pair(editor, seed, delta)
            where = f"{editor}/{seed} step 1 vs {delta}: old {old}, new {new}"
            assert new.visible == old.visible == full.visible, where
            assert new.psnr_db == old.psnr_db == full.psnr_db and new.alignment == old.alignment, where
            if new.ssim is None:  # skipped only where PSNR alone decides
                assert old.psnr_db is not None and old.psnr_db < PSNR_BOUND_DB, where
            else:
                assert new.ssim == full.ssim == pytest.approx(old.ssim, abs=1e-12), where
            assert full.ssim == pytest.approx(old.ssim, abs=1e-12), where


def test_the_pairs_cover_both_measures_and_both_decisions():
    """The comparison above means something only if its pairs reach every branch: some
    decided by PSNR, some needing SSIM, some visible only by SSIM, some invisible."""
    kinds = set()
    for editor in EDITORS:
        for seed in SEEDS:
            for delta in DELTAS:
                c = _pair(editor, seed, delta)[0]
                by_psnr = c.psnr_db is not None and c.psnr_db < PSNR_BOUND_DB
                kinds.add("psnr" if by_psnr else "ssim" if c.ssim < SSIM_BOUND else "invisible")
    assert kinds == {"psnr", "ssim", "invisible"}, kinds


@pytest.mark.parametrize("shape", [(3, 3), (4, 9), (5, 6), (7, 7), (64, 33), (38, 40), (39, 7), (70, 45), (101, 3)])
@pytest.mark.parametrize("strip_bytes", [None, 1])
def test_small_and_odd_sizes_match_scikit_image(shape, strip_bytes, monkeypatch):
    from iqa_audit.analysis import evidence

    if strip_bytes is not None:  # strips of MIN_STRIP_ROWS rows: images taller than that span several
        monkeypatch.setattr(evidence, "STRIP_BYTES", strip_bytes)
        monkeypatch.setattr(evidence, "MIN_STRIP_ROWS", 4)
        evidence._workspaces.__dict__.clear()
    rng = np.random.default_rng(sum(shape))
    a = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-2, 3, a.shape), 0, 255).astype(np.uint8)
    old = reference_change(Image.from_array(a), Image.from_array(b))
    new = measure_change(Image.from_array(a), Image.from_array(b), full=True)
    evidence._workspaces.__dict__.clear()
    assert new.psnr_db == old.psnr_db and new.ssim == pytest.approx(old.ssim, abs=1e-12)


def test_extreme_samples_stay_exact():
    # Black against white and a saturated checkerboard: the largest window sums there are.
    a = np.zeros((40, 40, 3), np.uint8)
    b = np.full((40, 40, 3), 255, np.uint8)
    b[::2, ::2] = 0
    for x, y in ((a, b), (b, a), (b, 255 - b)):
        old = reference_change(Image.from_array(x), Image.from_array(y))
        new = measure_change(Image.from_array(x), Image.from_array(y), full=True)
        assert new.psnr_db == old.psnr_db and new.ssim == pytest.approx(old.ssim, abs=1e-12)


def test_a_change_without_ssim_reads_back_and_describes_itself():
    from iqa_audit.analysis.evidence import RunEvidence

    c = Change(30.5, None, "identity")
    assert c.visible and Change.from_dict(c.to_dict()) == c
    assert RunEvidence(0, 1, 5, c).describe() == "run 0: PSNR 30.50 dB (visible change)"


def test_threads_and_changing_sizes_do_not_share_buffers():
    # The strips' buffers are kept per thread and per width: measures of two sizes, in two
    # threads at once, give what each gives alone.
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(5)
    pairs = []
    for shape in ((90, 70), (45, 130), (90, 70), (33, 33)):
        a = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        b = np.clip(a.astype(int) + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
        pairs.append((Image.from_array(a), Image.from_array(b)))
    alone = [measure_change(a, b, full=True) for a, b in pairs]
    with ThreadPoolExecutor(max_workers=2) as pool:
        together = list(pool.map(lambda ab: measure_change(*ab, full=True), pairs * 4))
    assert together == alone * 4
