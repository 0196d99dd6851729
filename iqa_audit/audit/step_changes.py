"""The evidence of change behind a gap verdict, measured once per pair of images.

`analysis.evidence` holds the measure (PSNR/SSIM after aligning a crop) and its threshold
of visible change; this service applies it to stored chain steps and keeps each result in
the store's memo table under both image hashes and the source of the code that measures
it, so a warm run decodes no image.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from iqa_audit.analysis.evidence import Change, RunEvidence, measure_change
from iqa_audit.analysis.evidence import sources as evidence_sources
from iqa_audit.analysis.gaps import REFERENCE_STEP
from iqa_audit.chains.chain import Chain
from iqa_audit.chains.service import step_image
from iqa_audit.core.keys import code_digest
from iqa_audit.store.memo import memo_key, memoised
from iqa_audit.store.store import StepRecord, Store


class StepChanges:
    """How stored steps differ, memoised in `store` (see the module doc)."""

    def __init__(self, store: Store):
        self.store = store

    def change(self, reference: StepRecord, later: StepRecord) -> Change:
        """evidence.measure_change of two stored steps. Change: psnr_db in dB (None for
        identical pixels), ssim in [-1, 1], the alignment used; identical bytes give
        Change(None, 1.0, 'identity') without decoding. Raises CorruptObject or BadImageError
        for an image that cannot be read."""
        if reference.image_hash == later.image_hash:
            return Change(None, 1.0, "identity")  # the same bytes: nothing to decode
        return memoised(
            self.store,
            "evidence",
            memo_key("evidence", reference.image_hash, later.image_hash, code_digest(*evidence_sources())),
            lambda: measure_change(step_image(self.store, reference), step_image(self.store, later)),
            dump=Change.to_dict,
            load=Change.from_dict,
        )

    def evidence(self, chains: Sequence[Chain], runs: Iterable[int], delta_step: int) -> tuple[RunEvidence, ...]:
        """Per run in `runs` (in that order): how step `delta_step` of its chain differs from
        step 1. Each of those runs must have both steps stored (a Gap's paired runs do).
        Raises as `change` does."""
        by_run = {c.record.run: c for c in chains}
        out = []
        for run in runs:
            ok = {s.step: s for s in by_run[run].ok_steps}
            out.append(RunEvidence(run, REFERENCE_STEP, delta_step, self.change(ok[REFERENCE_STEP], ok[delta_step])))
        return tuple(out)
