"""Shared helpers for the harness's own tests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from iqa_audit.core.images import Image
from iqa_audit.results.writer import CHECK_SCHEMA
from iqa_audit.store.store import Store

# Every results.json a test makes the suite write (in this process, a pytester run or a
# subprocess, which inherit it) is validated against the shipped schema before it is
# written: a writer/schema disagreement fails the test that wrote it.
os.environ.setdefault(CHECK_SCHEMA, "1")


def textured_image(width: int = 96, height: int = 64, seed: int = 0) -> Image:
    """A small image with gradients, edges and texture: enough for codecs and metrics to bite."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255.0 / width, y * 255.0 / height, (x + y) * 127.0 / (width + height)], axis=2)
    base[(x // 12 + y // 12) % 2 == 0] *= 0.6
    base += rng.normal(0, 6, base.shape)
    return Image.from_array(np.clip(base, 0, 255).astype(np.uint8))


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(tmp_path / "store")
    yield s
    s.close()


@pytest.fixture
def seed_dir(tmp_path):
    """A user seed folder with one textured PNG named 'tiny'."""
    d = tmp_path / "seeds"
    d.mkdir()
    (d / "tiny.png").write_bytes(textured_image().data())
    return d


BENCHMARKS = Path(__file__).resolve().parent / "benchmarks"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config):
    """Benchmarks run apart from xdist, on their own: `pytest tests/benchmarks -n 0`.
    A plain `pytest` (the test command) leaves them out; naming them runs them."""
    path = Path(collection_path).resolve()
    if path != BENCHMARKS and BENCHMARKS not in path.parents:
        return None
    asked = [Path(config.invocation_params.dir, arg.split("::")[0]).resolve() for arg in config.args]
    named = any(a == BENCHMARKS or BENCHMARKS in a.parents for a in asked)
    return None if named else True


@pytest.fixture(autouse=True)
def _operator_libraries_outlive_pytester(request):
    """pytester's in-process runs put sys.modules back afterwards, dropping the modules the
    run imported. torch keeps the operators a library registered at import, so importing
    that library again fails ("Tried to register an operator (bitsandbytes::...) ...
    multiple times"): bitsandbytes, which pyiqa and diffusers import. Imported here first,
    it is part of the snapshot and stays."""
    if "pytester" in request.fixturenames:
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            pass
    yield
