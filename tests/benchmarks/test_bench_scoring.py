"""The suite must cost no more than the metric forward passes, and nearly nothing warm.

Each ratio is measured side by side in one run: the suite's path and the loop a user
would write by hand, alternating round by round so machine load hits both alike.
"""

from __future__ import annotations

import time

import pytest

from iqa_audit.chains.chain import ChainSpec, build_chain
from iqa_audit.metrics.registry import create_metric
from iqa_audit.scoring.cached import Scorer
from iqa_audit.store.store import Store

from .conftest import check_ratio

STEPS = 6


@pytest.fixture(scope="module")
def chain_images(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("bench") / "store")
    chain = build_chain(store, ChainSpec(seed="grid-perspective", editor="sim-noise-tint", steps=STEPS, long_side=512))
    objects = [(s.image_hash, s.ext) for s in chain.ok_steps]
    paths = [store.object_path(h, e) for h, e in objects]
    return store, objects, paths


def _forget_scores(store: Store, metric) -> None:
    with store._tx() as db:  # benchmark-only: make every round a cold one
        db.execute("DELETE FROM scores WHERE metric_id=?", (metric.id,))


@pytest.mark.parametrize("name", ["piqe", "entropy"])
def test_audit_overhead_vs_bare_pyiqa_loop(benchmark, chain_images, rounds, name):
    import pyiqa
    import torch

    store, objects, paths = chain_images
    suite_metric = create_metric(f"pyiqa:{name}")
    bare_metric = pyiqa.create_metric(name, device="cpu")  # what a user writes by hand

    def bare_loop():
        with torch.inference_mode():
            return [float(bare_metric(str(p))) for p in paths]

    bare_times = []

    def suite_round():
        t0 = time.perf_counter()
        bare = bare_loop()
        bare_times.append(time.perf_counter() - t0)
        _forget_scores(store, suite_metric)
        return bare

    suite_times = []

    def suite():
        t0 = time.perf_counter()
        out = Scorer(store).scores(suite_metric, objects).finite
        suite_times.append(time.perf_counter() - t0)
        return out

    bare = bare_loop()
    result = benchmark.pedantic(suite, setup=lambda: (suite_round(), None)[1], rounds=rounds, iterations=1)
    assert [result[h] for h, _ in objects] == pytest.approx(bare, rel=1e-4)
    check_ratio(benchmark, f"suite/bare {name}", min(suite_times) / min(bare_times), at_most=1.10)


def test_warm_rescore_vs_cold(benchmark, chain_images, rounds):
    store, objects, _ = chain_images
    metric = create_metric("pyiqa:piqe")
    _forget_scores(store, metric)
    t0 = time.perf_counter()
    Scorer(store).scores(metric, objects)
    cold = time.perf_counter() - t0
    benchmark.pedantic(Scorer(store).scores, args=(metric, objects), rounds=max(rounds, 3), iterations=1)
    check_ratio(benchmark, "warm/cold piqe", benchmark.stats.stats.min / cold, at_most=0.05)


@pytest.mark.parametrize("editor", ["codec-jpeg", "sim-noise-tint", "sim-texture-loss"])
@pytest.mark.parametrize("long_side", [1024, 2048])
def test_chain_generation_steps_per_second(benchmark, tmp_path, editor, long_side, rounds):
    from iqa_audit.editors import create_editor
    from iqa_audit.seeds import get_seed
    from iqa_audit.tasks.table import get_task

    image = get_seed("grid-perspective").render(long_side)
    ed, task = create_editor(editor), get_task("replicate")
    state = {"image": image, "step": 0}

    def one_step():
        state["step"] += 1
        state["image"] = ed.edit(state["image"], task.prompt(state["step"]), seed=0, step=state["step"]).image
        state["image"].data()  # the store's encoding is part of a step's cost

    benchmark.pedantic(one_step, rounds=max(rounds, 2), iterations=1)
    benchmark.extra_info["steps_per_second"] = round(1 / benchmark.stats.stats.mean, 3)
    # Memory a build worker needs per step: the peak of Python and numpy allocations during
    # one more step, outside the timed rounds (tracemalloc sees numpy's buffers, not the C
    # buffers inside PIL or skimage's rank filters, so it is a lower bound).
    import tracemalloc

    tracemalloc.start()
    try:
        one_step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    benchmark.extra_info["peak_mib_per_step"] = round(peak / 2**20, 1)
