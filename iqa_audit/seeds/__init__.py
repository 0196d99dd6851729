"""The seed catalogue: the images every chain starts from.

Three kinds of seed, one `Seed` type:

- procedural: 13 scenes drawn with numpy + Pillow, one per texture challenge of the
  study's Table 1 (regular grid in perspective, smooth gradients, haze, particles, ...).
  Each is a pure function of (fixed rng seed number, size), so the same name, version and
  size always give the same bytes, on any machine with the same numpy/Pillow.
- photo: real photographs that ship inside scikit-image's wheel (read straight from the
  package folder, so nothing is ever downloaded). No faces.
- user: every image file of a folder the user points at (`seeds_from_dir`).

`Seed.render(long_side)` returns an `iqa_audit.core.images.Image` whose longer side is
`long_side` pixels, keeping the seed's aspect ratio (to within rounding, < 1 px).
`long_side=None` means the seed's native size: the file's own pixels (and bytes) for
photo and user seeds, `PAPER_LONG_SIDE` for procedural ones.

`Seed.version` enters the chain cache key: bump a procedural seed's version whenever its
drawing changes, so cached chains built from the old pixels are not reused.

Layout: this module is the catalogue (the `Seed` value, rendering, lookup, photographs);
`paint` is the drawing toolkit and the `Scene` spec; `scenes_surfaces`, `scenes_light`
and `scenes_figures` hold the 13 painters and their `SCENES` tables.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image as PILImage

from iqa_audit.core.decode import load_image
from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.core.images import Image
from iqa_audit.core.names import slug
from iqa_audit.seeds import scenes_figures, scenes_light, scenes_surfaces
from iqa_audit.seeds.paint import Scene, photograph, to_uint8

QUICK_LONG_SIDE = 1024
PAPER_LONG_SIDE = 2048

# Bounds on a requested size: below 16 px nothing of any seed survives; 8192 is the
# largest image the rest of the suite accepts (core.decode.MAX_PIXELS).
MIN_LONG_SIDE = 16
MAX_LONG_SIDE = 8192

KINDS = ("procedural", "photo", "user")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")


# ======================================================================================
# The Seed value
# ======================================================================================


@dataclass(frozen=True)
class Seed:
    """One starting image: where it comes from, what it stresses, how to render it.

    `meta` is read-only and excluded from equality/hash (name + version identify a seed).
    Procedural seeds expose e.g. `placement_box` (empty table) or `eye_colours` and
    `eye_samples` (faces) there.
    """

    name: str
    challenge: str
    provenance: str
    kind: str
    version: str
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if slug(self.name) != self.name:
            raise ConfigError(
                explain(
                    f"seed name {self.name!r}",
                    expected=f"an id as names.slug gives ({slug(self.name)!r})",
                    got=repr(self.name),
                    fix="Rename the seed, e.g. 'grid-perspective'.",
                )
            )
        if self.kind not in KINDS:
            raise ConfigError(
                explain(f"seed {self.name!r} kind", expected=" | ".join(KINDS), got=repr(self.kind), fix="Use one of those.")
            )
        if not isinstance(self.meta, MappingProxyType):
            object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    @property
    def aspect_ratio(self) -> float | None:
        """height / width when known without decoding (procedural seeds), else None."""
        spec = _PROCEDURAL.get(self.name) if self.kind == "procedural" else None
        return spec.aspect if spec else None

    def render(self, long_side: int | None = QUICK_LONG_SIDE) -> Image:
        """The seed as an Image whose longer side is `long_side` px (None: native size)."""
        size = _check_long_side(long_side, self.name)
        return _render_cached(self.kind, _source_of(self), self.version, size)


def seed_size(seed: Seed, long_side: int | None = QUICK_LONG_SIDE) -> tuple[int, int]:
    """(width, height) of `seed.render(long_side)`, without rendering it: from the aspect
    ratio (procedural), the catalogued size (user) or the file's header (photo)."""
    size = _check_long_side(long_side, seed.name)
    if seed.kind == "procedural":
        h, w = _dims(size or PAPER_LONG_SIDE, _PROCEDURAL[seed.name].aspect)
        return w, h
    native = seed.meta.get("native_size") or _header_size(_source_of(seed))
    w, h = int(native[0]), int(native[1])
    if size is None or size == max(w, h):
        return w, h
    h2, w2 = _dims(size, h / w)
    return w2, h2


@functools.lru_cache(maxsize=64)
def _header_size(path: str) -> tuple[int, int]:
    """(width, height) the decoded file will have, from its header alone (an EXIF rotation
    swaps the sides, as load_image applies it)."""
    with PILImage.open(path) as im:
        w, h = im.size
        try:
            orientation = int(im.getexif().get(0x0112, 1))
        except Exception:  # a broken EXIF block: load_image ignores it too
            orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _source_of(seed: Seed) -> str:
    """What `_render_cached` needs to find the pixels: a renderer name, a file path."""
    if seed.kind == "procedural":
        return seed.name
    if seed.kind == "photo":
        return str(seed.meta["path"])
    return seed.provenance  # user: the file path


def _check_long_side(long_side: int | None, name: str) -> int | None:
    if long_side is None:
        return None
    if isinstance(long_side, bool) or not isinstance(long_side, (int, np.integer)):
        raise ConfigError(
            explain(
                f"long_side for seed {name!r}",
                expected="an int number of pixels or None",
                got=repr(long_side),
                fix=f"Pass e.g. {QUICK_LONG_SIDE} (quick) or {PAPER_LONG_SIDE} (paper profile).",
            )
        )
    if not MIN_LONG_SIDE <= int(long_side) <= MAX_LONG_SIDE:
        raise ConfigError(
            explain(
                f"long_side for seed {name!r}",
                expected=f"{MIN_LONG_SIDE} to {MAX_LONG_SIDE} px",
                got=str(long_side),
                fix=f"Pass e.g. {QUICK_LONG_SIDE} (quick) or {PAPER_LONG_SIDE} (paper profile).",
            )
        )
    return int(long_side)


# Small: a 2048 px seed is ~6-13 MB of pixels; 16 covers a quick and a paper profile of
# every procedural seed being rendered by one worker without thrashing.
@functools.lru_cache(maxsize=16)
def _render_cached(kind: str, source: str, version: str, long_side: int | None) -> Image:
    """Pure: (kind, source, version, size) -> pixels. `version` is part of the key on purpose."""
    if kind == "procedural":
        spec = _PROCEDURAL.get(source)
        if spec is None:
            raise ConfigError(
                explain(
                    f"procedural seed {source!r}",
                    expected=f"one of: {', '.join(sorted(_PROCEDURAL))}",
                    got=repr(source),
                    fix="Get procedural seeds from procedural_seeds() or get_seed(), not by constructing Seed.",
                )
            )
        h, w = _dims(long_side or PAPER_LONG_SIDE, spec.aspect)
        return Image.from_array(to_uint8(photograph(spec.draw(h, w, spec.rng_seed), spec.rng_seed, spec.camera), spec.rng_seed))
    image = load_image(source)
    # The version is (or ends with) the file's hash: a file that changed since it was
    # catalogued would silently feed cached chains different pixels.
    got = _sha12(image.data())
    if not version.endswith(got):
        raise ConfigError(
            explain(
                f"seed file {source}",
                expected=f"the content catalogued as version {version}",
                got=f"a file that now hashes to {got}",
                fix="The file changed after the seed list was read; list the seeds again (restart the run).",
            )
        )
    return _resize_long_side(image, long_side)


def _resize_long_side(image: Image, long_side: int | None) -> Image:
    if long_side is None or long_side == max(image.width, image.height):
        return image
    h, w = _dims(long_side, image.aspect_ratio)
    return Image.from_array(np.asarray(image.to_pil().resize((w, h), PILImage.Resampling.LANCZOS)))


def _dims(long_side: int, aspect: float) -> tuple[int, int]:
    """(height, width) with the longer side = long_side and height/width ~ aspect."""
    if aspect <= 1.0:
        return max(1, round(long_side * aspect)), long_side
    return long_side, max(1, round(long_side / aspect))


def _sha12(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


# ======================================================================================
# Catalogue API
# ======================================================================================


def procedural_seeds() -> list[Seed]:
    return sorted((_procedural_seed(spec) for spec in _PROCEDURAL.values()), key=lambda s: s.name)


def photo_seeds() -> list[Seed]:
    """The scikit-image photographs present in this installation (read offline)."""
    return list(_photo_seeds_cached())


def builtin_seeds() -> list[Seed]:
    return sorted(procedural_seeds() + photo_seeds(), key=lambda s: s.name)


def seeds_from_dir(path: str | Path) -> list[Seed]:
    """One user seed per image file in `path` (not recursive), sorted by name.

    Files with an image suffix must decode (else BadImageError naming the file); other
    files and hidden files are ignored. Names are the file stems' ids (`names.slug`).
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise ConfigError(
            explain(f"seed folder {folder}", expected="an existing folder of images", got="no such folder", fix="Check the path.")
        )
    if not folder.is_dir():
        raise ConfigError(
            explain(
                f"seed folder {folder}", expected="a folder of images", got="a file", fix="Point at the folder containing it."
            )
        )
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise ConfigError(
            explain(
                f"seed folder {folder}",
                expected=f"at least one image file ({', '.join(IMAGE_SUFFIXES)})",
                got="none",
                fix="Put PNG/JPEG images in it, or drop the folder from the seed directories.",
            )
        )
    # get_seed is called once per chain; re-decoding a folder of 4K images each time would
    # dominate, so the listing is cached while no file's size or mtime changes.
    signature = tuple((str(p.resolve()), st.st_size, st.st_mtime_ns) for p in files for st in [p.stat()])
    return list(_seeds_from_files(str(folder), signature))


@functools.lru_cache(maxsize=32)
def _seeds_from_files(folder: str, signature: tuple[tuple[str, int, int], ...]) -> tuple[Seed, ...]:
    seeds: dict[str, Seed] = {}
    for p in (Path(entry[0]) for entry in signature):
        image = load_image(p)  # BadImageError names the file
        version = _sha12(image.data())
        name = slug(p.stem)  # names.slug: letters of any script kept; a name with none gets a stable hash
        if name in seeds:
            raise ConfigError(
                explain(
                    f"seed folder {folder}",
                    expected="file names that give distinct seed names",
                    got=f"{seeds[name].provenance} and {p} both named {name!r}",
                    fix="Rename one of the files.",
                )
            )
        # colour: how the file's samples were converted to sRGB (images.Image.colour), when they were.
        meta = {"native_size": image.size, **({"colour": image.colour} if image.colour else {})}
        seeds[name] = Seed(name=name, challenge="user image", provenance=str(p), kind="user", version=version, meta=meta)
    return tuple(seeds[n] for n in sorted(seeds))


def get_seed(name: str, extra_dirs: Sequence[str | Path] = ()) -> Seed:
    """The seed called `name`, builtin or from one of `extra_dirs`."""
    catalogue = _catalogue(extra_dirs)
    if name not in catalogue:
        raise ConfigError(
            explain(
                f"seed {name!r}",
                expected=f"one of: {', '.join(sorted(catalogue))}",
                got=repr(name),
                fix="Pick a listed name, or add the folder holding your image to the seed directories.",
            )
        )
    return catalogue[name]


def resolve_seeds(names: Sequence[str] | None, extra_dirs: Sequence[str | Path] = ()) -> list[Seed]:
    """Seeds by name, in the given order, duplicates dropped.

    None means every builtin seed plus every seed of `extra_dirs`, sorted by name.
    """
    catalogue = _catalogue(extra_dirs)
    if names is None:
        return [catalogue[n] for n in sorted(catalogue)]
    if isinstance(names, str):
        names = [names]
    unknown = [n for n in names if n not in catalogue]
    if unknown:
        raise ConfigError(
            explain(
                f"seed name(s) {', '.join(map(repr, unknown))}",
                expected=f"names from: {', '.join(sorted(catalogue))}",
                got=repr(list(names)),
                fix="Fix the spelling, or add the folder holding your image to the seed directories.",
            )
        )
    return [catalogue[n] for n in dict.fromkeys(names)]


def _catalogue(extra_dirs: Sequence[str | Path]) -> dict[str, Seed]:
    if isinstance(extra_dirs, (str, Path)):
        extra_dirs = [extra_dirs]
    catalogue = {s.name: s for s in builtin_seeds()}
    for d in extra_dirs:
        for s in seeds_from_dir(d):
            if s.name in catalogue:
                raise ConfigError(
                    explain(
                        f"seed file {s.provenance}",
                        expected="a name not already used by another seed",
                        got=f"{s.name!r}, also {catalogue[s.name].provenance}",
                        fix="Rename the file.",
                    )
                )
            catalogue[s.name] = s
    return catalogue


# ======================================================================================
# Photographs shipped inside scikit-image
# ======================================================================================

# (seed name, file in skimage/data, data function, challenge it stresses). Only files the
# wheel ships (no pooch download), only photographs, and no faces (astronaut, camera out).
_PHOTOS: tuple[tuple[str, str, str, str], ...] = (
    ("photo-chelsea", "chelsea.png", "chelsea", "real photo: soft fur texture and whiskers (cat)"),
    ("photo-coffee", "coffee.png", "coffee", "real photo: smooth gradients, specular reflections, grainy food texture"),
    ("photo-coins", "coins.png", "coins", "real photo (greyscale): many objects of one kind"),
    ("photo-gravel", "gravel.png", "gravel", "real photo (greyscale): multi-scale natural texture"),
    ("photo-hubble", "hubble_deep_field.jpg", "hubble_deep_field", "real photo: high-contrast particles on deep black"),
    ("photo-motorcycle", "motorcycle_left.png", "stereo_motorcycle", "real photo: reflections and repeated mechanical detail"),
    ("photo-rocket", "rocket.jpg", "rocket", "real photo: smooth sky gradient and fine structure"),
)

_PHOTO_VERSION = "r2"  # bump when the decoding or the resize method changes (r2: colour-managed to sRGB)


@functools.lru_cache(maxsize=1)
def _photo_seeds_cached() -> tuple[Seed, ...]:
    try:
        import skimage
    except ImportError:
        return ()
    data_dir = Path(skimage.__file__).parent / "data"
    seeds = []
    for name, filename, func, challenge in _PHOTOS:
        path = data_dir / filename
        if not path.is_file():
            continue
        seeds.append(
            Seed(
                name=name,
                challenge=challenge,
                provenance=f"scikit-image {skimage.__version__} data.{func} ({filename})",
                kind="photo",
                version=f"{_PHOTO_VERSION}-{_sha12(path.read_bytes())}",
                meta={"path": str(path), "skimage_function": func},
            )
        )
    return tuple(sorted(seeds, key=lambda s: s.name))


# ======================================================================================
# Procedural seeds: one table, assembled from the painters' modules
# ======================================================================================

_PROCEDURAL_PROVENANCE = "procedural, iqa_audit.seeds v2"


# name -> Scene. Every painter module's SCENES table is listed here, so a scene cannot
# vanish from the catalogue by a missing import: a module left out is a visible edit here.
def _scene_table(*tables: Sequence[Scene]) -> Mapping[str, Scene]:
    """name -> Scene over the painters' tables; a name drawn twice is a bug (ValueError)."""
    scenes = [scene for table in tables for scene in table]
    names = [scene.name for scene in scenes]
    if len(set(names)) != len(names):
        raise ValueError(f"procedural seed names drawn twice: {sorted(n for n in set(names) if names.count(n) > 1)}")
    return MappingProxyType({scene.name: scene for scene in scenes})


_PROCEDURAL = _scene_table(scenes_surfaces.SCENES, scenes_light.SCENES, scenes_figures.SCENES)


def _procedural_seed(spec: Scene) -> Seed:
    meta = {"rng_seed": spec.rng_seed, "aspect_ratio": spec.aspect, **spec.meta}
    return Seed(spec.name, spec.challenge, _PROCEDURAL_PROVENANCE, "procedural", spec.version, meta)
