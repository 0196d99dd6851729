"""Decoded images kept per process (store/decoded.py): one decode per image for scoring,
evidence and report alike, bounded, and never hiding a file altered on disk."""

from __future__ import annotations

import os

import numpy as np
import pytest

from iqa_audit.core.errors import BadImageError, StoreError
from iqa_audit.core.images import Image
from iqa_audit.store import decoded
from iqa_audit.store.decoded import DecodedImages, decoded_file
from tests.conftest import textured_image


@pytest.fixture
def decodes(monkeypatch):
    """Counts the decodes behind Store.get_image, with an empty process cache."""
    import iqa_audit.store.store as store_mod

    monkeypatch.setattr(decoded, "DECODED", DecodedImages())
    monkeypatch.setattr(store_mod, "DECODED", decoded.DECODED)
    calls = []
    real = store_mod.decode_image
    monkeypatch.setattr(store_mod, "decode_image", lambda data, **k: calls.append(1) or real(data, **k))
    return calls


def test_an_image_is_decoded_once_per_process(store, decodes):
    digest, ext = store.put_image(textured_image(seed=11))
    first = store.get_image(digest, ext)
    again = store.get_image(digest, ext)
    assert again is first and len(decodes) == 1
    assert decoded.DECODED.hits == 1 and decoded.DECODED.misses == 1


def test_a_file_altered_after_decoding_is_read_again_and_refused(store, decodes):
    digest, ext = store.put_image(textured_image(seed=12))
    store.get_image(digest, ext)
    path = store.object_path(digest, ext)
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime: the ctime still moves
    with pytest.raises(StoreError, match="content hash does not match"):
        store.get_image(digest, ext)


def _image(side: int, value: int = 0) -> Image:
    return Image.from_array(np.full((side, side, 3), value, np.uint8))


def test_the_bound_evicts_the_least_recently_used(tmp_path):
    one = _image(32).pixels.nbytes  # no encoded bytes: the cost is the pixels
    cache = DecodedImages(max_bytes=4 * one)
    files = []
    for k in range(5):
        f = tmp_path / f"{k}.png"
        f.write_bytes(b"x")
        files.append(f)
    for f in files[:4]:
        cache.get(f, lambda: _image(32))
    cache.get(files[0], lambda: pytest.fail("image 0 is kept"))  # now the most recent
    cache.get(files[4], lambda: _image(32))  # evicts image 1, the least recently used
    assert len(cache) == 4 and cache.size_bytes == 4 * one
    loads = []
    cache.get(files[1], lambda: loads.append(1) or _image(32))
    cache.get(files[0], lambda: pytest.fail("image 0 is kept"))
    assert loads == [1]


def test_an_image_over_a_quarter_of_the_bound_is_not_kept(tmp_path):
    f = tmp_path / "big.png"
    f.write_bytes(b"x")
    cache = DecodedImages(max_bytes=3 * _image(32).pixels.nbytes)
    cache.get(f, lambda: _image(32))
    assert len(cache) == 0 and cache.size_bytes == 0


def test_a_reader_that_asks_once_adds_nothing_but_reuses_what_is_there(store, decodes):
    digest, ext = store.put_image(textured_image(seed=13))
    path = store.object_path(digest, ext)
    alone = decoded_file(path, digest, keep=False)
    assert len(decoded.DECODED) == 0 and alone.pixels.shape == (64, 96, 3)
    scored = store.get_image(digest, ext)
    assert decoded_file(path, digest, keep=False) is scored


def test_decoded_file_checks_the_bytes_against_their_name(tmp_path):
    img = textured_image(seed=14)
    path = tmp_path / "x.png"
    path.write_bytes(img.data())
    with pytest.raises(BadImageError, match="sha256"):
        decoded_file(path, "0" * 64, keep=False)
