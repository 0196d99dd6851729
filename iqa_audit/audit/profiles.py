"""The artifact profile of every chain the run audited, and the simulator nearest each real one.

At the end of a run (the controller, or the one process of -n 0) `profile_records` reads
the chains the cells' records name (their `images`: {run: {step: "<sha256>.<ext>"}}) and
profiles each (setting, seed) at every step the metrics score (each Δ step; every step with
the every_step setting) that the chain reached, against step 1, the study's
reference (analysis.artifact_profile, after fidelity.alignment.align_to_reference cuts both
to the same content). Each profile of a pair of images is computed once and kept in the
store's memo table, kind 'profile', under both images' content hashes, PROFILE_VERSION and
the source of the code that computes it (keys.code_digest): a warm run decodes no image,
and another run or setting that reaches the same two images reads the same profile.

Each chain gets one `records.ProfileRecord`: per profiled step the mean of each statistic
over the runs. A chain made by a model or imported (`source_of`: everything but the built-in
codecs and simulators, editors.registry.SIMULATORS) also gets its "closest simulator": the
simulator settings nearest to it in profile space at its last profiled step
(artifact_profile.nearest, SCALES units), from

- "run": the simulator chains of this run on the same seed that reached the same step, when
  there are any (add `--editor sim-grain-tint` etc. to the run to compare with those);
- "reference" otherwise, when the store holds it or the run asks for it (--match-simulators;
  NOT_BUILT, no closest simulator, when neither): a reference set built here, deterministically. Each setting of
  REFERENCE_SETTINGS (the codecs and the study's model-like simulators, editors.families)
  is applied to the chain's own step-1 image (run 0, or its lowest run), cut to its central
  REFERENCE_SIDE px, for steps 2..Δ with the replicate prompt and seed 0, as a chain of
  that editor would be; the chain's own profile is then taken on the same cut of its
  aligned pair, so both sides see the same content at the same size. Each reference
  profile is kept in the memo table, kind 'profile-reference', under the step-1 image's
  hash, the editor's id, version and parameters, Δ and the profile's code. Cold, this
  costs about 0.25 s per simulated step at 384 px on one core (sim-texture-loss and
  sim-wrinkles most of it), so about 5 s per seed for Δ = 20; warm, nothing.

Profiling never fails the run: a pair that cannot be profiled (an image under 64 px a side,
a missing object) gives a record with the error fields set (core.errors.explain).
"""

from __future__ import annotations

import inspect
import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import ModuleType

import numpy as np

from iqa_audit.analysis import artifact_profile as ap
from iqa_audit.analysis.artifact_profile import PROFILE_FIELDS, PROFILE_VERSION, ArtifactProfile, artifact_profile, nearest
from iqa_audit.analysis.gaps import REFERENCE_STEP
from iqa_audit.core.errors import AuditError, explain
from iqa_audit.core.images import Image
from iqa_audit.core.keys import code_digest
from iqa_audit.editors.base import parse_spec
from iqa_audit.editors.families import SETTINGS as FAMILY_SETTINGS
from iqa_audit.editors.registry import SIMULATORS, create_editor
from iqa_audit.fidelity.alignment import align_to_reference
from iqa_audit.results.records import EditorRecord, GapRecord, ProfileRecord, Record, StabilityRecord
from iqa_audit.store.memo import memo_key, memoised
from iqa_audit.store.store import Store
from iqa_audit.tasks.table import get_task

MEMO_KIND = "profile"
REFERENCE_MEMO_KIND = "profile-reference"
REFERENCE_SIDE = 384  # px: the central cut the reference set is built on (the SCALES spreads were measured at 384 px)
# The reference set: the codecs (classic generational loss) and the study's model-like simulators.
REFERENCE_SETTINGS: tuple[str, ...] = ("codec-jpeg", "codec-reupload", *FAMILY_SETTINGS)
REFERENCE_TASK = "replicate"
MAX_CLOSEST = 3  # simulators listed per chain, nearest first
NOT_BUILT = ProfileRecord.NOT_BUILT
IMPORTED = "imported"  # the editor and task of --dataset chains (audit.cells)


@dataclass(frozen=True)
class ChainImages:
    """One chain setting on one seed, as the records name it: `images` is {run: {step:
    "<sha256>.<ext>"}} (run and step as strings), the union over the records of that chain."""

    setting: str
    seed: str
    editor: str | None
    task: str | None
    images: Mapping[str, Mapping[str, str]]


def sources() -> tuple[ModuleType, ...]:
    """The code behind a profile: the statistics, the alignment and this module (the cut
    and the reference chains). Their source enters every memo key."""
    return tuple(dict.fromkeys((ap, inspect.getmodule(align_to_reference), sys.modules[__name__])))


def source_of(editor: str | None) -> str:
    """'imported' (--dataset chains), 'simulator' (a built-in codec or simulator) or 'model'."""
    if editor is None or editor == IMPORTED:
        return IMPORTED
    return "simulator" if parse_spec(editor)[0] in SIMULATORS else "model"


def chains_of(records: Iterable[Record]) -> list[ChainImages]:
    """Every chain the gap, stability and editor records name, by (setting, seed), its
    images merged over the records (a stability record's are its add chain's)."""
    found: dict[tuple[str, str], tuple[str | None, str | None, dict[str, dict[str, str]]]] = {}
    for r in records:
        if not isinstance(r, (GapRecord, StabilityRecord, EditorRecord)) or not r.images:
            continue
        editor, task, images = found.setdefault((r.setting, r.seed), (r.editor, r.task, {}))
        for run, steps in r.images.items():
            images.setdefault(run, {}).update(steps)
    return [ChainImages(s, seed, ed, task, imgs) for (s, seed), (ed, task, imgs) in sorted(found.items())]


class Profiles:
    """Profiles of stored images, memoised in `store` (see the module doc)."""

    def __init__(self, store: Store):
        self.store = store

    def _image(self, name: str) -> Image:
        digest, _, ext = name.partition(".")
        return self.store.get_image(digest, ext)

    def pair(self, reference: str, later: str, *, side: int | None = None) -> ArtifactProfile:
        """The profile of stored image `later` against stored `reference` ("<sha256>.<ext>"),
        crop-aligned; `side`: on the central side x side px of the aligned pair only.
        Raises ValueError (under 64 px a side), CorruptObject, BadImageError."""
        key = memo_key(MEMO_KIND, PROFILE_VERSION, reference, later, side, code_digest(*sources()))

        def compute() -> ArtifactProfile:
            ref, out = _aligned(self._image(reference).pixels, self._image(later).pixels)
            return artifact_profile(*(_central(a, side) for a in (ref, out)) if side else (ref, out))

        return memoised(self.store, MEMO_KIND, key, compute, dump=_dump, load=ArtifactProfile.from_dict)

    def reference_set(self, reference: str, step: int, *, build: bool = True) -> dict[str, ArtifactProfile] | None:
        """{setting: profile} of each REFERENCE_SETTINGS chain run from the central
        REFERENCE_SIDE px of stored image `reference` to `step` (module doc). With
        build=False, only what the store already holds: None unless every setting's
        profile is there (a cold reference set costs seconds per seed: --match-simulators)."""
        out = {}
        for spec in REFERENCE_SETTINGS:
            editor = create_editor(spec)
            parts = (editor.id, editor.version, dict(editor.params()), step, REFERENCE_SIDE)
            key = memo_key(REFERENCE_MEMO_KIND, PROFILE_VERSION, reference, *parts, code_digest(*sources()))
            if not build:
                known = self.store.get_memo(REFERENCE_MEMO_KIND, key)
                if known is None:
                    return None
                out[spec] = ArtifactProfile.from_dict(json.loads(known))
                continue
            out[spec] = memoised(
                self.store,
                REFERENCE_MEMO_KIND,
                key,
                lambda editor=editor: self._simulate(editor, reference, step),
                dump=_dump,
                load=ArtifactProfile.from_dict,
            )
        return out

    def _simulate(self, editor, reference: str, step: int) -> ArtifactProfile:
        start = np.ascontiguousarray(_central(self._image(reference).pixels, REFERENCE_SIDE))
        task, image = get_task(REFERENCE_TASK), Image.from_array(start)
        for k in range(REFERENCE_STEP + 1, step + 1):
            image = editor.edit(image, task.prompt(k), seed=0, step=k).image
        return artifact_profile(*_aligned(start, image.pixels))


def profile_records(
    store: Store, records: Sequence[Record], steps: Sequence[int], *, match_simulators: bool = False
) -> list[ProfileRecord]:
    """One ProfileRecord per chain the records name (module doc), profiled at each of
    `steps` after step 1 that it reached (the run's scored steps, AuditConfig.scored_steps:
    each Δ step, or every step with every_step, so a profile costs a tenth of a piqe
    scoring of the steps the audit scores anyway); model and imported chains with their
    closest simulators: this run's simulator chains, else the reference set when the store
    holds it or `match_simulators` asks to build it, else none (closest_from NOT_BUILT)."""
    profiles, chains = Profiles(store), chains_of(records)
    steps = sorted({d for d in steps if d > REFERENCE_STEP})
    made = [_chain_record(profiles, c, steps) for c in chains]
    return [_with_closest(profiles, rec, chain, made, match_simulators) for rec, chain in zip(made, chains)]


def _chain_record(profiles: Profiles, chain: ChainImages, steps: Sequence[int]) -> ProfileRecord:
    fields = {
        "cell": f"profile:{chain.setting}-{chain.seed}",
        "setting": chain.setting,
        "seed": chain.seed,
        "editor": chain.editor,
        "task": chain.task,
        "source": source_of(chain.editor),
        "version": PROFILE_VERSION,
        "reference_step": REFERENCE_STEP,
    }
    means, runs = {}, {}
    try:
        for step in steps:
            got = [profiles.pair(ref, later) for ref, later in _pairs(chain, step)]
            if got:
                means[str(step)], runs[str(step)] = _mean(got), len(got)
    except (ValueError, AuditError) as e:
        return ProfileRecord(**fields, error=_why(chain, e), error_type=type(e).__name__)
    return ProfileRecord(**fields, steps=means, runs=runs)


def _with_closest(
    profiles: Profiles, rec: ProfileRecord, chain: ChainImages, made: Sequence[ProfileRecord], build: bool
) -> ProfileRecord:
    """`rec` with its closest simulators (module doc): from this run's, else the reference set."""
    last = rec.last_step
    if rec.source == "simulator" or last is None or rec.error:
        return rec
    target = ArtifactProfile.from_dict(rec.steps[last])
    ran = {
        r.setting: ArtifactProfile.from_dict(r.steps[last])
        for r in made
        if r.source == "simulator" and r.seed == rec.seed and last in r.steps and not r.error
    }
    origin = "run"
    if not ran:
        origin, (ref, later) = "reference", _pairs(chain, int(last))[0]
        try:
            reference = profiles.reference_set(ref, int(last), build=build)
            if reference is None:
                return replace(rec, closest_from=NOT_BUILT)
            target, ran = profiles.pair(ref, later, side=REFERENCE_SIDE), reference
        except (ValueError, AuditError) as e:
            return replace(rec, error=_why(chain, e), error_type=type(e).__name__)
    ranked = nearest(target, ran)[:MAX_CLOSEST]
    closest = tuple({"setting": s, "distance": round(d, 4), "step": int(last)} for s, d in ranked)
    return replace(rec, closest=closest, closest_from=origin if closest else None)


def _pairs(chain: ChainImages, step: int) -> list[tuple[str, str]]:
    """(step-1 image, step `step` image) of every run that has both, runs in number order."""
    pairs = []
    for run in sorted(chain.images, key=int):
        steps = chain.images[run]
        if str(REFERENCE_STEP) in steps and str(step) in steps:
            pairs.append((steps[str(REFERENCE_STEP)], steps[str(step)]))
    return pairs


def _mean(profiles: Sequence[ArtifactProfile]) -> dict[str, float | None]:
    """Each statistic's mean over the profiles that define it (null where none does)."""
    out: dict[str, float | None] = {}
    for name in PROFILE_FIELDS:
        values = [getattr(p, name) for p in profiles if math.isfinite(getattr(p, name))]
        out[name] = float(np.mean(values)) if values else None
    return out


def _dump(p: ArtifactProfile) -> dict[str, float | None]:
    """A profile as JSON: NaN (undefined) as null."""
    return {k: (v if math.isfinite(v) else None) for k, v in p.as_dict().items()}


def _aligned(ref: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pair as same-shape uint8 arrays: as they are when their shapes agree, else cut to
    their shared content (fidelity.alignment.align_to_reference)."""
    if ref.shape == out.shape:
        return np.asarray(ref), np.asarray(out)
    a, b, _ = align_to_reference(Image.from_array(np.ascontiguousarray(ref)), Image.from_array(np.ascontiguousarray(out)))
    return np.asarray(a), np.asarray(b)


def _central(a: np.ndarray, side: int) -> np.ndarray:
    """The central side x side px of `a` (all of an axis shorter than that), its origin on
    the 8 px grid so a codec's block grid keeps its phase."""
    h, w = a.shape[:2]
    top, left = max(h - side, 0) // 2 // 8 * 8, max(w - side, 0) // 2 // 8 * 8
    return a[top : top + side, left : left + side]


def _why(chain: ChainImages, e: BaseException) -> str:
    return explain(
        f"artifact profile of {chain.setting}/{chain.seed}",
        expected="stored images of at least 64 px a side, readable from the store",
        got=f"{type(e).__name__}: {e}",
        fix="Check the store (`iqa-audit build` re-checks every object) and the chain's image sizes; "
        "the profile is informative only, the run's verdicts do not depend on it.",
    )
