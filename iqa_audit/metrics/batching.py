"""How many images a model scores at once: a pixel budget on the CPU, sized to free memory on a GPU.

The pure parts take plain arguments (free bytes, an image shape, a `run` callable and
the exception type that means "out of memory"), so they are tested without a GPU:

- `size_groups`: indices grouped by image size; only images of one size can share a
  batch (a lone size is a batch of one), and callers write results back by index, so
  outputs keep the order of the inputs.
- `batch_size_for`: a first guess from free memory and the image's pixel count.
- `is_out_of_memory`: whether an error means memory ran out, on the CPU (torch's
  DefaultCPUAllocator, MemoryError) as on a GPU; metrics raise `OutOfMemory` for it.
- `run_with_backoff`: run chunks of one size group; on an out-of-memory error halve the
  batch and retry the same chunk, down to one image, and record the size that worked
  in a `BatchLimits`, so later calls for that image size start there and do not hit
  the same error again.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

# On the CPU torch already spreads one image's work over every core, so a bigger batch
# buys little speed (8 images of 512 px: ~10 % over one at a time) and raises peak RAM
# in proportion. That matters: pyiqa's entropy builds a one-hot histogram, 256 int64 per
# pixel (2 KiB/px), so a batch of 8 at 512 px peaked at 5 GB and one 2048 px image
# alone takes 8.6 GB. So CPU batches hold at most CPU_BATCH_PIXELS pixels (and at
# most CPU_BATCH_SIZE images); larger images go one by one.
CPU_BATCH_SIZE = 8
CPU_BATCH_PIXELS = 1 << 20

# Past a few dozen images a GPU is saturated; bigger batches only risk an OOM and delay
# the first results.
MAX_GPU_BATCH = 64

# Bytes of GPU memory one input pixel may cost while a model runs: the float input
# (12 B/px) plus activations. A ResNet-style backbone's first stages hold ~64 channels
# at half resolution (64 B/px each, several alive at once); transformers resize to a
# fixed size and cost less. 512 B/px is deliberately generous, and an underestimate is
# caught by the OOM back-off anyway. A 2048x2048 image: 2 GiB per image.
DEFAULT_BYTES_PER_PIXEL = 512.0

# Plan batches to fill only this share of the free memory: the caching allocator
# fragments, cuDNN wants workspace, and another process may share the GPU.
MEMORY_HEADROOM = 0.5


# What allocators say when memory runs out, on any device. torch raises
# torch.OutOfMemoryError for the CUDA caching allocator, but a plain RuntimeError for
# cuDNN/cuBLAS workspaces and for the CPU allocator ("[enforce fail at alloc_cpu.cpp]
# ... DefaultCPUAllocator: can't allocate memory: you tried to allocate N bytes. Error
# code 12 (Cannot allocate memory)"; older torch: "DefaultCPUAllocator: not enough
# memory"); numpy and Python raise MemoryError ("Unable to allocate ..."). Each is an
# out-of-memory: halve the batch, never blame the image. Matched case-insensitively.
OOM_MESSAGES = (
    "out of memory",  # CUDA caching allocator, cuDNN/cuBLAS, MPS ("MPS backend out of memory")
    "can't allocate memory",  # torch DefaultCPUAllocator (c10/core/impl/alloc_cpu.cpp)
    "not enough memory",  # torch DefaultCPUAllocator before 2.0
    "cannot allocate memory",  # ENOMEM's strerror (errno 12), e.g. from mmap or posix_memalign
    "unable to allocate",  # numpy's _ArrayMemoryError text, when re-raised as another type
)


class OutOfMemory(Exception):
    """Raised by a metric's batch runner for any out-of-memory error (see is_out_of_memory),
    so run_with_backoff treats CPU and GPU exhaustion alike; the message is the original's."""


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` means memory ran out (MemoryError, torch.OutOfMemoryError, or a
    RuntimeError whose message is one of OOM_MESSAGES) rather than a bad input."""
    if isinstance(error, (MemoryError, OutOfMemory)) or type(error).__name__ == "OutOfMemoryError":
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(m in text for m in OOM_MESSAGES)


def size_groups(sizes: Sequence[Hashable]) -> list[list[int]]:
    """Indices grouped by size, groups in first-seen order, indices ascending within a group.

    `sizes[i]` is any hashable size key of input i, e.g. Image.size.
    """
    groups: dict[Hashable, list[int]] = {}
    for i, size in enumerate(sizes):
        groups.setdefault(size, []).append(i)
    return list(groups.values())


def chunks(indices: Sequence[int], batch_size: int) -> list[list[int]]:
    """`indices` cut into consecutive chunks of at most `batch_size`."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return [list(indices[i : i + batch_size]) for i in range(0, len(indices), batch_size)]


def batch_size_for(
    free_bytes: int,
    height: int,
    width: int,
    *,
    bytes_per_pixel: float = DEFAULT_BYTES_PER_PIXEL,
    headroom: float = MEMORY_HEADROOM,
    cap: int = MAX_GPU_BATCH,
) -> int:
    """How many height x width images fit in `headroom` of `free_bytes`, between 1 and `cap`.

    Never 0: one image is always tried, and if even that does not fit the back-off turns
    the out-of-memory error into a clear ScoreError.
    """
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    per_image = height * width * bytes_per_pixel
    fit = math.floor(max(0, free_bytes) * headroom / per_image)
    return max(1, min(cap, fit))


@dataclass
class BatchLimits:
    """The largest batch known to work, per key (an image size); one per metric instance.

    Learned from out-of-memory errors and kept for the life of the process. It only
    shrinks: growing back would mean hitting the same error again to find out.
    """

    _limits: dict[Hashable, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self, key: Hashable) -> int | None:
        with self._lock:
            return self._limits.get(key)

    def lower(self, key: Hashable, batch_size: int) -> None:
        with self._lock:
            old = self._limits.get(key)
            self._limits[key] = batch_size if old is None else min(old, batch_size)

    def known(self) -> dict[Hashable, int]:
        with self._lock:
            return dict(self._limits)


def start_batch(key: Hashable, planned: int, limits: BatchLimits) -> int:
    """The planned batch, but never above what this key is known to tolerate."""
    learned = limits.get(key)
    return max(1, planned if learned is None else min(planned, learned))


class OutOfMemoryAtOne(Exception):
    """Even one image ran out of memory; `index` is that image, `message` the first line of the error."""

    def __init__(self, index: int, message: str):
        super().__init__(f"out of memory at batch size 1 (input {index}): {message}")
        self.index = index
        self.message = message


def run_with_backoff(
    indices: Sequence[int],
    run: Callable[[list[int]], T],
    *,
    batch_size: int,
    oom: type[BaseException] | tuple[type[BaseException], ...],
    limits: BatchLimits | None = None,
    key: Hashable = None,
    after_oom: Callable[[], None] | None = None,
) -> list[tuple[list[int], T]]:
    """Call `run(chunk)` over `indices` in chunks of `batch_size`, halving on `oom`.

    A chunk that raises `oom` is retried at half the batch (its first half, then the
    rest), and the smaller batch is recorded in `limits[key]` and used for every later
    chunk. At batch 1 it raises OutOfMemoryAtOne for the caller to explain. `after_oom` runs
    between a failure and the retry (e.g. torch.cuda.empty_cache). Returns
    [(chunk, run(chunk)), ...] covering `indices` in order.
    """
    size = max(1, batch_size)
    done: list[tuple[list[int], T]] = []
    pos = 0
    while pos < len(indices):
        chunk = list(indices[pos : pos + size])
        failure: str | None = None
        try:
            result = run(chunk)
        except oom as e:
            failure = next((line for line in str(e).splitlines() if line.strip()), type(e).__name__)
        # Act outside the except block: the error's traceback holds the failed batch's
        # tensors, which must be freed before a smaller batch asks for memory (and must
        # not ride along as the __context__ of the error raised at batch 1).
        if failure is not None and len(chunk) == 1:
            raise OutOfMemoryAtOne(chunk[0], failure)
        if failure is not None:
            size = (len(chunk) + 1) // 2  # halve, rounding up: a failed 3 retries at 2, not 1
            if limits is not None:
                limits.lower(key, size)
            if after_oom is not None:
                after_oom()
            continue
        done.append((chunk, result))
        pos += len(chunk)
    return done


def device_free_bytes(device: str) -> int | None:
    """Bytes a CUDA device can still hand out (driver-free plus torch's cached, unused blocks); None on the CPU."""
    import torch

    dev = torch.device(device)
    if dev.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(dev)
    # Blocks torch's caching allocator holds but does not use are free to this process,
    # though the driver counts them as taken.
    cached_unused = torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev)
    return int(free + max(0, cached_unused))


def planned_batch_size(
    device: str, height: int, width: int, *, fixed: int | None = None, free_bytes: Callable[[str], int | None] = device_free_bytes
) -> int:
    """The first batch to try for height x width images on `device`.

    `fixed` (a user's batch_size) wins. Otherwise the CPU gets CPU_BATCH_SIZE and a GPU
    a batch sized to its free memory now.
    """
    if fixed is not None:
        return max(1, fixed)
    free = free_bytes(device)
    if free is None:
        return cpu_batch_size(height, width)
    return batch_size_for(free, height, width)


def cpu_batch_size(height: int, width: int) -> int:
    """Images per CPU batch: up to CPU_BATCH_SIZE, within CPU_BATCH_PIXELS, at least 1."""
    return max(1, min(CPU_BATCH_SIZE, CPU_BATCH_PIXELS // max(1, height * width)))
