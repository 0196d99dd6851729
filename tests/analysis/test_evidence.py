"""Evidence before a verdict: was there anything to notice between step 1 and step Δ?

Unit level: the measure, its threshold, the crop alignment it shares with the
replication check, the memo a warm run reads; and the verdict rule built on it (paired
runs only; no visible change or no paired run: inconclusive; otherwise the sign rule).
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image as PILImage

from iqa_audit.analysis import evidence
from iqa_audit.analysis.evidence import Change, RunEvidence, measure_change
from iqa_audit.analysis.gaps import Series, apply_sign_rule, gap
from iqa_audit.audit.cells import GapCell
from iqa_audit.audit.services import Services
from iqa_audit.chains.plan import Setting
from iqa_audit.config.audit_config import resolve_config
from iqa_audit.core.images import Image
from iqa_audit.fidelity import alignment as fidelity_alignment
from tests.conftest import textured_image


def _noisy(image: Image, sigma: float, seed: int = 0) -> Image:
    rng = np.random.default_rng(seed)
    px = image.pixels.astype(float) + rng.normal(0, sigma, image.pixels.shape)
    return Image.from_array(np.clip(np.round(px), 0, 255).astype(np.uint8))


def _jpeg(image: Image, quality: int) -> Image:
    buf = io.BytesIO()
    image.to_pil().save(buf, "JPEG", quality=quality)
    return Image.from_array(np.asarray(PILImage.open(io.BytesIO(buf.getvalue())).convert("RGB")))


# ----- the measure and its threshold -----------------------------------------------------
def test_threshold_is_the_stated_jnd_bounds():
    # Chou & Li (1995): 3 grey levels; Flynn et al. (2013): SSIM 0.95.
    assert evidence.PSNR_BOUND_DB == pytest.approx(20 * math.log10(255 / 3)) == pytest.approx(38.59, abs=0.01)
    assert evidence.SSIM_BOUND == 0.95
    assert "Chou & Li 1995" in evidence.THRESHOLD_SOURCE and "Flynn et al. 2013" in evidence.THRESHOLD_SOURCE


def test_identical_images_are_no_change():
    img = textured_image(96, 64)
    c = measure_change(img, Image.from_array(img.pixels.copy()))
    assert c.psnr_db is None and c.ssim == 1.0 and not c.visible


@pytest.mark.parametrize("sigma, visible", [(1.0, False), (2.0, False), (8.0, True), (20.0, True)])
def test_noise_is_visible_once_its_rms_passes_the_jnd(sigma, visible):
    img = textured_image(192, 128)
    c = measure_change(img, _noisy(img, sigma))
    assert c.visible is visible, c
    assert (c.psnr_db < evidence.PSNR_BOUND_DB) is (sigma > evidence.JND_GREY_LEVELS)


def test_a_converged_jpeg_generation_is_no_visible_change():
    once = _jpeg(textured_image(192, 128), 75)
    again = _jpeg(_jpeg(_jpeg(once, 75), 75), 75)
    c = measure_change(once, again)
    assert not c.visible and (c.psnr_db is None or c.psnr_db > 45), c


def test_a_blur_is_visible_by_ssim_even_where_psnr_alone_would_miss_it():
    from scipy.ndimage import gaussian_filter

    img = textured_image(192, 128)
    blurred = Image.from_array(np.clip(gaussian_filter(img.pixels.astype(float), sigma=(1.2, 1.2, 0)), 0, 255).astype(np.uint8))
    c = measure_change(img, blurred, full=True)
    assert c.visible and c.ssim < evidence.SSIM_BOUND


def test_a_cropped_step_is_aligned_the_way_the_replication_check_aligns_it():
    # An editor that cropped 10 % of the rows between step 1 and step Δ but changed no
    # pixel: after alignment nothing changed. Without alignment the rows would be
    # compared shifted against each other, a huge "change".
    img = textured_image(192, 128, seed=3)
    cropped = Image.from_array(img.pixels[6:-7].copy())
    c = measure_change(img, cropped)
    assert c.alignment == "crop" and not c.visible, c
    ref_px, out_px, info = fidelity_alignment.align_to_reference(img, cropped)  # the same function, the same answer
    assert info["method"] == c.alignment
    assert evidence.align_to_reference is fidelity_alignment.align_to_reference


def test_the_memo_key_covers_the_alignment_code():
    import inspect

    mods = evidence.sources()
    assert evidence in mods and inspect.getmodule(fidelity_alignment.align_to_reference) in mods


def test_change_round_trips_through_json():
    for c in (Change(None, 1.0, "identity"), Change(41.25, 0.987, "crop")):
        assert Change.from_dict(c.to_dict()) == c


# ----- the verdict rule ------------------------------------------------------------------
def _series(norm_by_run):
    raw = {r: {k: -v for k, v in steps.items()} for r, steps in norm_by_run.items()}
    steps = tuple(sorted({k for s in norm_by_run.values() for k in s}))
    return Series("m", "v1", "set", "seed", tuple(sorted(norm_by_run)), steps, raw, norm_by_run)


def _ev(run, visible, step=5):
    return RunEvidence(run, 1, step, Change(20.0 if visible else None, 0.5 if visible else 1.0, "identity"))


def test_unpaired_runs_are_left_out_and_named():
    # The recipe: run 0 noisy and unchanged at steps 1 and 5 (normalised 30), run 1
    # clean at step 1 (100) with no step 5. Unpaired means gave 30 - 65 = -35 ("noticed").
    s = _series({0: {1: 30.0, 5: 30.0}, 1: {1: 100.0}})
    g = gap(s, 5)
    assert g.runs == (0,) and g.left_out == ((1, "no step 5"),)
    assert g.gap == 0.0 and not g.noticed
    assert "run 1 left out: no step 5" in g.explain()


def test_no_paired_run_is_inconclusive_saying_why():
    g = gap(_series({0: {1: 50.0}, 1: {5: 40.0}}), 5)
    assert g.gap is None and g.runs == ()
    v = apply_sign_rule(g, ())
    assert v.verdict == "inconclusive" and not v.passed
    assert "no run has both step 1 and step 5" in v.reason and "run 0 left out: no step 5" in v.reason
    assert "run 1 left out: no step 1" in v.reason


def test_no_visible_change_in_any_run_is_inconclusive_with_the_numbers():
    g = gap(_series({0: {1: 50.0, 5: 49.9}, 1: {1: 60.0, 5: 59.95}}), 5)
    v = apply_sign_rule(g, (_ev(0, False), _ev(1, False)))
    assert v.verdict == "inconclusive" and g.noticed  # the sign alone would have said "noticed"
    assert "run 0: identical pixels" in v.reason and evidence.THRESHOLD_SOURCE in v.reason


@pytest.mark.parametrize("gaps, verdict", [((-2.0, -1.0), "pass"), ((2.0, 1.0), "fail"), ((0.0, 0.0), "fail")])
def test_a_visible_change_keeps_the_study_sign_rule(gaps, verdict):
    g = gap(_series({0: {1: 50.0, 5: 50.0 + gaps[0]}, 1: {1: 60.0, 5: 60.0 + gaps[1]}}), 5)
    v = apply_sign_rule(g, (_ev(0, True), _ev(1, False)))  # one visible run is enough
    assert v.verdict == verdict and v.passed is (verdict == "pass")
    assert g.gap == pytest.approx(sum(gaps) / 2)


def test_each_gap_carries_its_per_run_gaps_and_spread():
    g = gap(_series({0: {1: 50.0, 5: 40.0}, 1: {1: 60.0, 5: 56.0}, 2: {1: 70.0, 5: 63.0}}), 5)
    assert g.per_run_gaps == (-10.0, -4.0, -7.0)
    assert g.spread == pytest.approx(np.std([-10, -4, -7], ddof=1))
    assert g.stderr == pytest.approx(g.spread / math.sqrt(3))
    assert gap(_series({0: {1: 5.0, 5: 4.0}}), 5).stderr == 0.0


def test_evidence_for_a_paired_run_is_required():
    g = gap(_series({0: {1: 50.0, 5: 40.0}}), 5)
    with pytest.raises(Exception, match="evidence for every paired run"):
        apply_sign_rule(g, ())


# ----- through the gap cells' service: memoised, so a warm run decodes no image ------------
def _engine(tmp_path, seed_dir, editor="sim-noise-tint"):
    cfg = resolve_config(
        {
            "seeds": ("tiny",),
            "seed_dirs": (str(seed_dir),),
            "editors": (editor,),
            "runs": 2,
            "steps": 5,
            "delta_steps": (5,),
            "long_side": None,
            "metrics": ("iqa_audit:noise-sigma",),
            "store": str(tmp_path / "store"),
        }
    )
    cell = GapCell("iqa_audit:noise-sigma", "noise-sigma", Setting(f"{editor}-replicate", editor, "replicate"), "tiny", 5)
    return Services.open(cfg).gaps, cell


def test_engine_verdict_uses_evidence_and_a_warm_run_reads_it_back(tmp_path, seed_dir, monkeypatch):
    gaps, cell = _engine(tmp_path, seed_dir)
    v = gaps.verdict(cell)
    assert v.verdict == "pass" and [e.run for e in v.evidence] == [0, 1] and all(e.visible for e in v.evidence)
    gaps.changes.store.close()

    warm, _ = _engine(tmp_path, seed_dir)

    def refuse(*a, **k):
        raise AssertionError("evidence was measured again on a warm run")

    monkeypatch.setattr("iqa_audit.audit.step_changes.measure_change", refuse)
    monkeypatch.setattr("iqa_audit.audit.step_changes.step_image", refuse)  # no image is decoded at all
    assert warm.verdict(cell).evidence == v.evidence


def test_editing_the_evidence_code_measures_again(tmp_path, seed_dir, monkeypatch):
    from iqa_audit.audit import step_changes

    gaps, cell = _engine(tmp_path, seed_dir)
    gaps.verdict(cell)
    calls = []
    real = step_changes.measure_change
    monkeypatch.setattr(step_changes, "measure_change", lambda a, b: calls.append(1) or real(a, b))
    monkeypatch.setattr(step_changes, "code_digest", lambda *modules: "edited-" + "-".join(m.__name__ for m in modules))
    fresh, _ = _engine(tmp_path, seed_dir)
    fresh.verdict(cell)
    assert len(calls) == 2  # both runs measured again under the new code's key


def test_identity_chain_is_inconclusive_without_decoding(tmp_path, seed_dir, monkeypatch):
    gaps, cell = _engine(tmp_path, seed_dir, editor="identity")
    monkeypatch.setattr("iqa_audit.audit.step_changes.step_image", lambda *a: (_ for _ in ()).throw(AssertionError("decoded")))
    gaps.series(cell)  # scores need the images; evidence must not
    monkeypatch.setattr(
        "iqa_audit.audit.step_changes.measure_change", lambda *a: (_ for _ in ()).throw(AssertionError("measured"))
    )
    v = gaps.verdict(cell)
    assert v.verdict == "inconclusive" and all(e.change.psnr_db is None for e in v.evidence)
