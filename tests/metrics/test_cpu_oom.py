"""Running out of memory on the CPU is an out-of-memory like CUDA's: the batch is halved and
the size that worked remembered, through the real pyiqa adapter (and a user's batch
metric); the small-image hint is given for small images only.

The simulated errors are the allocators' own words: torch's DefaultCPUAllocator (a plain
RuntimeError), its older wording, and numpy's MemoryError. The last test is the issue's
recipe for real: a capped address space (`ulimit -v`, here RLIMIT_AS set inside a child
process once torch is loaded, so the cap does not depend on how much address space the
torch build reserves) and four 512x512 images through pyiqa's entropy.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import iqa_audit.metrics
from iqa_audit.core.images import Image
from iqa_audit.metrics.base import ScoreError
from iqa_audit.metrics.batching import is_out_of_memory
from iqa_audit.metrics.registry import create_metric
from tests.conftest import textured_image

ROOT = Path(__file__).resolve().parents[2]

CPU_ERRORS = {
    "torch-cpu-allocator": lambda: RuntimeError(
        "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to allocate "
        "2147483648 bytes. Error code 12 (Cannot allocate memory)"
    ),
    "torch-cpu-allocator-before-2.0": lambda: RuntimeError(
        "[enforce fail at CPUAllocator.cpp:71] . DefaultCPUAllocator: not enough memory: you tried to allocate 2147483648 bytes."
    ),
    "numpy-memory-error": lambda: MemoryError("Unable to allocate 2.00 GiB for an array with shape (4, 512, 512, 256)"),
}


class FailsAbove:
    """Wraps a pyiqa model: a batch above `limit` images fails as the CPU allocator does."""

    def __init__(self, model, limit: int, error):
        self.model, self.limit, self.error = model, limit, error
        self.batches: list[int] = []

    def __call__(self, x):
        self.batches.append(int(x.shape[0]))
        if x.shape[0] > self.limit:
            raise self.error()
        return self.model(x)


@pytest.fixture(scope="module")
def four_same_size():
    return [textured_image(160, 128, seed=i) for i in range(4)]


@pytest.mark.parametrize("kind", sorted(CPU_ERRORS))
def test_a_cpu_allocation_failure_halves_the_batch_and_remembers(kind, four_same_size):
    metric = create_metric("pyiqa:entropy")
    one_by_one = np.array([metric.score([im])[0] for im in four_same_size])
    fake = FailsAbove(metric.model, 1, CPU_ERRORS[kind])
    tight = dataclasses.replace(metric, model=fake)  # the real adapter path, fresh batch limits
    np.testing.assert_allclose(tight.score(four_same_size), one_by_one, rtol=1e-5)
    assert fake.batches[:3] == [4, 2, 1]  # 4 fails, 2 fails, then one by one
    assert tight.batch_limits.known() == {(160, 128): 1}
    fake.batches.clear()
    tight.score(four_same_size)
    assert fake.batches == [1, 1, 1, 1]  # remembered: no second failure


def test_out_of_memory_even_alone_on_the_cpu_says_how_to_free_memory(four_same_size):
    metric = create_metric("pyiqa:entropy")
    hopeless = dataclasses.replace(metric, model=FailsAbove(metric.model, 0, CPU_ERRORS["torch-cpu-allocator"]))
    with pytest.raises(ScoreError) as info:
        hopeless.score(four_same_size[:1])
    text = str(info.value)
    assert "out of memory even at batch size 1" in text and "can't allocate memory" in text and "on cpu" in text
    assert "-n 1" in text and "--long-side" in text
    assert "--device cpu" not in text and "Very small images" not in text  # neither fits a CPU out-of-memory


def test_the_small_image_hint_is_only_for_small_images():
    metric = create_metric("pyiqa:piqe")

    def broken(x):
        raise RuntimeError("some kernel failed")

    failing = dataclasses.replace(metric, model=broken)
    for (w, h), hinted in (((48, 32), True), ((160, 128), False)):
        with pytest.raises(ScoreError) as info:
            failing.score([textured_image(w, h)])
        assert ("very small images" in str(info.value)) is hinted, (w, h)
        assert f"{w}x{h}" in str(info.value)


def test_out_of_memory_is_told_apart_from_other_errors():
    for make in CPU_ERRORS.values():
        assert is_out_of_memory(make())
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not is_out_of_memory(RuntimeError("maximum size for tensor at dimension 2 is 96 but size is 112"))
    assert not is_out_of_memory(ValueError("can't allocate memory"))  # only allocator errors are RuntimeError/MemoryError


# ----- a user's batch metric backs off too ------------------------------------------------------------

SEEN: list[int] = []


@iqa_audit.metrics.declare(lower_better=False, range=(0, 255), version="1", batch=True)
def mean_needs_ram(batch: list[np.ndarray]) -> list[float]:
    SEEN.append(len(batch))
    if len(batch) > 2:
        raise MemoryError("Unable to allocate 3.00 GiB for an array")
    return [float(p.mean()) for p in batch]


def test_a_user_batch_metric_that_runs_out_of_memory_gets_half_the_batch(four_same_size):
    metric = create_metric("tests.metrics.test_cpu_oom:mean_needs_ram")
    SEEN.clear()
    images = four_same_size + [textured_image(160, 128, seed=9)]
    out = metric.score(images)
    np.testing.assert_allclose(out, [im.pixels.mean() for im in images])
    assert SEEN[:2] == [5, 3] and max(SEEN[2:]) <= 2
    assert metric.batch_limits.known() == {(160, 128): 2}


def test_a_classic_measure_out_of_memory_is_a_score_error_naming_the_image(monkeypatch):
    metric = create_metric("iqa_audit:noise-sigma")

    def no_ram(pixels):
        raise MemoryError("Unable to allocate 96.0 MiB")

    with pytest.raises(ScoreError, match=r"image 0 \(160x128\).*out of memory.*--long-side"):
        dataclasses.replace(metric, fn=no_ram).score([textured_image(160, 128)])


# ----- the recipe, for real ------------------------------------------------------------------

CAPPED = """
import json, resource, numpy as np
from iqa_audit.core.images import Image
from iqa_audit.metrics.registry import create_metric
m = create_metric("pyiqa:entropy")
rng = np.random.default_rng(0)
imgs = [Image.from_array(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)) for _ in range(4)]
m.score([Image.from_array(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))])  # torch's lazy set-up, under no cap
vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
# entropy needs 2 KiB per pixel (a one-hot histogram): 2 GiB for the batch of 4 CPU batching plans
# at 512 px, 1 GiB for 2. Leave 1.6 GiB, as `ulimit -v` would.
resource.setrlimit(resource.RLIMIT_AS, (vm + (1600 << 20), resource.RLIM_INFINITY))
out = m.score(imgs)
print(json.dumps({"scores": out.tolist(), "limits": [[list(k), v] for k, v in m.batch_limits.known().items()]}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc to read the process size")
def test_entropy_under_a_capped_address_space_halves_instead_of_blaming_the_image():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CAPPED], capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Very small images" not in out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["limits"] and got["limits"][0][0] == [512, 512] and got["limits"][0][1] < 4  # halved and remembered
    rng = np.random.default_rng(0)
    images = [Image.from_array(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)) for _ in range(4)]
    metric = create_metric("pyiqa:entropy")
    one_by_one = [float(metric.score([im])[0]) for im in images]  # the 7.63...: each image alone
    np.testing.assert_allclose(got["scores"], one_by_one, rtol=1e-5)
