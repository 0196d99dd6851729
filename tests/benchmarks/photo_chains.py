"""Chains of real photos through real codecs, laid out for `iqa-audit import`.

Seeds: scikit-image's bundled photographs (the ones iqa_audit.seeds uses, plus gravel),
resized to a long side of LONG_SIDE px, grey ones as RGB. Settings:
- jpeg-falling: step k is step k-1 re-encoded as JPEG at quality 85 - 12 (k - 1) - 3 run
  (visible loss that grows step by step);
- webp-fixed: step k is step k-1 re-encoded as lossy WebP at quality 80 + 5 run (nearly
  idempotent after one generation: the cells the evidence rule calls inconclusive).
Step 0 is the photo itself (PNG). Every file is a PNG of the decoded codec output, so
the suite and a bare loop read the same pixels.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

LAYOUT = "{setting}/{seed}/run{run}/step{step}.png"
LONG_SIDE = 512
PHOTOS = ("chelsea", "coffee", "rocket", "hubble_deep_field", "coins", "gravel")
SETTINGS = ("jpeg-falling", "webp-fixed")


def _photo(name: str, long_side: int) -> PILImage.Image:
    from skimage import data

    px = np.asarray(getattr(data, name)())
    if px.ndim == 2:
        px = np.stack([px] * 3, axis=2)
    img = PILImage.fromarray(px[..., :3].astype(np.uint8))
    scale = long_side / max(img.size)
    return img.resize((round(img.width * scale), round(img.height * scale)), PILImage.Resampling.LANCZOS)


def _codec(img: PILImage.Image, setting: str, run: int, step: int) -> PILImage.Image:
    buf = io.BytesIO()
    if setting == "jpeg-falling":
        img.save(buf, "JPEG", quality=max(5, 85 - 12 * (step - 1) - 3 * run))
    else:
        img.save(buf, "WEBP", quality=80 + 5 * run, method=4)
    return PILImage.open(io.BytesIO(buf.getvalue())).convert("RGB")


def make_photo_chains(
    root: Path, *, photos=PHOTOS, settings=SETTINGS, runs: int = 2, steps: int = 5, long_side: int = LONG_SIDE
) -> list[Path]:
    """Write len(photos) x len(settings) chains of `runs` runs x `steps` images (steps
    0..steps-1) under `root` as LAYOUT; returns every file written, in chain order."""
    files = []
    for name in photos:
        seed = _photo(name, long_side)
        for setting in settings:
            for run in range(runs):
                img = seed
                for step in range(steps):
                    if step:
                        img = _codec(img, setting, run, step)
                    path = root / LAYOUT.format(setting=setting, seed=name.replace("_", "-"), run=run, step=step)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    img.save(path, "PNG", compress_level=1)
                    files.append(path)
    return files
