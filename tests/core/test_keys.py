"""iqa_audit.core.keys: canonical JSON that refuses what it cannot key, digests, code digests,
and the chain keys they produce (pinned: a changed chain key rebuilds, and for a paid
editor re-buys, every chain already stored)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from iqa_audit.chains.chain import ChainSpec, resolve
from iqa_audit.core import keys
from iqa_audit.store.memo import memo_key


@pytest.mark.parametrize(
    "value,where",
    [
        (object(), "value"),
        ({"a": [1, {2, 3}]}, "value['a'][1]"),  # a set has no order
        ({"p": Path("/tmp/x")}, "value['p']"),
        ((b"bytes",), "value[0]"),
        ({"a": np.zeros(3)}, "value['a']"),
        ({(1, 2): "tuple key"}, "tuple key"),
        ({True: "bool key"}, "bool key"),
    ],
)
def test_canonical_refuses_what_has_no_single_json_form(value, where) -> None:
    with pytest.raises(TypeError, match="keys.canonical") as err:
        keys.canonical(value)
    assert where in str(err.value)


def test_memo_keys_refuse_objects_instead_of_keying_their_repr() -> None:
    """The old memo key ran every unknown object through str(): two objects with the same
    repr shared a key, and an object whose repr holds an address never hit again."""
    with pytest.raises(TypeError):
        memo_key("fidelity", "colours", Path("/some/image.png"))
    with pytest.raises(TypeError):
        memo_key("sanity", object())


def test_plain_values_hash_as_they_always_did() -> None:
    value = {"b": [1, 2.5, None, True, "é"], "a": {"nested": (3, -0.0)}, "n": float("nan"), "k": {7: "int key"}}
    old = json.dumps(json.loads(json.dumps(value)), sort_keys=True, separators=(",", ":"))  # how chain keys were formed
    assert keys.dumps(value) == old
    assert keys.digest(value) == hashlib.sha256(old.encode()).hexdigest()


def test_numpy_scalars_key_as_the_numbers_they_hold() -> None:
    assert keys.digest([np.int64(3), np.float32(0.5), np.bool_(True)]) == keys.digest([3, 0.5, True])


def test_dataclasses_are_tagged_with_their_type() -> None:
    @dataclasses.dataclass(frozen=True)
    class A:
        x: int

    @dataclasses.dataclass(frozen=True)
    class B:
        x: int

    assert keys.canonical(A(1)) == {"x": 1, "__type__": "A"}
    assert keys.digest(A(1)) != keys.digest(B(1))


# Chain keys for one chain per editor kind: first pinned before iqa_audit.core.keys existed (issue 14),
# re-pinned when the procedural seeds became v2 (photographed through a Camera), which is part of the key.
CHAIN_KEYS = {
    ("codec-jpeg", "replicate", "grid-perspective", 0, 1024): "62bd1c1ee33afc21c9b9328f",
    ("codec-webp:quality=50,size_table=gemini", "add-apples", "empty-table", 3, 2048): "1e30ed6969215213b802ea9f",
    ("sim-noise-tint", "replicate", "grid-perspective", 0, 1024): "a80aa409709fd20aa177b5bd",
    ("sim-crop", "add-apples", "empty-table", 3, 2048): "981d17c06ff41e0ff2dcca5b",
    ("nano-banana-pro", "replicate", "grid-perspective", 0, 1024): "d9ebf68dde7d0032db89d848",
    (
        "gemini:temperature=0.4,image_size=interleaved,seed_mode=per-step",
        "add-apples",
        "empty-table",
        3,
        2048,
    ): "037521df662429f3087948f2",
    (
        "qwen-image-edit:num_inference_steps=8,guidance_scale=1.5",
        "replicate",
        "grid-perspective",
        0,
        1024,
    ): "c512d5d061632f015bbe79c9",
}


@pytest.mark.parametrize("editor,task,seed,run,long_side", sorted(CHAIN_KEYS))
def test_chain_keys_are_unchanged(editor, task, seed, run, long_side) -> None:
    spec = ChainSpec(seed=seed, editor=editor, task=task, run=run, steps=20, long_side=long_side)
    assert resolve(spec).key == CHAIN_KEYS[(editor, task, seed, run, long_side)]


# ----- code digests ------------------------------------------------------------------------------


def _package(root: Path, name: str) -> None:
    pkg = root / name
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import leaf\n")
    (pkg / "leaf.py").write_text("X = 1\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "deep.py").write_text("Y = 2\n")


def test_code_digest_covers_every_file_of_a_package(tmp_path, monkeypatch) -> None:
    name = f"iqa_keys_pkg_{abs(hash(tmp_path)) % 10**8}"
    _package(tmp_path, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        pkg = importlib.import_module(name)
        leaf = importlib.import_module(f"{name}.leaf")
        before = keys.code_digest(pkg)
        assert keys.code_digest(pkg) == before and keys.code_digest(leaf) != before
        assert keys.code_digest(pkg, leaf) != keys.code_digest(leaf, pkg)  # order is part of it
        (tmp_path / name / "sub" / "deep.py").write_text("Y = 3\n")  # a file nothing imported
        keys.code_digest.cache_clear()  # a process reads the source once; a new one sees the edit
        assert keys.code_digest(pkg) != before
        assert keys.code_digest(leaf) == keys.code_digest(leaf)
    finally:
        for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[mod]


def test_code_digest_takes_modules_not_file_names() -> None:
    with pytest.raises(TypeError, match="expected modules"):
        keys.code_digest("engine.py")  # type: ignore[arg-type]
