import hashlib
import threading

import pytest

from iqa_audit.core.errors import StoreError
from iqa_audit.store.store import ChainRecord, StepRecord, Store
from tests.conftest import textured_image


def test_put_image_is_content_addressed_and_idempotent(store):
    img = textured_image()
    d1, ext = store.put_image(img)
    d2, _ = store.put_image(img)
    assert d1 == d2 == hashlib.sha256(img.data()).hexdigest()
    assert ext == "png"
    assert store.object_path(d1, ext).read_bytes() == img.data()
    assert store.get_image(d1, ext).pixels.tobytes() == img.pixels.tobytes()


def test_corrupt_object_is_detected_with_a_clear_error(store):
    digest, ext = store.put_image(textured_image())
    path = store.object_path(digest, ext)
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    assert not store.verify(digest, ext)
    with pytest.raises(StoreError, match="content hash does not match"):
        store.get_image(digest, ext)
    path.unlink()
    with pytest.raises(StoreError, match="missing"):
        store.read_bytes(digest, ext)


def test_verify_many_rehashes_only_files_that_changed(store, monkeypatch):
    import iqa_audit.store.store as store_mod

    a, b = store.put_image(textured_image(seed=1)), store.put_image(textured_image(seed=2))
    hashed = []
    real = store_mod.file_sha256
    monkeypatch.setattr(store_mod, "file_sha256", lambda p: hashed.append(p.name) or real(p))
    assert store.verify_many([a, b]) == {a: True, b: True} and len(hashed) == 2
    assert store.verify_many([a, b]) == {a: True, b: True} and len(hashed) == 2  # unchanged: no re-hash
    path = store.object_path(*b)
    path.write_bytes(path.read_bytes()[:-4])  # a truncated file: the size differs (mtime ticks may be coarse)
    assert store.verify_many([a, b]) == {a: True, b: False} and len(hashed) == 3
    path.unlink()
    assert store.verify_many([b]) == {b: False}


def test_no_temp_files_left_after_writes(store):
    for i in range(3):
        store.put_image(textured_image(seed=i))
    assert not list(store.objects.rglob(".tmp-*"))


def test_steps_and_scores_round_trip_as_json(store):
    rec = ChainRecord("k1", {"seed": {"name": "x"}}, "x", "codec-jpeg-replicate", "codec-jpeg", "1", "replicate", 0, False)
    store.ensure_chain(rec)
    store.ensure_chain(rec)  # idempotent
    digest, ext = store.put_image(textured_image())
    store.add_step(StepRecord("k1", 0, "ok", digest, ext, 96, 64, None, None, {"a": [1, 2]}, None, 0.0))
    store.add_step(StepRecord("k1", 1, "refused", None, None, None, None, "p", "why", {"reason": "SAFETY"}, 0, 0.1))
    steps = store.steps("k1")
    assert [s.step for s in steps] == [0, 1]
    assert steps[0].meta["a"] == [1, 2] and not steps[1].ok
    assert store.chain("k1").spec["seed"]["name"] == "x"
    store.put_scores("piqe", "v1", {digest: 12.5})
    assert store.get_scores("piqe", "v1", [digest, "nope"]) == {digest: 12.5}
    assert store.get_scores("piqe", "v2", [digest]) == {}
    assert store.drop_steps_from("k1", 1) == 1


def test_manifest_is_not_pickle(store):
    # The manifest is SQLite with JSON values: readable by anything, executable by nothing.
    head = store.db_path.read_bytes()[:16]
    assert head.startswith(b"SQLite format 3")


def test_concurrent_score_writes_from_threads(tmp_path):
    root = tmp_path / "s"
    Store(root)
    errors = []

    def writer(i):
        try:
            s = Store(root)
            for j in range(20):
                s.put_scores("m", "v", {f"{i}-{j}": float(j)})
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Store(root).score_count() == 80


def test_unwritable_store_root_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="writable folder"):
        Store(blocker / "store")
