"""Batching: sizes from free memory, out-of-memory back-off that remembers, output order,
and the real pyiqa path (batched = one by one; a simulated GPU OOM changes no score)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from iqa_audit.core.errors import ConfigError
from iqa_audit.core.images import Image
from iqa_audit.metrics import ScoreError, create_metric
from iqa_audit.metrics.batching import (
    CPU_BATCH_SIZE,
    DEFAULT_BYTES_PER_PIXEL,
    MAX_GPU_BATCH,
    MEMORY_HEADROOM,
    BatchLimits,
    OutOfMemoryAtOne,
    batch_size_for,
    chunks,
    planned_batch_size,
    run_with_backoff,
    size_groups,
    start_batch,
)
from iqa_audit.metrics.pyiqa_adapter import create_pyiqa_metric
from tests.conftest import textured_image

GIB = 1024**3


class FakeOOM(Exception):
    """Stands in for torch.OutOfMemoryError in the pure tests."""


def oom_above(limit: int, calls: list[list[int]]):
    """A `run` that records every chunk and fails like a GPU for chunks above `limit` images."""

    def run(idx: list[int]) -> list[int]:
        calls.append(list(idx))
        if len(idx) > limit:
            raise FakeOOM(f"tried {len(idx)} images\nsecond line")
        return [10 * i for i in idx]

    return run


# ----- (1) sizing math -------------------------------------------------------------------------


def test_batch_size_from_free_memory_and_pixels():
    per_image = 2048 * 2048 * DEFAULT_BYTES_PER_PIXEL  # 2 GiB
    assert batch_size_for(80 * GIB, 2048, 2048) == int(80 * GIB * MEMORY_HEADROOM // per_image) == 20
    assert batch_size_for(80 * GIB, 1024, 1024) == MAX_GPU_BATCH  # 80 would fit; capped
    assert batch_size_for(3 * GIB, 2048, 2048) == 1  # 0.75 fits: still try one, the back-off explains a failure
    assert batch_size_for(0, 256, 256) == 1
    assert batch_size_for(8 * GIB, 1000, 500, bytes_per_pixel=100, headroom=1.0, cap=1000) == 8 * GIB // (1000 * 500 * 100)
    with pytest.raises(ValueError):
        batch_size_for(GIB, 0, 10)


@settings(max_examples=40, deadline=None)
@given(free=st.integers(0, 200 * GIB), extra=st.integers(0, 50 * GIB), h=st.integers(1, 4096), w=st.integers(1, 4096))
def test_batch_size_is_bounded_and_grows_with_free_memory(free, extra, h, w):
    b = batch_size_for(free, h, w)
    assert 1 <= b <= MAX_GPU_BATCH
    assert batch_size_for(free + extra, h, w) >= b
    assert batch_size_for(free, h * 2, w) <= b
    if b > 1:  # what was planned really fits in the headroom at the assumed cost
        assert b * h * w * DEFAULT_BYTES_PER_PIXEL <= free * MEMORY_HEADROOM


def test_planned_batch_fixed_on_cpu_sized_on_gpu():
    def no_gpu(device: str):
        return None

    def gpu_with_40_gib(device: str):
        assert device == "cuda:0"
        return 40 * GIB

    # CPU: a pixel budget, so a 2 K image goes alone (pyiqa's entropy needs ~8.6 GB for one).
    assert planned_batch_size("cpu", 2048, 2048, free_bytes=no_gpu) == 1
    assert planned_batch_size("cpu", 512, 512, free_bytes=no_gpu) == 4
    assert planned_batch_size("cpu", 128, 128, free_bytes=no_gpu) == CPU_BATCH_SIZE
    assert planned_batch_size("cuda:0", 2048, 2048, free_bytes=gpu_with_40_gib) == 10
    assert planned_batch_size("cuda:0", 2048, 2048, fixed=3, free_bytes=gpu_with_40_gib) == 3
    assert planned_batch_size("cpu", 64, 64, fixed=5, free_bytes=no_gpu) == 5


def test_cpu_sizing_does_not_touch_cuda():
    # The real free-memory probe must answer None on the CPU, GPU or not.
    assert planned_batch_size("cpu", 256, 256) == CPU_BATCH_SIZE


# ----- (2) back-off halves and remembers ---------------------------------------------------------


def test_backoff_halves_retries_the_chunk_and_remembers():
    calls: list[list[int]] = []
    limits = BatchLimits()
    freed = []
    done = run_with_backoff(
        list(range(10)),
        oom_above(2, calls),
        batch_size=8,
        oom=FakeOOM,
        limits=limits,
        key=(64, 64),
        after_oom=lambda: freed.append(1),
    )
    assert [len(c) for c in calls] == [8, 4, 2, 2, 2, 2, 2]  # 8 fails, 4 fails, then 2s to the end
    assert [c for c, _ in done] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert [r for _, r in done] == [[0, 10], [20, 30], [40, 50], [60, 70], [80, 90]]
    assert limits.get((64, 64)) == 2 and len(freed) == 2
    # A later call for this size starts at the remembered batch and never fails again.
    calls.clear()
    first = start_batch((64, 64), 8, limits)
    assert first == 2
    run_with_backoff(list(range(6)), oom_above(2, calls), batch_size=first, oom=FakeOOM, limits=limits, key=(64, 64))
    assert all(len(c) <= 2 for c in calls) and len(calls) == 3
    # Other sizes are not held back; limits only shrink.
    assert start_batch((32, 32), 8, limits) == 8
    limits.lower((64, 64), 5)
    assert limits.get((64, 64)) == 2


def test_backoff_rounds_up_so_an_odd_tail_is_not_cut_to_one():
    calls: list[list[int]] = []
    run_with_backoff([0, 1, 2], oom_above(2, calls), batch_size=8, oom=FakeOOM)
    assert [len(c) for c in calls] == [3, 2, 1]


def test_backoff_at_one_image_names_the_image_and_drops_the_failed_batch():
    calls: list[list[int]] = []
    with pytest.raises(OutOfMemoryAtOne) as info:
        run_with_backoff([5, 6, 7], oom_above(0, calls), batch_size=4, oom=FakeOOM)
    assert info.value.index == 5 and info.value.message == "tried 1 images"
    assert [len(c) for c in calls] == [3, 2, 1]
    # Raised outside the except block: no chained OOM (and none of its tensors) rides along.
    assert info.value.__context__ is None and info.value.__cause__ is None


def test_backoff_lets_other_errors_through_untouched():
    def run(idx):
        raise KeyError("not memory")

    with pytest.raises(KeyError):
        run_with_backoff([0, 1], run, batch_size=2, oom=FakeOOM)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 40), start=st.integers(1, 70), limit=st.integers(1, 70))
def test_backoff_covers_every_index_in_order_within_the_limit(n, start, limit):
    calls: list[list[int]] = []
    limits = BatchLimits()
    done = run_with_backoff(list(range(n)), oom_above(limit, calls), batch_size=start, oom=FakeOOM, limits=limits, key="k")
    assert [i for c, _ in done for i in c] == list(range(n))
    assert all(1 <= len(c) <= limit for c, _ in done)
    failed = any(len(c) > limit for c in calls)
    assert (limits.get("k") is not None) == failed
    if failed:
        assert limits.get("k") <= limit


# ----- (3) order across mixed sizes --------------------------------------------------------------


def test_size_groups_first_seen_order():
    sizes = [(3, 2), (5, 5), (3, 2), (1, 1), (5, 5), (3, 2)]
    assert size_groups(sizes) == [[0, 2, 5], [1, 4], [3]]
    assert chunks([0, 2, 5], 2) == [[0, 2], [5]]
    assert size_groups([]) == []


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.sampled_from([(64, 48), (48, 64), (32, 32)]), max_size=25), start=st.integers(1, 9), limit=st.integers(1, 9)
)
def test_scores_written_back_by_index_keep_input_order(sizes, start, limit):
    # What the adapter does: per size group, back-off batches; results land at their indices.
    values = np.arange(len(sizes), dtype=np.float64) * 1.5
    out = np.full(len(sizes), np.nan)
    limits = BatchLimits()
    for group in size_groups(sizes):
        assert len({sizes[i] for i in group}) == 1  # a batch never mixes sizes

        def run(idx: list[int]) -> np.ndarray:
            if len(idx) > limit:
                raise FakeOOM()
            return values[idx]

        for idx, got in run_with_backoff(
            group, run, batch_size=start_batch(sizes[group[0]], start, limits), oom=FakeOOM, limits=limits, key=sizes[group[0]]
        ):
            out[idx] = got
    np.testing.assert_array_equal(out, values)


# ----- (4) the real pyiqa metrics, CPU ------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed_images() -> list[Image]:
    # Three sizes, interleaved; 256x192 appears four times so it fills batches of 2 and 4.
    shapes = [(256, 192), (160, 128), (256, 192), (128, 128), (256, 192), (160, 128), (256, 192), (200, 144)]
    return [textured_image(w, h, seed=i) for i, (w, h) in enumerate(shapes)]


@pytest.mark.parametrize("name", ["pyiqa:piqe", "pyiqa:entropy"])
def test_real_pyiqa_batched_equals_one_by_one(name, mixed_images, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    metric = create_metric(name)
    batched = metric.score(mixed_images)
    one_by_one = np.array([metric.score([im])[0] for im in mixed_images])
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-4, atol=1e-6)
    # A fixed small batch (two batches of 2 for the repeated size) gives the same scores.
    pairs = dataclasses.replace(metric, batch_size=2)
    np.testing.assert_allclose(pairs.score(mixed_images), one_by_one, rtol=1e-4, atol=1e-6)
    # Scores follow the inputs, not the size groups: reversing the input reverses the output.
    np.testing.assert_allclose(metric.score(mixed_images[::-1]), batched[::-1], rtol=1e-4, atol=1e-6)


def test_bad_batch_size_is_a_config_error():
    with pytest.raises(ConfigError, match="batch_size"):
        create_pyiqa_metric("pyiqa:entropy", batch_size=0)


# ----- (5) a simulated GPU OOM through PyiqaMetric.score -------------------------------------------


def test_torch_oom_class_exists_without_a_gpu():
    # The adapter catches it on every build; it is a RuntimeError, so it must be caught first.
    assert torch.cuda.OutOfMemoryError is torch.OutOfMemoryError
    assert issubclass(torch.OutOfMemoryError, RuntimeError)


class OOMAbove:
    """Wraps a pyiqa model; batches above `limit` fail the way a full GPU does."""

    def __init__(self, model, limit: int, error=torch.cuda.OutOfMemoryError):
        self.model, self.limit, self.error = model, limit, error
        self.batches: list[int] = []

    def __call__(self, x):
        self.batches.append(int(x.shape[0]))
        if x.shape[0] > self.limit:
            raise self.error("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        return self.model(x)


@pytest.mark.parametrize("error", [torch.cuda.OutOfMemoryError, RuntimeError], ids=["oom", "runtime-out-of-memory"])
def test_simulated_oom_backs_off_to_the_same_scores(error, mixed_images):
    metric = create_metric("pyiqa:piqe")
    expected = metric.score(mixed_images)
    fake = OOMAbove(metric.model, 2, error)
    tight = dataclasses.replace(metric, model=fake)  # fresh batch limits, same model underneath
    assert tight.batch_limits.known() == {}
    np.testing.assert_allclose(tight.score(mixed_images), expected, rtol=1e-4, atol=1e-6)
    assert fake.batches[:3] == [4, 2, 2]  # four 256x192 images: 4 fails, then two batches of 2
    assert tight.batch_limits.known() == {(256, 192): 2}
    # Remembered: the next call for that size starts at 2 and hits no OOM.
    fake.batches.clear()
    np.testing.assert_allclose(tight.score(mixed_images[::-1]), expected[::-1], rtol=1e-4, atol=1e-6)
    assert max(fake.batches) <= 2
    assert metric.batch_limits.known() == {}  # the shared, cached metric learned nothing


def test_oom_at_one_image_is_a_score_error_with_the_fix(mixed_images):
    metric = create_metric("pyiqa:entropy")
    hopeless = dataclasses.replace(metric, model=OOMAbove(metric.model, 0))
    with pytest.raises(ScoreError) as info:
        hopeless.score(mixed_images[:3])
    text = str(info.value)
    for part in (
        "pyiqa:entropy",
        "image(s) [0]",
        "256x192",
        "on cpu",
        "batch size 1",
        "Tried to allocate 2.00 GiB",
        "-n 1",
        "--long-side",
    ):  # on the CPU: free RAM, not --device cpu
        assert part in text, part
    # The chain stops at OutOfMemoryAtOne: the torch error (and the failed batch's tensors) is not kept alive.
    assert isinstance(info.value.__context__, OutOfMemoryAtOne) and info.value.__context__.__context__ is None


# ----- the prepared GPU benchmark stays runnable (on the CPU here) --------------------------------


def test_gpu_bench_runs_on_cpu_and_writes_its_figures(tmp_path, capsys):
    from tests.benchmarks import gpu_bench

    out = tmp_path / "figures.json"
    rc = gpu_bench.main(
        [
            "--device",
            "cpu",
            "--metrics",
            "piqe",
            "--sizes",
            "128",
            "--seeds",
            "grid-perspective",
            "--steps",
            "2",
            "--rounds",
            "1",
            "--out",
            str(out),
            "--store",
            str(tmp_path / "store"),
        ]
    )
    assert rc == 0
    report = json.loads(out.read_text())
    (row,) = report["metrics"]
    assert row["metric"] == "pyiqa:piqe" and row["images"] == 3 and row["scores_ok"] is True
    assert row["bare_images_per_s"] > 0 and row["suite_images_per_s"] > 0
    assert row["max_rel_diff_suite_vs_bare"] <= gpu_bench.RTOL
    assert "suite img/s" in capsys.readouterr().out


def test_gpu_bench_without_cuda_exits_with_a_clear_message(capsys):
    from tests.benchmarks import gpu_bench

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert gpu_bench.main(["--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "cannot benchmark on 'cuda'" in err and "--device cpu" in err
