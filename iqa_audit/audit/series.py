"""A metric's scores of a cell's chains as a `gaps.Series`, once per process.

Gap cells and stability cells read a metric along chains: every wanted step of every run
scored as one batch through the score cache (`scoring.cached.Scorer`), normalised to
points on 0–100 with the metric's typical range (`metrics.normalise`, unclamped). The
series of (metric, setting, seed) is memoised per process under the cell kind's key, so
the three Δ cells of one series cost one computation.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

from iqa_audit.analysis.gaps import Series
from iqa_audit.chains.chain import Chain
from iqa_audit.metrics.normalise import normalise
from iqa_audit.scoring.batch import nonfinite_line
from iqa_audit.scoring.cached import Scorer


class SeriesCache:
    """Series scored through `scorer`, memoised per process by the caller's key."""

    def __init__(self, scorer: Scorer):
        self.scorer = scorer
        self._series: dict[Hashable, Series] = {}

    def series(
        self, key: Hashable, metric: str, setting: str, seed: str, chains: Sequence[Chain], steps: Iterable[int]
    ) -> Series:
        """`metric`'s Series of the `steps` of `chains` (runs of `setting` from `seed`),
        computed once per `key`.

        raw ({run: {step: score}}) in the metric's units, normalised in points on 0–100; a
        step whose score is NaN/±inf is absent from both and named in `unusable` (only the
        cells that need it error). Raises as Scorer.scores does."""
        if key not in self._series:
            self._series[key] = self._score(metric, setting, seed, chains, set(steps))
        return self._series[key]

    def _score(self, metric: str, setting: str, seed: str, chains: Sequence[Chain], wanted: set[int]) -> Series:
        per_run = {c.record.run: {s.step: s for s in c.ok_steps if s.step in wanted} for c in chains}
        got = self.scorer.scores(metric, [(s.image_hash, s.ext) for steps in per_run.values() for s in steps.values()])
        identity = self.scorer.identity(metric)
        raw = {
            run: {k: got.finite[s.image_hash] for k, s in steps.items() if s.image_hash in got.finite}
            for run, steps in per_run.items()
        }
        norm = {run: {k: float(normalise(v, identity.range)) for k, v in steps.items()} for run, steps in raw.items()}
        unusable = {
            run: {
                k: nonfinite_line(self.scorer.store, metric, s.image_hash, got.nonfinite[s.image_hash], ext=s.ext)
                for k, s in steps.items()
                if s.image_hash in got.nonfinite
            }
            for run, steps in per_run.items()
        }
        return Series(
            identity.id,
            identity.version,
            setting,
            seed,
            tuple(sorted(raw)),
            tuple(sorted(wanted)),
            raw,
            norm,
            {r: u for r, u in unusable.items() if u},
        )


def metric_version(scorer: Scorer, name: str) -> str:
    """The metric's version for an error record, "" when the metric cannot say (the error
    being described may be its own)."""
    try:
        return scorer.identity(name).version
    except Exception:  # a description must not fail the error it describes
        return ""
