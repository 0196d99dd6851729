"""Every catalogue seed's pixels and identity, pinned.

The seed catalogue feeds the chain cache: a seed whose pixels change without a version
bump silently reuses chains built from the old pixels. These sha256 digests were
computed from the catalogue *before* `seeds.py` was split into a package (issue 14), so
the split (and any later refactor) must reproduce every seed bit for bit.

- pixels: `Image.pixel_digest()` (sha256 of WxH + the decoded RGB bytes, independent of
  the PNG encoder) of the uncached render at each long side listed, 384 px included so
  the supersampled and reduced-resolution drawing paths run too.
- identity: sha256 of repr((name, challenge, provenance, kind, version, meta sans the
  photo file path)), so renaming a challenge or changing `meta` shows up as well.

Procedural drawing is exact only for the numpy / Pillow / SciPy releases it was pinned
with (`PINNED_WITH`); under others the pixel pins are skipped, with that reason. Photo
seeds are pinned per file version (a different scikit-image data file is a different
seed). If a drawing change is intended: bump that seed's version and re-pin.
"""

from __future__ import annotations

import hashlib

import numpy as np
import PIL
import pytest
import scipy

from iqa_audit import seeds as S

PINNED_WITH = {"numpy": "2.4", "Pillow": "13.0", "scipy": "1.17"}

# name: (version, identity sha256, {long side: pixel sha256})
PINS: dict[str, tuple[str, str, dict[int, str]]] = {
    "deep-shadows": (
        "v1",
        "9ad1602931f1d728a278cf752408676ce39b313e8b53e04b9328e89563d30f3a",
        {
            64: "34b3917f6fe7c29bfaf34398f67c59328ff38dab05a37efb70afe189f70a9d55",
            97: "3048bdab96973e4cdbfeceb0fa5909e73bc6dbcb8da631e40b93f12edddbcd00",
            384: "47f542bd2a53dd08bdceaad151ef54515b5dccc2f1953ba9fe1edaab9ae0fef5",
        },
    ),
    "empty-table": (
        "v1",
        "9940cb26c784fd28d30ee36cc22bb96aa4bddcac71caf674ccd06d3503f1dfa0",
        {
            64: "079480e2cdd825c606bc98e4474f67c465ab21cfce88e585123cb3786cbb108e",
            97: "2dc7bc03b154a559f8ee53bfc3a8261d63c064b112ab0b7a6ad6e7153838dd58",
            384: "28478ec369db5e1f76b58a8fa9cd35fd6906dc9d9b46469876285792fd32dca9",
        },
    ),
    "eye-palette-faces": (
        "v1",
        "7deb4b419ea2283d6b38c4c382b5ada09fa872e3c9c55017c640f89bde3e7aa2",
        {
            64: "e502443780a473561222b48694fdeb8ff57368fed3483d2077beecc905131642",
            97: "5cee0c05be82f09ed20199f0816aa3d8bd8ef20bab4834c6315eba06468c894d",
            384: "5cc3434cc4068b18f8920b1266681a48591afa0a9c8b3fdaf0bd7ee72ac665ae",
        },
    ),
    "flat-cartoon": (
        "v1",
        "be062948332c438920facd79d66fac46cb41751b955a2a909bb8b262ce6e49fc",
        {
            64: "a79163cf889c98fac8e345af1fe9d049fd9d7d5ca1de2e0664022db3383eb40d",
            97: "8ff33f87b3a21f23682b5fd74609c84e05bb281d417d5574dc662d766622512c",
            384: "3a5f04a3ea8d9259e75efa623058074ee50471d1963d126df56b67c75dfd2565",
        },
    ),
    "food-texture": (
        "v1",
        "0d43c07edfa5ff435dfd330114049950c4c5a5d72b50d52c191c1f5c5e2c9289",
        {
            64: "eef5f71ae2262008d9274fa05b5577b8fabb106cdaa4ba54abce8e4a069ad145",
            97: "1eafc5e5167372c325af4a1de927322083b67fb0665f997007c2cec6a07bb614",
            384: "0c6dc0cad572d8be41365ebad557d56ca370859b36eac3722cc8943e00433bb9",
        },
    ),
    "grid-perspective": (
        "v1",
        "4b69643776f77485601f67afae889ec356b18b3ccbca695b745516ddb3f13137",
        {
            64: "b58e9372c1381f0decc0c98c2249794af0969d209b374dba0e7def7e3e1b0495",
            97: "daabacadae12a818dd8fa623cbc6c137df237a78dcec109d2758c2982123c12e",
            384: "e2810b07d6dc7f433888cdcf4153a7f527c89fb6484bb96758097a3ee4774522",
        },
    ),
    "high-contrast-particles": (
        "v1",
        "6b74a72e4de35d6efd29876d6eaaca3f5eea77fcf1be299a8fd55f3d6f5af358",
        {
            64: "0118927d582f2f4b0d388d9df3f62620a15508e9854dcadc4eb09eaec66b7d86",
            97: "8c5d6b2990b8ce6c443732aaa6a88029c0c8bb7e4e741cf85776355d305350ac",
            384: "3d36e1b743e3cf6f71114afdfab6e23a1d5a340eddb2c54d0de40703b1593d8f",
        },
    ),
    "iridescent-texture": (
        "v1",
        "647ebc3f9a81cd8a9fb719fe08128dfc4e1adb843847f77ac965f7a5e332071c",
        {
            64: "2c46d036c66455e605f8dce7b9baff2d3011c8e2a3593524a6787ee5c0cb7c80",
            97: "39f1734010c180be8152d0195bba52182837d50938965b6bbbc2326d03ceaaa6",
            384: "2e854bc753a230e5db134dfe5482d0adeaf63133438e378396e981a47fc08386",
        },
    ),
    "low-contrast-haze": (
        "v1",
        "baba5abd560391b5c5d2a9cca26c98e68e75bbe7d97b761a929b97474447f4f7",
        {
            64: "f9cbeed4a0ba33f8877ba3c28d46f1edb1a21a7baf41bf327e623f35128d3427",
            97: "87b02ab22b0742dd8ca9bfb861bf2148e56de374936c2564f1cf62c0133e4924",
            384: "b6cbfa2b967f32ee89d764ecc5a2fd30bd9958f1e4e440bf7f154c95bc9de205",
        },
    ),
    "many-objects": (
        "v1",
        "5864ee57f71fc8bc65bbdd95dc76ddc4f3247963af434585c7aeb4cd54016da4",
        {
            64: "af496bad77724229812b1c3026d75c08c393f62a8127b74a67f9b793991df5e8",
            97: "6df47386723d29fca9ea7d93b3f512828f3fc10d75eda4573258c466023938f5",
            384: "abea3aeb29aa9729a0a89af6f35153f1fa616fd94f4006d8c8bcdc7ea3a4c3f4",
        },
    ),
    "photo-chelsea": (
        "r1-596aa1e7cb87",
        "af0b01ab52d6ca3e02889c61608892a4c74f9ef793ac3927cacd5b167fd3ebbf",
        {
            64: "d02820920f53b5e4c02163e3e5463eca609705b9f4bb68343d30deda4bb91766",
            97: "ea05fd9d4fa88864fc1054b50c34be34fc846bbfc9dc07eefbbead0b551b8ebb",
        },
    ),
    "photo-coffee": (
        "r1-cc02f8ca188b",
        "693789722b57a09050aa4760acf8dd060e11242afd7df554d7f9aafdb0b7939c",
        {
            64: "672cc73ee2bb2809e0a2d4be5394bbbf88492aed6b41d1978ff33188f137389b",
            97: "0c95b02ac6108acea9c1839e98116a804fd7e37e24ae2878588e3ce6a6df3da6",
        },
    ),
    "photo-coins": (
        "r1-f8d773fc9cfa",
        "ccccc30b940277d7c603bb6c5d7437a4c4e4fbeb1c525265f86579cbc07b894c",
        {
            64: "b05a462fc81d805d35f863cdcceabd769c7831a6db3de76310203a57e67e4319",
            97: "88119046c049fe08b57afa054321b5f138f9c0a5c5fd1469e0fdaabfbfcb3524",
        },
    ),
    "photo-gravel": (
        "r1-c48615b451bf",
        "b4ec2147ffc30cacdd1413343db2209fe243c0fc4c4700b65f5ce430ce6bc3a3",
        {
            64: "22032849efa486b871ed4916136584ce3ddddc68e0a171a54f75ba96af155c52",
            97: "a26203b909f261cfe1aa77cdc440d8b0aa99e946a12f2aaae956582eef42cbc6",
        },
    ),
    "photo-hubble": (
        "r1-3a19c5dd8a92",
        "dbb76522cdfff4657373e621a05a6217bd54ee27cbe59daf4e884e5834408682",
        {
            64: "dd88257cae81a9be718cf7d4d255e89c12d71f15790d01b75579558137285f8b",
            97: "d9c17ed59849c6fc0712ef2421ce4bbd5eb530edb9e369d057bff9fffe20c759",
        },
    ),
    "photo-motorcycle": (
        "r1-db18e9c41576",
        "a595ba75e35ac5d14c0f166ef29e35b3c1e87823d2d6fe62b2ef6344af293fb5",
        {
            64: "01ace9a219d88fe64041dac04eda08f85097c26d4176b36d57cdedd2fc15414a",
            97: "da2fe05bd4ce16dacdaf4d7077ee7666305bdb7ac40f8a5b01c51bd7c060b97b",
        },
    ),
    "photo-rocket": (
        "r1-c2dd0de7c538",
        "359034b2785d161d0641fac616264d648fcf16c87b2ddfa71a2559d7194a6601",
        {
            64: "7cf8258b5cfa9af9a7d83f457c903ccbffeba243cf77169595b9288e4e347474",
            97: "e30723617242fd6d2a7e5774d0943db119ef32e10c3044675e819317c51ab903",
        },
    ),
    "reflections": (
        "v1",
        "3e0e1d6d94deeddb9e63e9edb8881884ba8cb7563771c1e77303e62fdb77006c",
        {
            64: "25912e9d447397026b4a5f20fd98abf8dd56c48cf9660e156bdf524c8bf4e060",
            97: "f17c6f5514b27a718b9cfd7f4f9fe1ae9086e436183925a057a8cc066dbee415",
            384: "a017cfb3ee3a683f62e573b53474ff850e4cfb1ae37e735b86e1f4b8595d8a99",
        },
    ),
    "smooth-gradient": (
        "v1",
        "228e4a9f32acc967c3ad5e4986e4728313ac5a810ed62c06ec1346e03b456b0e",
        {
            64: "6828e419c7fefd2c37ad34e3c224a81afac6c63973384f685c8f9c13bc19d391",
            97: "8dfa16dcc3db91b244d2f6d953d18f841626a3248fc63f680b664be78ff6d2f6",
            384: "bd283e0346157dcf19675ab3624c00cf0f2e2200678655df67d6fa36f204b03b",
        },
    ),
    "soft-texture": (
        "v1",
        "ae4fb3795164f807d4b4668cb31b82eeea8023ac2ccc4cafdfe0b22c7530d725",
        {
            64: "cefdc9d0e7a5b81c86d1b1e197b9d570a0bc55fac20bb278193587e9cacfc48a",
            97: "f040ad8ce3d69626832265febb0200e211db390279160c51bb617d658a390486",
            384: "177ff2b393ee9af828b73b844399e06949118d1059e343a20112a1f524d243dd",
        },
    ),
}


def _identity(seed: S.Seed) -> str:
    meta = sorted((k, repr(v)) for k, v in seed.meta.items() if k != "path")
    return hashlib.sha256(repr((seed.name, seed.challenge, seed.provenance, seed.kind, seed.version, meta)).encode()).hexdigest()


def _installed() -> dict[str, str]:
    return {name: ".".join(mod.__version__.split(".")[:2]) for name, mod in (("numpy", np), ("Pillow", PIL), ("scipy", scipy))}


def _seed(name: str) -> S.Seed:
    seed = {s.name: s for s in S.builtin_seeds()}.get(name)
    if seed is None:
        assert not name.startswith("photo-") or S.photo_seeds() == [], f"builtin seed {name!r} vanished from the catalogue"
        pytest.skip(f"{name}: scikit-image ships no photographs here")
    if seed.kind == "photo" and seed.version != PINS[name][0]:
        pytest.skip(f"{name}: this scikit-image ships a different file ({seed.version}, pinned {PINS[name][0]})")
    return seed


def test_the_catalogue_is_exactly_the_pinned_seeds() -> None:
    assert [s.name for s in S.procedural_seeds()] == sorted(n for n in PINS if not n.startswith("photo-"))
    assert {s.name for s in S.photo_seeds()} <= set(PINS)


@pytest.mark.parametrize("name", sorted(PINS))
def test_seed_identity_is_unchanged(name: str) -> None:
    seed = _seed(name)
    assert seed.version == PINS[name][0]
    assert _identity(seed) == PINS[name][1]


@pytest.mark.parametrize("name", sorted(PINS))
def test_seed_pixels_are_unchanged(name: str) -> None:
    seed = _seed(name)
    if seed.kind == "procedural" and _installed() != PINNED_WITH:
        pytest.skip(f"pinned with {PINNED_WITH}, installed {_installed()}: drawing is exact per release")
    render = S._render_cached.__wrapped__  # bypass the cache: really draw
    source = seed.name if seed.kind == "procedural" else seed.meta["path"]
    got = {n: render(seed.kind, source, seed.version, n).pixel_digest() for n in PINS[name][2]}
    assert got == PINS[name][2]
