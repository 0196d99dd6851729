"""The cards as terminal lines: the summary's ranking tables and `iqa-audit history`'s series."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from iqa_audit.analysis.cards import Card, EditorCard, MetricCard, card_from_dict, shape_differences


def _num(value: float | None, fmt: str = "{:.2f}", none: str = "-") -> str:
    return none if value is None else fmt.format(value)


def metric_table(cards: Sequence[MetricCard]) -> list[str]:
    """The ranked metric cards, a header and one line each (reference rows marked)."""
    if not cards:
        return []
    rows = [("#", "metric", "score [95% CI]", "noticed", "median delay", "worst stability", "sanity")]
    for i, c in enumerate(cards, 1):
        rows.append(
            (
                str(i),
                c.subject + (" (study ref.)" if c.reference else ""),
                c.interval(),
                f"{c.noticed}/{c.pairs}",
                _num(c.median_delay, "{:g} steps"),
                _num(c.worst_stability),
                c.sanity,
            )
        )
    return _aligned(rows)


def editor_table(cards: Sequence[EditorCard]) -> list[str]:
    """The editor cards, a header and one line each."""
    if not cards:
        return []
    rows = [("editor", "checks [95% CI]", "passed", "visible from step (vs 1 / vs seed)", "tasks passed")]
    for c in cards:
        fv = c.first_visible or {}
        visible = (
            f"{_num(fv.get('step1'), '{:g}', 'never')} / {_num(fv.get('seed'), '{:g}', 'never')} ({c.chains} chains)"
            if c.chains
            else "- (no replication chain measured)"  # 'never' would claim the chains stayed unchanged
        )
        tasks = ", ".join(f"{t} {p}/{n}" for t, (p, n) in sorted(c.tasks.items()))
        passed = f"{c.checks_passed}/{c.checks}" + (f", {c.errors} error" if c.errors else "")
        rows.append((c.subject, c.interval() if c.checks or not c.errors else "error", passed, visible, tasks))
    return _aligned(rows)


def comparison_lines(section: Mapping[str, Any], compared: Sequence[str]) -> list[str]:
    """--compare-editor: each audited editor's card against each compared editor's, one line
    per pair: checks passed and first visible change (vs step 1 / vs the seed), then
    'better' / 'worse' / 'no clear difference' by whether the 95 % intervals overlap."""
    editors = {c.subject: c for c in map(card_from_dict, section.get("editors", ()))}
    lines = []
    for old in compared:
        if old not in editors:
            lines.append(f"--compare-editor {old}: no card (none of its editor cells ran)")
            continue
        for new in (c for s, c in sorted(editors.items()) if s not in compared):
            lines.append(
                f"editor {new.subject} vs {old}: checks {new.interval()} vs {editors[old].interval()}, "
                + _visible(new)
                + " vs "
                + _visible(editors[old])
                + f": {_compare(new, editors[old])}"
            )
    return lines


def _visible(card: Card) -> str:
    fv = getattr(card, "first_visible", None) or {}
    if not getattr(card, "chains", 0):
        return "no replication chain measured"
    return f"visible from step {_num(fv.get('step1'), '{:g}', 'never')} / {_num(fv.get('seed'), '{:g}', 'never')}"


def _compare(new: Card, old: Card) -> str:
    if None in (new.score, new.low, new.high, old.score, old.low, old.high):
        errors = [c.subject for c in (new, old) if getattr(c, "errors", 0) and not getattr(c, "checks", 0)]
        return f"no score to compare ({', '.join(errors)}: every cell errored)" if errors else "no score to compare"
    if new.low > old.high:
        return "better"
    if new.high < old.low:
        return "worse"
    return "no clear difference (intervals overlap)"


def _aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]


def section_lines(section: Mapping[str, Any]) -> list[str]:
    """The summary's card lines for a results.json `cards` section: the metric ranking,
    then the editor cards, then each subject's previous score on the same chain set."""
    metrics = [card_from_dict(d) for d in section.get("metrics", ())]
    editors = [card_from_dict(d) for d in section.get("editors", ())]
    lines = []
    if metrics:
        lines.append("metric robustness (share of conclusive model-like (setting, seed) pairs noticed at every Δ):")
        lines += ["  " + x for x in metric_table(metrics)]
    if editors:
        lines.append("editor cards (fidelity checks passed; first visible change by the evidence rule):")
        lines += ["  " + x for x in editor_table(editors)]
    earlier = [(k, s) for k, s in sorted((section.get("history") or {}).items()) if len(s) > 1]
    if earlier:
        lines.append("against the last stored card on the same chain set (score, version):")
    for key, series in earlier:
        if len(series) > 1:
            before, now = card_from_dict(series[-2]), card_from_dict(series[-1])
            lines.append(f"  {key}: {before.interval()} ({before.version}) -> {now.interval()} ({now.version})")
    return lines


def history_lines(rows: Sequence[tuple[float, Card]]) -> list[str]:
    """`iqa-audit history`: per subject, one line per stored card, oldest first; a line
    says where the chain set changed (the scores before it are not comparable)."""
    lines: list[str] = []
    last: dict[str, Card] = {}
    for created, card in rows:
        key = f"{card.kind} {card.subject}"
        if key not in last:
            lines.append(key + ":")
        elif last[key].fingerprint != card.fingerprint:
            lines.append("    chain set changed (not comparable): " + "; ".join(shape_differences(last[key].shape, card.shape)))
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(created))
        lines.append(
            f"  {stamp}  {card.interval():<20} version {card.version}  iqa-audit {card.iqa_audit}"
            f"  chain set {card.fingerprint}  run {card.run}"
        )
        last[key] = card
    return lines
