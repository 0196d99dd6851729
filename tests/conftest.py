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
CHECKOUT = BENCHMARKS.parents[1]


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester whose subprocess runs import this checkout's package and tests' helper
    modules (`tests.user_code_that_fails`), as an installed package would be found. Set
    through monkeypatch, so PYTHONPATH is the same after the test as before it."""
    monkeypatch.setenv("PYTHONPATH", str(CHECKOUT), prepend=os.pathsep)
    return pytester


# Variables the libraries set for themselves, whichever test first gets there: not a leak.
SET_BY_LIBRARIES = {
    "PYTEST_CURRENT_TEST",  # pytest, for each phase of each test
    "TORCHINDUCTOR_CACHE_DIR",  # torch._inductor's cache_dir(), on its first use
    "LD_LIBRARY_PATH",  # opencv's import (cv2/__init__.py), for its subprocesses
    "QT_QPA_FONTDIR",  # opencv's import (cv2/config-3.py)
    "QT_QPA_PLATFORM_PLUGIN_PATH",  # opencv's import (cv2/config-3.py)
}


@pytest.fixture(autouse=True)
def _environment_unchanged_by_the_test():
    """A test that changes os.environ without monkeypatch changes every later test in its
    process (a PYTHONPATH left behind let a later test import a module it should not
    find): such a test fails here, naming the variables."""
    before = dict(os.environ)
    yield
    after = dict(os.environ)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k) and k not in SET_BY_LIBRARIES)
    if changed:
        os.environ.clear()
        os.environ.update(before)
        pytest.fail(f"the test changed os.environ {changed}: use the monkeypatch fixture", pytrace=False)


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
