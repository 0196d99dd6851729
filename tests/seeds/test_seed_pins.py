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
        "v2",
        "1025b79122e806a97b1c00fea19286eeaf2f5ddc800e5299cbc34ac727341156",
        {
            64: "d5f4c2df29a21ba293d000bab27fcafd88933a2386c1745f6f5385cd7624a8db",
            97: "1c692a7e5bc31dc4a079e4e0200b86064aec080a91591fd7fa2a92eb22dcb577",
            384: "cf240f191956de12ccbd3f9c690e613d30eec7356b438786f24554a8fc8ea65f",
        },
    ),
    "empty-table": (
        "v2",
        "82f57208c522f4bf9f2074fc9576da7005a7804da26dcbdd65c3c094d68f669a",
        {
            64: "09752b6f94e73f645f17b93493558b6dc82582b44cdc446914dce331eb865210",
            97: "cdc03a7724200cf783a21e091edb299cbf51d3e1f0710b8a6c8f7e7a467a8ce3",
            384: "d195c5f0051fc30eaa440e5db77ceeba07209eba6b354ddece76111c895d6f27",
        },
    ),
    "eye-palette-faces": (
        "v4",
        "2116bcf4f0179afeaeab4fa730de85e668e8675febe9ff591849848e4356e77b",
        {
            64: "54f422fe5f6a6b4543ca0116d98cb58555652497ae098d3b47a89e060632cb18",
            97: "58e336eaff9c4ec650b4095179ca10b4a668bd07758bdcddf28ad1755bdc6a18",
            384: "f0a327bfe29a102dfcfcedd3dc33f9143f14018845e5ebadd7c010cb67a5554a",
        },
    ),
    "flat-cartoon": (
        "v1",
        "2bb3f031745bd9e3f19e036e24c8511738bd2db73148b89caeaae93d3f580ac7",
        {
            64: "a79163cf889c98fac8e345af1fe9d049fd9d7d5ca1de2e0664022db3383eb40d",
            97: "8ff33f87b3a21f23682b5fd74609c84e05bb281d417d5574dc662d766622512c",
            384: "3a5f04a3ea8d9259e75efa623058074ee50471d1963d126df56b67c75dfd2565",
        },
    ),
    "food-texture": (
        "v2",
        "2742ca3f90dac2cdb724dd99d807b97a986ffc57d0852b5ed9d36dae38b91240",
        {
            64: "6ff69e5a01b8e0d86bf3cac4be820bd95e9ef1b0f1b7fa132b273ec3e122cc76",
            97: "611255c7ea364f70b036b5669d889c631ccb0456fe3baa501b17ab63113150c9",
            384: "7eea105d0741b242b3d016684aaf66e6dd2879f7385f2400cf08018ac5644e66",
        },
    ),
    "grid-perspective": (
        "v2",
        "5393b7c57c37085f7aa4b2ac7dd9350d2bd7f2af5805774b1b8f5b73ffa37604",
        {
            64: "4d011d5ff20c4ad8356861286c0fe0f7599071c3c11749b0b4c1b26efb91a2ce",
            97: "c5e8d26da6686ddb560813a70a90ad2b763194575c6b82a8486251d94c0d407e",
            384: "32f24316229231625e693c5000c21162dc94ecefaf29a5b2dfc74c531bbb1ea2",
        },
    ),
    "high-contrast-particles": (
        "v2",
        "cec2aa878ef575ea79ac697a1a25aa1fad78feb542cd303e682f83445a26448f",
        {
            64: "27d4331b9ca38b462c3128c7b958913c0dda965f101d3bab11c2a238133f2fd7",
            97: "744e2caff632f37e2c93f4550a25c8d6c570563e69f9dd14deac9d2c2e57b299",
            384: "eeb09650d53d3c701944ebc8e2e6290ee7ca5b6d0d706e6558241906e998dadc",
        },
    ),
    "iridescent-texture": (
        "v2",
        "7cfab1bcb93784295e5b51ee1df393ba41aed273a5e2841db507fa5491498c1c",
        {
            64: "c9a7435e6d2bf36e75ec24d5c66e2032f520debf2c983f368549a12e1ca83030",
            97: "050710f0ab710df6b3d4dce94b41628ae66d78dc916ed4bda4ff78e58b10438d",
            384: "21cc05f55547f379cd0ae2a60c2f9ad4f466bb466901c404bf9e46c3cff132ba",
        },
    ),
    "low-contrast-haze": (
        "v2",
        "f06582880dc5895107f484b76712024d0ba85447b35c322670ca17dbeed4e569",
        {
            64: "9a5fd1fd4b8c7cc62e7565a59ca16f817696b80e7989585e22ff03d05cc9b4dd",
            97: "fef7784a98e3a59ef79afd54b93a8e82ed773b873b9f1daf036d30e3479eedf6",
            384: "649bd70cecbb53438ee869128682739e3fb76d294df2a5511711d4fb202cd3ff",
        },
    ),
    "many-objects": (
        "v2",
        "757a1d8f339e11f35f5a3ae9fbc897604e6215852ac22876ac85ff1d47e0bd4f",
        {
            64: "7f5f960b0464e3a5b5ab9c92a0b5431148f14567b8903291e4f85fdd58bcb028",
            97: "f7135b829d6e410e83e07fb784ac64870a79afd7c5264457ff5413caee49c2ac",
            384: "3a60b9540d26fdb05ae3adc784b543066c612907f77979308338df092575b9a0",
        },
    ),
    "photo-chelsea": (
        "r2-596aa1e7cb87",
        "e93a338fa4aa08ab7ceb92ed9d3d951034c52b5b104ac07bcac0811b4cf1ad22",
        {
            64: "d02820920f53b5e4c02163e3e5463eca609705b9f4bb68343d30deda4bb91766",
            97: "ea05fd9d4fa88864fc1054b50c34be34fc846bbfc9dc07eefbbead0b551b8ebb",
        },
    ),
    "photo-coffee": (
        "r2-cc02f8ca188b",
        "2c08a5eaa77cefe9106f01f6bfbc8c476e4020f93388e7c02f0362f1865ccc39",
        {
            64: "672cc73ee2bb2809e0a2d4be5394bbbf88492aed6b41d1978ff33188f137389b",
            97: "0c95b02ac6108acea9c1839e98116a804fd7e37e24ae2878588e3ce6a6df3da6",
        },
    ),
    "photo-coins": (
        "r2-f8d773fc9cfa",
        "657a02d45442729027fcf5f7653e9f120600a27c6bc77d22ba22b549f7f5e453",
        {
            64: "b05a462fc81d805d35f863cdcceabd769c7831a6db3de76310203a57e67e4319",
            97: "88119046c049fe08b57afa054321b5f138f9c0a5c5fd1469e0fdaabfbfcb3524",
        },
    ),
    "photo-gravel": (
        "r2-c48615b451bf",
        "0f2a20a2065f581e18d073a1be8205f0452d835e5d4b13d14c477aa2690e1865",
        {
            64: "22032849efa486b871ed4916136584ce3ddddc68e0a171a54f75ba96af155c52",
            97: "a26203b909f261cfe1aa77cdc440d8b0aa99e946a12f2aaae956582eef42cbc6",
        },
    ),
    "photo-hubble": (
        "r2-3a19c5dd8a92",
        "8f141f24350b7a657d14071ce3ab8b7b2326875cb1643c9ddc1acf3d002c8250",
        {
            64: "dd88257cae81a9be718cf7d4d255e89c12d71f15790d01b75579558137285f8b",
            97: "d9c17ed59849c6fc0712ef2421ce4bbd5eb530edb9e369d057bff9fffe20c759",
        },
    ),
    "photo-motorcycle": (
        "r2-db18e9c41576",
        "edb280d89010dce8526d9ea0e4923775f264a30c23a714c18206ce0e0c6d3b38",
        {
            64: "01ace9a219d88fe64041dac04eda08f85097c26d4176b36d57cdedd2fc15414a",
            97: "da2fe05bd4ce16dacdaf4d7077ee7666305bdb7ac40f8a5b01c51bd7c060b97b",
        },
    ),
    "photo-rocket": (
        "r2-c2dd0de7c538",
        "2208327cdb533e6c16f679fdf3e609425a9dc51b3944a500554b4cd5191deab0",
        {
            64: "ef52818095a53c9e25bb49371f7f991ecf1d8ce585640dc5ff1b82d53e1375d0",
            97: "84f4cbf9396e020e725531e8aa5382c2ca8367d8a36f20c676aa691f4df11d1c",
        },
    ),
    "reflections": (
        "v2",
        "2746b66b8ecfefc0aae02433e4ac5fe990e169e4df761c5670c8b2d065344aee",
        {
            64: "ece6fe62ffaec63c3a0a19e778d1d2c9545bbd62bc9175284a3932c014b22ae4",
            97: "eb67159c60cdde1a7c54f7b6bb96c365180d9627639c21ba9f6c297d29094559",
            384: "6ed59156b52715599a5df280084908df64ed07b0069c568784e34dae57ef0876",
        },
    ),
    "smooth-gradient": (
        "v2",
        "8de0f284b37777eddbe01945d525db75a41051b93e4f83b7afb35661ce5ee9af",
        {
            64: "2272599b1b990cc9bb399c24b6830b9d9143f2885a60397addc3212b82e702a0",
            97: "3299d46b131ce37842e5113438ad475f9ff5cf139a83cb5fab4848760dc22487",
            384: "46006dcc363810fc89e75f324e052cf0bd2480d5685c1540414a7dc18cfeba0d",
        },
    ),
    "soft-texture": (
        "v2",
        "afd011a3724a352916d17ff610edb0acc59af03baef771e6003f9f131bd85fde",
        {
            64: "2b3bda7aac1027f89e11e54c1664a515b35bce93daa79c8be21e42724c8efd08",
            97: "c5292d2b24d1a31e53c9ff996c89f2e14f255aa2c779fdd077a2a6c926894afd",
            384: "1ea3af7e1ed94ab8e3f03cb81900926b1a170082821596f6e07f6e43128b6d04",
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
