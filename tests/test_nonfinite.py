"""A NaN or ±inf from any metric is an error that names the image, never a row in the score
table: the other images still score and cache, and only the cells that need the bad score
error (a pytest ERROR, recorded in results.json and the report with the reason).

The recipe is the issue's: a 64x64 random texture (values 40-215) at steps 0, 1 and 2 and
a black frame at step 5 (what an editor returns when its safety filter trips), imported
with a manifest; pyiqa's PIQE and the noise-sigma measure score the black frame NaN.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

import iqa_audit.metrics
from iqa_audit.analysis.gaps import Series, gap
from iqa_audit.core.errors import StoreError
from iqa_audit.datasets.importer import import_manifest
from iqa_audit.datasets.registry import imported_chain_key
from iqa_audit.metrics.base import NonFiniteScore
from iqa_audit.metrics.registry import create_metric
from iqa_audit.scoring import batch as score_core
from iqa_audit.scoring.cached import Scorer
from iqa_audit.store.store import Store

from .conftest import textured_image

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent
DARK = 1.0  # mean grey level below which the user metrics here give up


# ----- user metrics that give up on a black frame, the three ways a float can ---------------------


@iqa_audit.metrics.declare(lower_better=False, range=(0, 255), version="1")
def dark_is_nan(pixels: np.ndarray) -> float:
    return float("nan") if pixels.mean() < DARK else float(pixels.mean())


@iqa_audit.metrics.declare(lower_better=False, range=(0, 255), version="1")
def dark_is_inf(pixels: np.ndarray) -> float:
    return float("inf") if pixels.mean() < DARK else float(pixels.mean())


@iqa_audit.metrics.declare(lower_better=True, range=(0, 255), version="1")
def dark_is_minus_inf(pixels: np.ndarray) -> float:
    return float("-inf") if pixels.mean() < DARK else float(pixels.mean())


@iqa_audit.metrics.declare(lower_better=False, range=(0, 255), version="1", batch=True)
def dark_is_nan_batched(batch: list[np.ndarray]) -> list[float]:
    return [float("nan") if p.mean() < DARK else float(p.mean()) for p in batch]


# NaN on a black frame: pyiqa's PIQE and the wavelet noise estimate (0/0); blur-effect's
# NaN (a 2-pixel strip) is the CLI test's.
METRICS = [
    "pyiqa:piqe",
    "iqa_audit:noise-sigma",
    "tests.test_nonfinite:dark_is_nan",
    "tests.test_nonfinite:dark_is_inf",
    "tests.test_nonfinite:dark_is_minus_inf",
    "tests.test_nonfinite:dark_is_nan_batched",
]


# ----- the recipe -------------------------------------------------------------------------------


def black_frame_dataset(root: Path, runs: tuple[int, ...] = (0,)) -> Path:
    """manifest.csv: seed 'tex', setting 'import'; texture at steps 0-2, black at step 5 of run 0."""
    (root / "img").mkdir(parents=True)
    rows = ["seed,setting,run,step,path"]
    for run in runs:
        tex = np.random.default_rng(run).integers(40, 216, (64, 64, 3), dtype=np.uint8)
        for k in (0, 1, 2, 5):
            pixels = np.zeros((64, 64, 3), np.uint8) if (k == 5 and run == 0) else tex
            PILImage.fromarray(pixels).save(root / "img" / f"r{run}s{k}.png")
            rows.append(f"tex,import,{run},{k},img/r{run}s{k}.png")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


@pytest.fixture
def imported(store, tmp_path):
    csv = black_frame_dataset(tmp_path / "data")
    summary = import_manifest(store, csv)
    steps = store.steps(imported_chain_key(summary.dataset, "import", "tex", 0))
    return store, {s.step: (s.image_hash, s.ext) for s in steps}, tmp_path / "data" / "img" / "r0s5.png"


def score_rows(store: Store) -> list[tuple[str, float | None]]:
    with sqlite3.connect(store.db_path) as db:
        return db.execute("SELECT image_hash, score FROM scores").fetchall()


# ----- the scoring core, through every kind of metric ------------------------------------------------


@pytest.mark.parametrize("name", METRICS)
def test_a_non_finite_score_is_an_error_naming_the_image_and_the_others_are_stored(name, imported):
    store, by_step, black_file = imported
    metric = create_metric(name)
    objects = [by_step[k] for k in (0, 1, 2, 5)]
    black = by_step[5][0]

    got = Scorer(store).scores(metric, objects)  # one batch, as the audit scores a series
    assert set(got.nonfinite) == {black} and not math.isfinite(got.nonfinite[black])
    assert set(got.finite) == {by_step[k][0] for k in (0, 1, 2)}
    stored = store.get_scores(metric.id, metric.version, [h for h, _ in objects])
    assert stored == dict(got.finite)  # the other images are cached; the black frame is not a score
    assert all(s is not None and math.isfinite(s) for _, s in score_rows(store))

    error = score_core.nonfinite_error(store, metric.name, got.nonfinite, exts=dict(objects))
    assert isinstance(error, NonFiniteScore)
    text = str(error)
    for part in (
        name,
        "import/tex/run 0/step 5",
        "64x64",
        str(black_file),
        str(store.object_path(*by_step[5])),
        "expected a finite score",
    ):
        assert part in text, part
    assert error.image_hashes == (black,)


def test_a_warm_run_knows_the_bad_score_without_scoring_again(imported):
    store, by_step, _ = imported
    metric = create_metric("tests.test_nonfinite:dark_is_nan")
    objects = [by_step[k] for k in (1, 5)]
    Scorer(store).scores(metric, objects)
    calls = []
    counting = type(metric)(
        metric.id, metric.name, metric.version, metric.range, lambda p: calls.append(1) or dark_is_nan(p), metric.declaration
    )
    again = Scorer(store).scores(counting, objects)
    assert calls == [] and set(again.nonfinite) == {by_step[5][0]}


def test_the_store_refuses_non_finite_scores_and_writes_nothing_of_that_call(store):
    for bad in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(StoreError, match="finite"):
            store.put_scores("m", "1", {"a" * 64: 1.0, "b" * 64: bad})
    assert store.score_count() == 0  # not even the finite one: no half-written batch


def test_split_finite_keeps_order_and_refuses_a_wrong_length():
    good, bad = score_core.split_finite(["a", "b", "c", "d"], [1.0, float("nan"), float("-inf"), 2.0])
    assert list(good) == ["a", "d"] and list(bad) == ["b", "c"]
    with pytest.raises(iqa_audit.metrics.base.ScoreError, match="3 scores"):
        score_core.split_finite(["a", "b", "c"], [1.0, 2.0])


# ----- only the gaps that need the bad step --------------------------------------------------------


def test_only_the_gaps_that_need_an_unusable_step_raise():
    raw = {0: {1: 50.0, 2: 50.0}, 1: {1: 50.0, 2: 40.0, 5: 30.0}}
    series = Series("m", "1", "set", "seed", (0, 1), (1, 2, 5), raw, raw, {0: {5: "run 0 step 5 is NaN"}})
    assert gap(series, 2).gap == pytest.approx(-5.0)  # needs steps 1 and 2 of both runs: fine
    with pytest.raises(NonFiniteScore, match="run 0 step 5 is NaN"):
        gap(series, 5)  # a mean over run 1 alone would hide the failure


# ----- the audit end to end: errors, not failures, in pytest, results.json and the report -----------

GAP_TEST = "def test_gap(gap_cell, gap_inputs, audit):\n    audit.gap(gap_cell)\n"


@pytest.mark.slow
def test_the_audit_errors_only_the_cells_that_need_the_black_frame(pytester, tmp_path):
    csv = black_frame_dataset(tmp_path / "data", runs=(0, 1))
    pytester.makepyfile(test_gap=GAP_TEST)
    args = [
        "-p",
        "iqa_audit.pytest_plugin",
        "-p",
        "no:cacheprovider",
        "--dataset",
        str(csv),
        "--metric",
        "pyiqa:piqe",
        "--delta-steps",
        "2,5",
        "--store",
        str(tmp_path / "store"),
        "--reports-dir",
        str(tmp_path / "reports"),
        "--baseline",
        "none",
    ]
    for run_name in ("cold", "warm"):  # the warm run reads the remembered NaN and errors the same way
        out = pytester.runpytest_subprocess(*args, "--run-name", run_name)
        # Δ2 is judged (texture unchanged: nothing to notice, so inconclusive); Δ5 cannot be.
        out.assert_outcomes(skipped=1, errors=1)
        out.stdout.fnmatch_lines(["ERROR *test_gap[[]piqe-import-tex-d5[]]*"])
        assert "IntegrityError" not in out.stdout.str() and "Traceback" not in out.stdout.str()
        results = json.loads((tmp_path / "reports" / run_name / "results.json").read_text())
        assert results["run"]["outcomes"] == {"skipped": 1, "error": 1}  # the same counts as pytest's
        cells = {c["cell"]: c for c in results["cells"]}
        d5 = cells["gap:piqe-import-tex-d5"]
        assert d5["outcome"] == "error" and d5["value"] is None and not d5["passed"]
        for part in ("pyiqa:piqe", "import/tex/run 0/step 5", "64x64", "r0s5.png", "got NaN"):
            assert part in d5["error"], part
        d2 = cells["gap:piqe-import-tex-d2"]
        assert d2["outcome"] == "skipped" and d2["verdict"] == "inconclusive" and d2["value"] == 0
        html = (tmp_path / "reports" / run_name / "index.html").read_text()
        assert "import/tex/run 0/step 5" in html and ">error<" in html
    rows = score_rows(Store(tmp_path / "store"))
    assert len(rows) == 2 and all(math.isfinite(s) for _, s in rows)  # one texture per run; the black frame is no row


# ----- the CLI -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_score_prints_the_bad_image_not_a_traceback_and_stores_the_rest(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    # skimage's blur effect is NaN on a 2-pixel-high strip (0/0 in its vertical pass).
    strip = np.random.default_rng(1).integers(0, 256, (2, 96, 3), dtype=np.uint8)
    PILImage.fromarray(strip).save(seeds / "strip.png")
    args = [
        sys.executable,
        str(ROOT / "generate_fixtures.py"),
        "score",
        "--store",
        str(tmp_path / "s"),
        "--seed",
        "strip",
        "--seed-dir",
        str(seeds),
        "--editor",
        "codec-jpeg",
        "--runs",
        "1",
        "--steps",
        "1",
        "--long-side",
        "0",
        "--metric",
        "iqa_audit:blur-effect",
        "--metric",
        "iqa_audit:noise-sigma",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr and "IntegrityError" not in out.stderr
    assert "error: metric iqa_audit:blur-effect on image" in out.stderr
    assert "codec-jpeg-replicate/strip/run 0/step 0" in out.stderr and "96x2" in out.stderr
    assert "iqa_audit:blur-effect: 0 scored, 0 cached, 2 not finite" in out.stdout
    assert "iqa_audit:noise-sigma: 2 scored" in out.stdout
    store = Store(tmp_path / "s")
    assert store.score_count() == 2 and all(math.isfinite(s) for _, s in score_rows(store))


# ----- not a number at all: None, strings, booleans, several numbers ----------------------------
# NumPy reads None as NaN and "0.5" as 0.5: without the check a metric that returned nothing
# would be blamed on the image ("a flat or black frame") and a string taken for a score.


def _torch():
    return pytest.importorskip("torch")


NOT_NUMBERS = {
    "none": (lambda p: None, ["None", "not a number"]),
    "string": (lambda p: "0.5", ["the str '0.5'", "not a number"]),
    "bytes": (lambda p: b"1", ["the bytes", "not a number"]),
    "bool": (lambda p: True, ["True", "a boolean"]),
    "numpy-bool": (lambda p: np.bool_(False), ["a boolean"]),
    "dict": (lambda p: {"score": 1.0}, ["a dict"]),
    "list-holding-none": (lambda p: [None], ["a list holding None"]),
    "list-of-three": (lambda p: [1.0, 2.0, 3.0], ["1 score(s)", "3 numbers", "one score per image"]),
    "score-map": (lambda p: np.ones((4, 4)), ["1 score(s)", "16 numbers", "shape (4, 4)"]),
    "bool-array": (lambda p: np.array([True]), ["an array of bool"]),
    "object-array": (lambda p: np.array([object()]), ["an array of object"]),
    "tensor-of-three": (lambda p: _torch().ones(3), ["1 score(s)", "3 numbers"]),
    "bool-tensor": (lambda p: _torch().tensor([True]), ["a tensor of torch.bool"]),
}


@iqa_audit.metrics.declare(lower_better=False, range=(0, 255), version="1")
def returns_what_the_test_says(pixels: np.ndarray):
    return NOT_NUMBERS[os.environ["IQA_TEST_RETURN"]][0](pixels)


@iqa_audit.metrics.declare(lower_better=False, range=(0, 255), version="1", batch=True)
def returns_what_the_test_says_batched(batch: list[np.ndarray]):
    return [NOT_NUMBERS[os.environ["IQA_TEST_RETURN"]][0](p) for p in batch]


@pytest.mark.parametrize("kind", sorted(NOT_NUMBERS))
def test_a_metric_returning_no_number_is_told_what_it_returned_and_what_to_return(kind, monkeypatch):
    from iqa_audit.metrics.base import ScoreError

    monkeypatch.setenv("IQA_TEST_RETURN", kind)
    metric = create_metric("tests.test_nonfinite:returns_what_the_test_says")
    with pytest.raises(ScoreError) as e:
        metric.score([textured_image(32, 32)])
    message = str(e.value)
    for words in NOT_NUMBERS[kind][1]:
        assert words in message, message
    assert "a Python float" in message  # what a metric must return
    assert "NaN" not in message and "black frame" not in message


@pytest.mark.parametrize("kind", ["none", "string", "bool", "dict"])
def test_a_batch_metric_returning_no_number_is_told_the_same(kind, monkeypatch):
    from iqa_audit.metrics.base import ScoreError

    monkeypatch.setenv("IQA_TEST_RETURN", kind)
    metric = create_metric("tests.test_nonfinite:returns_what_the_test_says_batched")
    with pytest.raises(ScoreError, match="holding"):
        metric.score([textured_image(32, 32), textured_image(32, 32, seed=1)])


class _ProtocolMetric:
    """A Metric-protocol object (not a declared callable): score_core checks its return too."""

    name = "protocol-metric"

    def __init__(self, value):
        self.value = value

    def score(self, images):
        return self.value


@pytest.mark.parametrize(
    "value, words", [(None, "None"), ("1.0", "the str"), ([None, 1.0], "a list holding None"), ([True, False], "a boolean")]
)
def test_score_batch_refuses_no_number_from_a_metric_object(value, words):
    from iqa_audit.metrics.base import ScoreError

    with pytest.raises(ScoreError, match=words):
        score_core.score_batch(_ProtocolMetric(value), [object(), object()])
    assert list(score_core.score_batch(_ProtocolMetric([1, np.float32(2.5)]), [object(), object()])) == [1.0, 2.5]
