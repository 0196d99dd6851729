"""The one scoring core: score a batch, check its shape and finiteness, store it.

Every path that scores images goes through these functions, so a score is checked the
same way whoever computed it: the local engine (`scoring.cached.Scorer`: the pytest audit
and the CLI `score`) and the Ray engine (its workers call `score_batch`, its driver
`store_batch`). The store's score table only ever receives finite numbers, all of
one batch in one transaction.

A NaN or ±inf is not a score: a metric that cannot judge an image (PIQE on a black
frame, skimage's blur effect on a 2-pixel strip) says so with it. Such a value is kept
out of the score table and remembered as a memo of kind `nonfinite` under the same key
(metric id, version, image hash), so a warm run knows it without loading the metric
again; the cells that need that image then ERROR with `nonfinite_error`'s message, which
names the metric, every chain step (setting/seed/run/step) that uses the image, its file
and its size. Other images of the batch are stored as usual.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from PIL import Image as PILImage

from iqa_audit.core.errors import explain
from iqa_audit.metrics.base import SCORE_CONTRACT, Metric, NonFiniteScore, ScoreError, detached, not_a_number
from iqa_audit.store.store import Store

NONFINITE_MEMO = "nonfinite"

# How many chain steps an error lists per image (an image shared by many chains, e.g. a
# black frame, would otherwise make a page-long message).
MAX_USES_SHOWN = 6


@dataclass(frozen=True)
class Scores:
    """What the store knows about some images under one (metric id, version).

    `finite`: image hash -> raw score. `nonfinite`: image hash -> the NaN/±inf the metric
    returned (never in the score table). An image in neither has not been scored."""

    finite: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    nonfinite: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def missing(self, objects: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """The (hash, ext) of `objects` known neither as a score nor as a NaN/±inf here,
        de-duplicated, order kept: what is left to score."""
        wanted = dict(objects)
        return [(h, ext) for h, ext in wanted.items() if h not in self.finite and h not in self.nonfinite]

    def merged(self, other: "Scores") -> "Scores":
        return Scores(MappingProxyType({**self.finite, **other.finite}), MappingProxyType({**self.nonfinite, **other.nonfinite}))


def score_batch(metric: Metric, images: Sequence) -> np.ndarray:
    """`metric.score(images)` as a float64 array of exactly len(images) values (NaN/±inf
    included: finiteness is `split_finite`'s job). Raises ScoreError on another shape."""
    raw = metric.score(images)
    raw = detached(raw)  # a torch score that requires grad, lives on a GPU or is bfloat16
    why = not_a_number(raw)  # None or "0.5" would otherwise become NaN or a number here
    if why is None:
        try:
            arr = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError, RuntimeError) as e:  # RuntimeError: torch, e.g. a tensor that requires grad
            why = f"{type(raw).__name__} ({e})"
    if why is not None:
        raise ScoreError(
            explain(
                f"metric {metric.name}",
                expected=f"{len(images)} numbers, {SCORE_CONTRACT}",
                got=why,
                fix="score(images) must return one float per image.",
            )
        ) from None
    if arr.shape != (len(images),):
        raise ScoreError(
            explain(
                f"metric {metric.name}",
                expected=f"{len(images)} scores",
                got=f"shape {arr.shape}",
                fix="score(images) must return one float per image.",
            )
        )
    return arr


def split_finite(hashes: Sequence[str], raw: Sequence[float] | np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
    """({hash: score} of the finite values, {hash: value} of the NaN/±inf ones), in order.

    Raises ScoreError when the two lengths differ (a batch must give one value per image)."""
    values = np.asarray(raw, dtype=np.float64).reshape(-1)
    if values.shape != (len(hashes),):
        raise ScoreError(
            explain(
                "a scored batch",
                expected=f"{len(hashes)} scores",
                got=f"{values.size}",
                fix="score(images) must return one float per image.",
            )
        )
    good: dict[str, float] = {}
    bad: dict[str, float] = {}
    for h, v in zip(hashes, values.tolist()):
        (good if math.isfinite(v) else bad)[h] = float(v)
    return good, bad


def store_batch(
    store: Store,
    metric_id: str,
    version: str,
    hashes: Sequence[str],
    raw: Sequence[float] | np.ndarray,
    seconds_per_image: float | None = None,
) -> Scores:
    """Check one scored batch and store it: the finite scores in one transaction of the
    score table, the non-finite ones as `nonfinite` memos. Returns both."""
    good, bad = split_finite(hashes, raw)
    if good:
        store.put_scores(metric_id, version, good, seconds_per_image)
    for h, v in bad.items():
        store.put_memo(NONFINITE_MEMO, _memo_key(metric_id, version, h), json.dumps({"value": repr(v)}))
    return Scores(MappingProxyType(good), MappingProxyType(bad))


def known_scores(store: Store, metric_id: str, version: str, hashes: Iterable[str]) -> Scores:
    """What the store already knows about `hashes`: finite scores and remembered NaN/±inf."""
    wanted = list(dict.fromkeys(hashes))
    good = store.get_scores(metric_id, version, wanted)
    bad = {}
    for h in wanted:
        if h not in good:
            memo = store.get_memo(NONFINITE_MEMO, _memo_key(metric_id, version, h))
            if memo is not None:
                bad[h] = float(json.loads(memo)["value"])
    return Scores(MappingProxyType(good), MappingProxyType(bad))


def nonfinite_error(
    store: Store, metric_name: str, bad: Mapping[str, float], *, exts: Mapping[str, str] | None = None
) -> NonFiniteScore:
    """A NonFiniteScore naming the metric and, per image, its value, the chain steps that
    use it (setting/seed/run/step), its file(s) and its size."""
    parts = [nonfinite_line(store, metric_name, h, v, ext=(exts or {}).get(h)) for h, v in bad.items()]
    return NonFiniteScore("\n".join(parts), tuple(bad))


def nonfinite_line(store: Store, metric_name: str, image_hash: str, value: float, *, ext: str | None = None) -> str:
    """One image's explanation (see nonfinite_error)."""
    uses = store.steps_with_image(image_hash)
    where = [f"{c.setting}/{c.seed}/run {c.run}/step {s.step}" for c, s in uses[:MAX_USES_SHOWN]]
    if len(uses) > MAX_USES_SHOWN:
        where.append(f"and {len(uses) - MAX_USES_SHOWN} more")
    ext = ext or next((s.ext for _, s in uses if s.ext), None)
    files = [str(store.object_path(image_hash, ext))] if ext else []
    files += sorted({str(s.meta["source"]) for _, s in uses if s.meta.get("source")})
    size = next((f"{s.width}x{s.height}" for _, s in uses if s.width and s.height), None) or _size_of(store, image_hash, ext)
    return explain(
        f"metric {metric_name} on image {image_hash[:12]}… ({size}; "
        + (f"used at {', '.join(where)}" if where else "not part of a stored chain")
        + (f"; file {', '.join(files)}" if files else "")
        + ")",
        expected="a finite score",
        got=_words(value),
        fix="The metric cannot judge this image (a flat or black frame, or one too small for it); the cells that need "
        "it error and every other score is stored. Leave the image out of the chain, or make the metric return "
        "a finite number for it (and bump its version).",
    )


def _words(value: float) -> str:
    return "NaN" if math.isnan(value) else ("+inf" if value > 0 else "-inf")


def _size_of(store: Store, image_hash: str, ext: str | None) -> str:
    if not ext:
        return "size unknown"
    try:
        with PILImage.open(store.object_path(image_hash, ext)) as im:
            return f"{im.width}x{im.height}"
    except Exception:  # a description must not fail the error it describes
        return "size unknown"


def _memo_key(metric_id: str, version: str, image_hash: str) -> str:
    return f"{metric_id}\0{version}\0{image_hash}"
