"""Sanity cases: a metric's sanity check on the clean seeds, as a SanityRecord.

For one `SanityCase` (metric, check): the check's entry in `analysis.sanity.SANITY_CHECKS`
run on the loaded metric with the audit's clean seeds (images it scores through the
cache are stored with their scores), memoised per metric version in the store: a metric
whose weights and code are unchanged behaves as it did, so a warm run loads nothing.
"""

from __future__ import annotations

import sys
from types import ModuleType

import numpy as np

from iqa_audit import seeds
from iqa_audit.analysis import sanity
from iqa_audit.analysis.sanity import SANITY_CHECKS, SanityInput
from iqa_audit.audit.cells import SanityCase
from iqa_audit.chains.plan import audit_seeds
from iqa_audit.config.audit_config import AuditConfig
from iqa_audit.core.images import Image
from iqa_audit.core.keys import code_digest
from iqa_audit.core.tracebacks import ErrorFields
from iqa_audit.results.records import SanityRecord
from iqa_audit.scoring.cached import Scorer
from iqa_audit.store.memo import memo_key, memoised


def sanity_sources() -> tuple[ModuleType, ...]:
    """The modules whose source keys every 'sanity' memo: this one, sanity and seeds."""

    return (sys.modules[__name__], sanity, seeds)


class SanityCells:
    """Sanity cases of one process: their results and records."""

    def __init__(self, cfg: AuditConfig, scorer: Scorer):
        self.cfg = cfg
        self.scorer = scorer

    def result(self, case: SanityCase) -> tuple[bool, str, bool]:
        """(passed, message, warning_only) of check case.check on case.metric; warning_only:
        a failure only warns (the check's entry). Memo key: metric id and version, check,
        audit seed names, cfg.long_side and the source of sanity_sources(). Raises
        MetricUnavailable, and what scoring raises."""
        identity = self.scorer.identity(case.metric)
        key = memo_key(
            "sanity",
            identity.id,
            identity.version,
            case.check,
            [s.name for s in audit_seeds(self.cfg)],
            self.cfg.long_side,
            code_digest(*sanity_sources()),
        )
        passed, message, warning_only = memoised(self.scorer.store, "sanity", key, lambda: self._run(case), dump=list, load=tuple)
        return bool(passed), str(message), bool(warning_only)

    def _run(self, case: SanityCase) -> tuple[bool, str, bool]:
        check = SANITY_CHECKS[case.check]
        metric = self.scorer.metric(case.metric)

        def through_cache(images: list[Image]) -> np.ndarray:
            objects = [self.scorer.store.put_image(img) for img in images]
            got = self.scorer.scores(metric, objects)  # NaN/±inf stay out of the store; they land outside the range
            return np.asarray([got.finite.get(h, got.nonfinite.get(h)) for h, _ in objects], dtype=float)

        names = tuple(sd.name for sd in audit_seeds(self.cfg))
        passed, message = check.run(SanityInput(metric, self.clean_seed_images, through_cache, names))
        return bool(passed), message, check.warning_only

    def clean_seed_images(self, count: int | None = None) -> list[Image]:
        """The audit's clean seeds (plan.audit_seeds, by name) rendered at cfg.long_side px
        (None: native size): the first `count`, or all for None or 0. Raises ConfigError for
        an unknown seed."""
        seeds = audit_seeds(self.cfg)[:count] if count else audit_seeds(self.cfg)
        return [s.render(self.cfg.long_side) for s in seeds]

    def record(self, case: SanityCase, result: tuple[bool, str, bool]) -> SanityRecord:
        """The case's record, from its result (`result(case)`): passed also for a
        warning-only check that failed, with the warning."""
        passed, message, warning_only = result
        return SanityRecord(
            cell=case.key,
            metric=case.metric,
            metric_id=case.metric_id,
            check=case.check,
            passed=bool(passed or warning_only),
            message=message,
            warning=message if warning_only and not passed else None,
        )

    def error_record(self, case: SanityCase, error: ErrorFields) -> SanityRecord:
        """The record of a case that reached no result: `passed` false and the error's fields."""
        return SanityRecord(
            cell=case.key,
            metric=case.metric,
            metric_id=case.metric_id,
            check=case.check,
            passed=False,
            **error.as_record_fields(),
        )
