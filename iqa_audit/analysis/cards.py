"""Robustness cards: one line per metric (and per editor: editor_cards.py) that answers "is it robust?".

A metric's headline is the study's rule summarised: of the conclusive (model-like
setting, seed) pairs, the share where the metric noticed the damage at every conclusive
Δ (every judged gap < 0; editors.families says which settings stand for model output —
the white-noise control and the classic codecs do not). The share carries its 95 %
Wilson score interval (Wilson 1927), the interval statsmodels' proportion_confint and
scipy's binomtest(...).proportion_ci(method="wilson") give; it is computed here in
closed form because importing scipy.stats costs ~1.4 s, more than a warm run
(tests/analysis/test_cards.py checks it against scipy's).

A card is comparable with another only when both were made on the same chain set:
`fingerprint` digests the chain-set shape (seeds, editors with their parameters, tasks,
steps, runs, size, Δ steps), which the card keeps (`shape`) so that `shape_differences`
can say what differs. Everything here is pure: cards are made from plain values by
results/cards.py and stored by the store's `cards` table.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from iqa_audit.core.keys import digest

Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile: a two-sided 95 % interval
# The study's trained metrics that it found fooled by model output: shown as reference rows.
REFERENCE_METRICS = ("brisque", "piqe")


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of k successes in n trials (95 % by default); (0, 1) for n = 0."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def fingerprint(shape: Mapping[str, Any]) -> str:
    """A short digest (16 hex) of a chain-set shape: equal exactly when the shapes are."""
    return digest(dict(shape))[:16]


def shape_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """'steps: 20 then 6' for each part of two chain-set shapes that differs."""
    return [f"{k}: {old.get(k)!r} then {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


@dataclass(frozen=True)
class PairOutcome:
    """One (setting, seed) of a metric: how many of its Δ gaps were conclusive and noticed."""

    setting: str
    seed: str
    conclusive: int  # Δ cells with a verdict (pass or fail)
    noticed: int  # ... of which passed (gap < 0)

    @property
    def counts(self) -> bool:
        """Whether the pair enters the headline: at least one conclusive Δ."""
        return self.conclusive > 0

    @property
    def all_noticed(self) -> bool:
        """The study's rule on the conclusive Δs: every one noticed."""
        return self.counts and self.noticed == self.conclusive


@dataclass(frozen=True, kw_only=True)
class Card:
    """What every card has (results.json's `cards`, the store's `cards` table).

    kind: 'metric' | 'editor'; subject: the metric id or editor spec; version: its version;
    score: the headline in [0, 1] (None: nothing conclusive to score), low/high: its 95 %
    Wilson interval; fingerprint/shape: the chain set it was made on; iqa_audit: the suite's
    version; run: the run's name."""

    kind: str
    subject: str
    version: str
    score: float | None
    low: float | None
    high: float | None
    fingerprint: str
    shape: Mapping[str, Any] = field(default_factory=dict)
    iqa_audit: str = ""
    run: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: _plain(v) for k, v in self.__dict__.items()}

    def interval(self) -> str:
        """'0.42 [0.25, 0.61]' (or 'n/a' without a score)."""
        if self.score is None:
            return "n/a"
        return f"{self.score:.2f} [{self.low or 0.0:.2f}, {self.high if self.high is not None else 1.0:.2f}]"


@dataclass(frozen=True, kw_only=True)
class MetricCard(Card):
    """A metric's robustness card. `noticed`/`pairs`: the headline's counts; `per_setting`:
    {setting: [noticed, pairs]}; `median_delay`: median detection delay in steps over the
    runs that dropped (None: none did); `worst_stability`: the largest stability ratio
    (None: no stability cell); `sanity`: 'pass' | 'warn' | 'fail' | 'error' | 'not run';
    `reference`: one of the study's failing metrics (REFERENCE_METRICS); `name`: as requested."""

    kind: str = "metric"
    name: str = ""
    noticed: int = 0
    pairs: int = 0
    per_setting: Mapping[str, Sequence[int]] = field(default_factory=dict)
    median_delay: float | None = None
    worst_stability: float | None = None
    sanity: str = "not run"
    reference: bool = False


def metric_card(
    *,
    subject: str,
    name: str,
    version: str,
    outcomes: Iterable[PairOutcome],
    delays: Iterable[int] = (),
    stability_ratios: Iterable[float] = (),
    sanity: Iterable[tuple[bool, bool, bool]] = (),
    shape: Mapping[str, Any],
    iqa_audit: str = "",
    run: str = "",
) -> MetricCard:
    """The card of one metric from its model-like pairs' outcomes (`outcomes`, see
    PairOutcome), the detection delays of its runs (steps), its stability ratios and its
    sanity checks as (passed, warning, error) triples."""
    pairs = [o for o in outcomes if o.counts]
    noticed = sum(o.all_noticed for o in pairs)
    per_setting: dict[str, list[int]] = {}
    for o in sorted(pairs, key=lambda o: (o.setting, o.seed)):
        entry = per_setting.setdefault(o.setting, [0, 0])
        entry[0] += o.all_noticed
        entry[1] += 1
    low, high = wilson(noticed, len(pairs)) if pairs else (None, None)
    delays, ratios = sorted(delays), [r for r in stability_ratios if math.isfinite(r)]
    return MetricCard(
        subject=subject,
        name=name,
        version=version,
        score=noticed / len(pairs) if pairs else None,
        low=low,
        high=high,
        noticed=noticed,
        pairs=len(pairs),
        per_setting=per_setting,
        median_delay=float(statistics.median(delays)) if delays else None,
        worst_stability=max(ratios) if ratios else None,
        sanity=sanity_status(list(sanity)),
        reference=subject in REFERENCE_METRICS,
        fingerprint=fingerprint(shape),
        shape=dict(shape),
        iqa_audit=iqa_audit,
        run=run,
    )


def sanity_status(checks: Sequence[tuple[bool, bool, bool]]) -> str:
    """'error' (a check could not run), 'fail', 'warn' (a warning-only check failed),
    'pass', or 'not run', from (passed, warning, error) triples."""
    if not checks:
        return "not run"
    if any(e for _, _, e in checks):
        return "error"
    if not all(p for p, _, _ in checks):
        return "fail"
    return "warn" if any(w for _, w, _ in checks) else "pass"


def ranked(cards: Iterable[MetricCard]) -> list[MetricCard]:
    """Most robust first: by score (None last), then the interval's low end, then the id."""
    return sorted(cards, key=lambda c: (c.score is None, -(c.score or 0.0), -(c.low or 0.0), c.subject))


@dataclass(frozen=True)
class Drop:
    """A card whose score fell by more than the allowed drop beyond its interval."""

    old: Card
    new: Card
    allowed: float

    def describe(self) -> str:
        return (
            f"{self.new.kind} {self.new.subject}: score dropped from {self.old.interval()} "
            f"({self.old.version}, run {self.old.run or '?'}) to {self.new.interval()} ({self.new.version}); "
            f"allowed drop {self.allowed:g} beyond the intervals"
        )


def dropped(old: Card, new: Card, allowed: float) -> Drop | None:
    """A Drop when `new`'s score fell by more than `allowed` beyond its interval: even the
    upper end of new's 95 % interval is more than `allowed` below old's score (a fall the
    run's own sampling error cannot explain). None otherwise, and when either has no score
    or the fingerprints differ (the cards are not comparable)."""
    if old.fingerprint != new.fingerprint or old.score is None or new.score is None:
        return None
    new_high = new.high if new.high is not None else new.score
    return Drop(old, new, allowed) if new_high < old.score - allowed else None


@dataclass(frozen=True, kw_only=True)
class EditorCard(Card):
    """An editor's card (made by editor_cards.editor_card). The score is the share of its
    fidelity checks passed (`checks_passed` of `checks`). `first_visible`: {'step1': ...,
    'seed': ...}, the median over its replication chains of the first step whose image
    changed visibly (evidence.py's rule) against step 1 and against the seed (None: no
    chain did within its steps; `chains`: how many chains, `changed`: {ref: chains that
    did}); `decay`: [[step, PSNR vs step 1, SSIM vs step 1, PSNR vs seed, SSIM vs seed]],
    medians over the chains, PSNR capped at editor_cards.PSNR_CAP dB for identical pixels;
    `tasks`: {task: [cells passed, cells]}; `checks_by_name`: {check: [passed, cells]}.
    `errors`: its cells whose code raised (the editor failed to make a step): they are no
    check's outcome, so they are left out of `checks`; a card with only errors has no score."""

    kind: str = "editor"
    checks_passed: int = 0
    checks: int = 0
    errors: int = 0
    first_visible: Mapping[str, float | None] = field(default_factory=dict)
    changed: Mapping[str, int] = field(default_factory=dict)
    chains: int = 0
    decay: Sequence[Sequence[float | None]] = ()
    tasks: Mapping[str, Sequence[int]] = field(default_factory=dict)
    checks_by_name: Mapping[str, Sequence[int]] = field(default_factory=dict)


def card_from_dict(d: Mapping[str, Any]) -> Card:
    """A card read back from results.json or the store (its `kind` picks the class)."""
    cls = {"metric": MetricCard, "editor": EditorCard}.get(str(d.get("kind")))
    if cls is None:
        raise ValueError(f"a card of kind {d.get('kind')!r}: expected 'metric' or 'editor'")
    names = set(cls.__dataclass_fields__)
    return cls(**{k: v for k, v in d.items() if k in names})


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
