"""results.json's `cards` section: one robustness card per metric and per editor, with their history.

The cards (analysis/cards.py: MetricCard, EditorCard; their fields are this section's
schema) are made once, by results.writer, from the run's typed cell records:

    "cards": {
      "metrics": [MetricCard, ...],    ranked, most robust first (cards.ranked)
      "editors": [EditorCard, ...],    by editor spec
      "history": {"metric:<id>" | "editor:<spec>": [Card, ...]}
    }

`history` is every stored card with a score of the subject made on the same chain set
(fingerprint), oldest first, as the store held it before this run, then this run's card: what the
report draws as the score over versions. The run's own cards are stored by audit.history
after results.json is written. A metric card counts the model-like settings
(editors.families.model_like), or every setting of an imported dataset (real editors'
output); an editor card measures its replication chains (tasks named replicate*).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from iqa_audit import __version__
from iqa_audit.analysis.cards import Card, MetricCard, PairOutcome, card_from_dict, metric_card, ranked
from iqa_audit.analysis.editor_cards import ChainChanges, editor_card
from iqa_audit.analysis.evidence import Change, measure_change
from iqa_audit.analysis.evidence import sources as evidence_sources
from iqa_audit.core.errors import AuditError
from iqa_audit.core.keys import code_digest
from iqa_audit.editors.families import model_like
from iqa_audit.results.baseline import run_shape
from iqa_audit.results.records import EditorRecord, GapRecord, Record, SanityRecord, StabilityRecord
from iqa_audit.store.memo import memo_key, memoised
from iqa_audit.store.store import Store

# The parts of the run's shape (baseline.run_shape) a metric card's numbers depend on.
METRIC_SHAPE = ("seeds", "editors", "tasks", "steps", "runs", "long_side", "delta_steps", "dataset")


def metric_shape(cfg: Any) -> dict[str, Any]:
    """The metric audit's chain set: seeds, editors with parameters, tasks, steps, runs, size, Δ steps, dataset."""
    shape = run_shape(cfg)
    return {k: shape[k] for k in METRIC_SHAPE}


def editor_shape(cfg: Any) -> dict[str, Any]:
    """The editor audit's chain set (the editor itself is the card's subject): cases, steps, runs, size."""
    return {"cases": sorted(cfg.audit_cases), "steps": cfg.audit_steps, "runs": cfg.audit_runs, "long_side": cfg.long_side}


def metric_cards(cfg: Any, records: Sequence[Record]) -> list[MetricCard]:
    """One card per metric with a gap, stability or sanity cell in `records`, ranked."""
    by_metric: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        if isinstance(r, (GapRecord, StabilityRecord, SanityRecord)):
            by_metric[r.metric_id].append(r)
    shape, cards = metric_shape(cfg), []
    for mid, recs in sorted(by_metric.items()):
        pairs: dict[tuple[str, str], list[int]] = {}
        delays: dict[tuple[str, str], list[int]] = {}
        for r in recs:
            if not isinstance(r, GapRecord) or r.error is not None or not (cfg.dataset or model_like(r.editor)):
                continue
            entry = pairs.setdefault((r.setting, r.seed), [0, 0])
            if r.verdict in ("pass", "fail"):
                entry[0] += 1
                entry[1] += r.verdict == "pass"
            if r.detection_delay:
                delays[(r.setting, r.seed)] = [int(d) for d in r.detection_delay.get("per_run") or () if d is not None]
        versions = [r.version for r in recs if isinstance(r, (GapRecord, StabilityRecord)) and r.version]
        cards.append(
            metric_card(
                subject=mid,
                name=recs[0].metric,
                version=versions[0] if versions else "",
                outcomes=[PairOutcome(s, seed, c, n) for (s, seed), (c, n) in sorted(pairs.items())],
                delays=[d for ds in delays.values() for d in ds],
                stability_ratios=[r.value for r in recs if isinstance(r, StabilityRecord) and r.value is not None],
                sanity=[(r.passed, r.warning is not None, r.error is not None) for r in recs if isinstance(r, SanityRecord)],
                shape=shape,
                iqa_audit=__version__,
                run=cfg.run_name or "",
            )
        )
    return ranked(cards)


def editor_cards(cfg: Any, records: Sequence[Record], store: Store) -> list[Card]:
    """One card per editor spec with an editor cell in `records`; its replication chains'
    images are measured through `store` (memoised: a warm run decodes nothing)."""
    by_editor: dict[str, list[EditorRecord]] = defaultdict(list)
    for r in records:
        if isinstance(r, EditorRecord) and r.editor and r.outcome != "skipped":
            by_editor[r.editor].append(r)
    shape, cards = editor_shape(cfg), []
    for spec, recs in sorted(by_editor.items()):
        chains: dict[tuple[str, str, str], Mapping[str, str]] = {}
        for r in recs:
            if (r.task or "").startswith("replicate"):
                for run, steps in r.images.items():
                    chains.setdefault((r.setting, r.seed, run), steps)
        cards.append(
            editor_card(
                subject=spec,
                version=next((r.version for r in recs if r.version), ""),
                chains=[
                    _chain_changes(store, f"{s}/{seed}/run {run}", steps) for (s, seed, run), steps in sorted(chains.items())
                ],
                checks=[(r.check, r.task or "", bool(r.passed)) for r in recs if r.error is None],
                errors=sum(r.error is not None for r in recs),
                shape=shape,
                iqa_audit=__version__,
                run=cfg.run_name or "",
            )
        )
    return cards


def _chain_changes(store: Store, label: str, steps: Mapping[str, str]) -> ChainChanges:
    """Each step k >= 1 of one chain against step 1 (k >= 2) and against the seed (step 0)."""
    names = {int(k): v for k, v in steps.items()}
    out: dict[int, tuple[Change | None, Change]] = {}
    if 0 not in names:
        return ChainChanges(label, out)
    try:
        for k in sorted(n for n in names if n >= 1):
            vs_step1 = _change(store, names[1], names[k]) if k >= 2 and 1 in names else None
            out[k] = (vs_step1, _change(store, names[0], names[k]))
    except AuditError:  # an image that cannot be read (its cells say so): the card keeps the steps before it
        pass
    return ChainChanges(label, out)


def _change(store: Store, reference: str, later: str) -> Change:
    """evidence.measure_change(full=True) of two stored images named '<sha256>.<ext>', memoised."""
    if reference == later:
        return Change(None, 1.0, "identity")
    (ref_hash, _, ref_ext), (later_hash, _, later_ext) = reference.partition("."), later.partition(".")
    return memoised(
        store,
        "card-change",
        memo_key("card-change", reference, later, code_digest(*evidence_sources())),
        lambda: measure_change(store.get_image(ref_hash, ref_ext), store.get_image(later_hash, later_ext), full=True),
        dump=Change.to_dict,
        load=Change.from_dict,
    )


def history_key(card: Card) -> str:
    """'metric:piqe' / 'editor:codec-jpeg': a subject's key in the section's `history`."""
    return f"{card.kind}:{card.subject}"


def card_section(cfg: Any, records: Sequence[Record], store: Store) -> dict[str, Any]:
    """The `cards` section of results.json (see the module doc)."""
    metrics, editors = metric_cards(cfg, records), editor_cards(cfg, records, store)
    history: dict[str, list[dict[str, Any]]] = {}
    for card in (*metrics, *editors):
        same = [
            c
            for c in store.cards(card.kind, card.subject)
            if c.get("fingerprint") == card.fingerprint and c.get("score") is not None
        ]
        mine = (card.version, card.iqa_audit)
        history[history_key(card)] = [c for c in same if (c.get("version"), c.get("iqa_audit")) != mine] + [card.to_dict()]
    return {"metrics": [c.to_dict() for c in metrics], "editors": [c.to_dict() for c in editors], "history": history}


def read_cards(section: Mapping[str, Any] | None) -> tuple[list[Card], list[Card]]:
    """(metric cards, editor cards) of a results.json `cards` section (none for an older file)."""
    section = section or {}
    return [card_from_dict(d) for d in section.get("metrics", ())], [card_from_dict(d) for d in section.get("editors", ())]
