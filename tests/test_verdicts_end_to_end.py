"""The verdicts a researcher reads, end to end in a child pytest (the issue's "show it"):

- chains with nothing to notice (one image repeated; a converged JPEG chain), imported
  with --dataset, come out inconclusive, while blur and noise chains keep their gaps
  (equal to an independent computation) and the study's sign verdicts;
- the unpaired recipe (run 1 has no step 5) is not "noticed";
- a requested metric whose weights are missing fails the run, one line saying how to fix
  it, unless --allow-missing-metrics;
- editing a user metric's file between two runs re-scores, without a version bump.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from scipy.ndimage import gaussian_filter

from iqa_audit.core.images import Image
from iqa_audit.metrics.normalise import normalise
from iqa_audit.metrics.registry import create_metric
from tests.tiny_audit import GAP_TEST

from .conftest import textured_image

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent
STEPS = 5


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def _jpeg(px: np.ndarray, quality: int = 75) -> np.ndarray:
    buf = io.BytesIO()
    PILImage.fromarray(px).save(buf, "JPEG", quality=quality)
    return np.asarray(PILImage.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _chain(kind: str, run: int) -> list[np.ndarray]:
    """Steps 0..STEPS of one run of a synthetic chain."""
    rng = np.random.default_rng(run)
    steps = [textured_image(160, 120, seed=7).pixels]
    for _ in range(STEPS):
        prev = steps[-1].astype(float)
        if kind == "identical":
            nxt = steps[-1]
        elif kind == "jpeg":
            nxt = _jpeg(steps[-1])  # fixed quality: converges after a generation or two
        elif kind == "blur":
            nxt = _u8(gaussian_filter(prev, sigma=(0.9, 0.9, 0)))
        elif kind == "noise":
            nxt = _u8(prev + rng.normal(0, 5.0, prev.shape[:2] + (1,)))
        else:
            raise ValueError(kind)
        steps.append(nxt)
    return steps


def _manifest(folder: Path, rows: dict[tuple[str, int], dict[int, np.ndarray]]) -> Path:
    """manifest.csv (+ PNG files) for {(setting, run): {step: pixels}}, seed 'tex'."""
    (folder / "img").mkdir(parents=True)
    lines = ["seed,setting,run,step,path"]
    for (setting, run), steps in sorted(rows.items()):
        for k, px in sorted(steps.items()):
            name = f"img/{setting}-r{run}-s{k}.png"
            (folder / name).write_bytes(Image.from_array(px).data())
            lines.append(f"tex,{setting},{run},{k},{name}")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    return folder / "manifest.csv"


def _run(pytester, tmp_path, *args, name="r"):
    return pytester.runpytest_subprocess(
        "-p",
        "iqa_audit.pytest_plugin",
        "-p",
        "no:cacheprovider",
        "--store",
        str(tmp_path / "store"),
        "--reports-dir",
        str(tmp_path / "reports"),
        "--run-name",
        name,
        "--baseline",
        "none",
        "-rs",
        *args,
    )


def _cells(tmp_path, name="r") -> dict[str, dict]:
    res = json.loads((tmp_path / "reports" / name / "results.json").read_text())
    return {c["cell"]: c for c in res["cells"]}


@pytest.mark.slow
def test_nothing_to_notice_is_inconclusive_and_real_damage_keeps_its_sign(pytester, tmp_path, monkeypatch):
    kinds = ("identical", "jpeg", "blur", "noise")
    chains = {(k, run): _chain(k, run) for k in kinds for run in (0, 1)}
    csv = _manifest(tmp_path / "data", {key: dict(enumerate(steps)) for key, steps in chains.items()})
    pytester.makepyfile(test_gap=GAP_TEST)
    metrics = ("iqa_audit:noise-sigma", "iqa_audit:blur-effect")
    monkeypatch.setenv("CI", "1")  # pytest's short summary then prints failure messages whole
    args = ("--dataset", str(csv), "--metric", ",".join(metrics), "--delta-steps", str(STEPS), "-rfs")
    out = _run(pytester, tmp_path, *args)
    cells = _cells(tmp_path)
    assert len(cells) == len(kinds) * len(metrics)

    for name in metrics:
        metric = create_metric(name)
        mid = metric.id
        for kind in ("identical", "jpeg"):
            c = cells[f"gap:{mid}-{kind}-tex-d{STEPS}"]
            assert c["verdict"] == "inconclusive" and not c["passed"] and c["outcome"] == "skipped", c
            assert [e["run"] for e in c["evidence"]] == [0, 1] and not any(e["visible"] for e in c["evidence"])
            assert "no run changed visibly" in c["reason"] and "Chou & Li" in c["reason"]
        for kind in ("blur", "noise"):
            c = cells[f"gap:{mid}-{kind}-tex-d{STEPS}"]
            # The gap equals an independent computation from the files: score, normalise, average, subtract.
            norm = {
                k: [float(normalise(metric.score([Image.from_array(chains[(kind, r)][k])])[0], metric.range)) for r in (0, 1)]
                for k in (1, STEPS)
            }
            expected = np.mean(norm[STEPS]) - np.mean(norm[1])
            assert c["value"] == pytest.approx(expected, abs=1e-9)
            assert all(e["visible"] for e in c["evidence"])
            assert c["verdict"] == ("pass" if c["value"] < 0 else "fail")  # the study's sign rule, unchanged
    # The positive controls: each measure notices the damage it measures.
    assert cells[f"gap:noise-sigma-noise-tex-d{STEPS}"]["verdict"] == "pass"
    assert cells[f"gap:blur-effect-blur-tex-d{STEPS}"]["verdict"] == "pass"
    out.assert_outcomes(
        skipped=4,
        passed=sum(c["verdict"] == "pass" for c in cells.values()),
        failed=sum(c["verdict"] == "fail" for c in cells.values()),
    )
    out.stdout.fnmatch_lines(["*gap verdicts: * noticed, * missed, 4 inconclusive*"])
    # A missed gap is one line in the short summary, its evidence lines in its failure section.
    lines = out.stdout.lines
    start = lines.index(next(ln for ln in lines if "short test summary info" in ln))
    # The audit's own section (verdict counts, cards) comes after pytest's summary: the run ends on it.
    assert start < lines.index(next(ln for ln in lines if ln.startswith("gap verdicts: ")))
    summary = lines[start + 1 :]
    failed = [i for i, ln in enumerate(summary) if ln.startswith("FAILED ")]
    assert failed and all(summary[i + 1].startswith(("FAILED ", "SKIPPED ", "=")) for i in failed), "\n".join(summary)
    res = json.loads((tmp_path / "reports" / "r" / "results.json").read_text())
    assert res["run"]["verdicts"]["inconclusive"] == 4 and "Flynn" in res["run"]["evidence_threshold"]
    page = (tmp_path / "reports" / "r" / "index.html").read_text()
    assert "<b>4</b> inconclusive" in page and 'class="inconclusive"' in page


@pytest.mark.slow
def test_the_unpaired_recipe_is_not_noticed(pytester, tmp_path):
    clean = textured_image(160, 120, seed=3).pixels
    noisy = _u8(clean.astype(float) + np.random.default_rng(0).normal(0, 15, clean.shape))
    # Run 0: noisy and unchanged at steps 1 and 5. Run 1: clean at step 1, no step 5
    # (a refusal ended the chain). Unpaired means made this a gap of about -70, PASSED.
    csv = _manifest(tmp_path / "data", {("recipe", 0): {0: clean, 1: noisy, 5: noisy}, ("recipe", 1): {0: clean, 1: clean}})
    pytester.makepyfile(test_gap=GAP_TEST)
    out = _run(pytester, tmp_path, "--dataset", str(csv), "--metric", "iqa_audit:noise-sigma", "--delta-steps", "5")
    out.assert_outcomes(skipped=1)
    c = _cells(tmp_path)["gap:noise-sigma-recipe-tex-d5"]
    assert c["verdict"] == "inconclusive" and c["value"] == 0.0 and c["paired_runs"] == [0]
    assert c["left_out"] == [{"run": 1, "why": "no step 5"}]
    out.stdout.fnmatch_lines(["*INCONCLUSIVE: * on *: no run changed visibly*"])


@pytest.mark.slow
def test_a_metric_with_missing_weights_fails_the_run_with_how_to_fix_it(pytester, tmp_path, seed_dir, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))  # musiq's weights are not here
    pytester.makepyfile(test_gap=GAP_TEST)
    chain = (
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
        "4",
        "--long-side",
        "0",
        "--metric",
        "pyiqa:musiq,iqa_audit:noise-sigma",
    )
    out = _run(pytester, tmp_path, *chain)
    assert out.ret == 1, out.stdout.str()  # one audited metric passed, but musiq audited nothing: not green
    out.assert_outcomes(passed=1, skipped=1)
    out.stdout.fnmatch_lines(
        [
            "*requested metrics that could not be audited*",
            "pyiqa:musiq: metric pyiqa:musiq: expected its weight files**iqa-audit weights --metric pyiqa:musiq*",
            "*the run FAILS (exit 1)*--allow-missing-metrics*",
        ]
    )
    res = json.loads((tmp_path / "reports" / "r" / "results.json").read_text())
    assert res["metrics"]["musiq"]["status"] == "unavailable" and "weight" in res["metrics"]["musiq"]["why"]
    assert res["metrics"]["noise-sigma"]["status"] == "audited"
    page = (tmp_path / "reports" / "r" / "index.html").read_text()
    assert "unavailable" in page and "iqa-audit weights --metric pyiqa:musiq" in page

    allowed = _run(pytester, tmp_path, *chain, "--allow-missing-metrics", name="allowed")
    assert allowed.ret == 0
    allowed.stdout.fnmatch_lines(["*--allow-missing-metrics lets the run pass without them*"])


METRIC_V1 = """
import numpy as np
import iqa_audit.metrics


@iqa_audit.metrics.declare(lower_better=False, range=(0, 50), version="1")
def sharp(pixels):
    g = pixels.astype(np.float64).mean(axis=2)
    return float(np.abs(np.diff(g, axis=1)).mean())
"""


@pytest.mark.slow
def test_editing_a_metric_file_rescores_without_a_version_bump(pytester, tmp_path, seed_dir, monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    pytester.makepyfile(test_gap=GAP_TEST, my_metric=METRIC_V1)
    chain = (
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
        "4",
        "--long-side",
        "0",
        "--metric",
        "my_metric:sharp",
    )
    _run(pytester, tmp_path, *chain, name="before")
    before = next(iter(_cells(tmp_path, "before").values()))
    # The author flips the score (higher is now blurrier) and forgets to bump version="1".
    pytester.makepyfile(my_metric=METRIC_V1.replace("return float(", "return 50 - float("))
    _run(pytester, tmp_path, *chain, name="after")
    after = next(iter(_cells(tmp_path, "after").values()))
    assert before["version"].startswith("1+src-") and after["version"].startswith("1+src-")
    assert before["version"] != after["version"]
    assert after["value"] == pytest.approx(-before["value"], abs=1e-6) and before["value"] != 0  # re-scored, not read back


def test_a_metric_that_cannot_be_created_is_unavailable_not_an_error_per_cell(tmp_path, seed_dir):
    # An import error (or a refused declaration) is the same as missing weights for the
    # run's verdict: every cell of the metric skips with the reason, and the session fails.
    from iqa_audit.audit.services import Services
    from iqa_audit.config.audit_config import resolve_config
    from iqa_audit.metrics.base import MetricUnavailable

    scorer = Services.open(
        resolve_config({"seeds": ("tiny",), "seed_dirs": (str(seed_dir),), "store": str(tmp_path / "s")})
    ).scorer
    with pytest.raises(MetricUnavailable, match="importable module") as first:
        scorer.metric("no_such_module_xyz.sub:fn")
    with pytest.raises(MetricUnavailable) as again:  # remembered: asked once per process
        scorer.metric("no_such_module_xyz.sub:fn")
    assert again.value is first.value
