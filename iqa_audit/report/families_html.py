"""The report's "Which metric each setting fools" section, and the seeds' clean scores.

Per (chain setting, metric): on how many seeds the metric was fooled (some conclusive Δ gap
not negative: the study's rule), noticed (every conclusive gap negative) or had nothing
visible to judge, read off the gap records. Beside each setting, the study's editor family
it stands for (editors/families.py). Below, each seed's clean score (step 0) per metric
next to the range the study's clean seeds scored, where the study reports one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from iqa_audit.editors.families import BY_EDITOR
from iqa_audit.report.markup import e
from iqa_audit.report.model import fmt
from iqa_audit.results.records import GapRecord, Record

# The study's clean seeds, BRISQUE (Banana100, Section 4): -3.18 to 41.1. No other metric's
# clean range is reported there.
STUDY_CLEAN_RANGE: Mapping[str, tuple[float, float]] = {"brisque": (-3.18, 41.1)}


def seed_outcomes(cells: Sequence[Record]) -> dict[tuple[str, str], dict[str, str]]:
    """{(setting, metric id): {seed: 'fooled' | 'noticed' | 'inconclusive'}} from the gap records."""
    by: dict[tuple[str, str, str], list[str]] = {}
    for r in cells:
        if isinstance(r, GapRecord) and r.error is None:
            by.setdefault((r.setting, r.metric_id, r.seed), []).append(r.shown_verdict)
    out: dict[tuple[str, str], dict[str, str]] = {}
    for (setting, mid, seed), verdicts in by.items():
        conclusive = [v for v in verdicts if v != "inconclusive"]
        outcome = "inconclusive" if not conclusive else "noticed" if all(v == "pass" for v in conclusive) else "fooled"
        out.setdefault((setting, mid), {})[seed] = outcome
    return out


def _family(editor: str | None) -> str:
    """The family an editor spec stands for ('' for none): by its editor id, whatever its parameters."""
    family = BY_EDITOR.get((editor or "").partition(":")[0])
    return family.model if family else ""


def fooled_section(cells: Sequence[Record]) -> str:
    outcomes = seed_outcomes(cells)
    head = (
        '<section id="families"><h2>Which metric each setting fools</h2><p class="note">Seeds on which the metric was '
        "<b>fooled</b> (some conclusive Δ gap not negative) / all seeds with a conclusive gap; in brackets the seeds "
        "with nothing visible to judge. The study found BRISQUE and PIQE fooled by Nano Banana's output and noticing "
        "white noise and Qwen-Image-Edit's; each model-like setting is held to that in iqa_audit/suite/metrics/test_model_like.py (test_family).</p>"
    )
    if not outcomes:
        errored = sum(1 for r in cells if isinstance(r, GapRecord))
        why = (
            f"All {errored} gap cells are errors: no seed has a verdict to count."
            if errored
            else "No gap cells in this results.json."
        )
        return head + f"<p>{e(why)}</p></section>"
    editors = {r.setting: r.editor for r in cells if isinstance(r, GapRecord)}
    settings = sorted({s for s, _ in outcomes})
    metrics = sorted({m for _, m in outcomes})
    rows = []
    for s in settings:
        tds = []
        for m in metrics:
            seeds = outcomes.get((s, m))
            if not seeds:
                tds.append('<td class="na">—</td>')
                continue
            values = list(seeds.values())
            fooled, conclusive = values.count("fooled"), len(values) - values.count("inconclusive")
            cls = "fail" if conclusive and fooled * 2 > conclusive else "pass" if conclusive else "na"
            unsure = values.count("inconclusive")
            tds.append(f'<td class="{cls}">{fooled}/{conclusive}' + (f" <small>({unsure})</small>" if unsure else "") + "</td>")
        rows.append(f'<tr><th class="nowrap">{e(s)}</th><td>{e(_family(editors.get(s)))}</td>{"".join(tds)}</tr>')
    cols = "".join(f"<th>{e(m)}</th>" for m in metrics)
    table = (
        f'<div class="scroll"><table class="compact"><thead><tr><th>setting</th><th>stands for</th>{cols}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    return head + table + clean_scores(cells) + "</section>"


def clean_scores(cells: Sequence[Record]) -> str:
    """Each seed's clean (step 0) raw score per metric, beside the study's clean range."""
    scores: dict[str, dict[str, float]] = {}
    for r in cells:
        if isinstance(r, GapRecord) and r.error is None:
            for by_step in r.raw.values():
                if "0" in by_step:
                    scores.setdefault(r.metric_id, {}).setdefault(r.seed, float(by_step["0"]))
    if not scores:
        return ""
    metrics = sorted(scores)
    seeds = sorted({s for m in scores.values() for s in m})

    def td(mid: str, seed: str) -> str:
        value = scores[mid].get(seed)
        if value is None:
            return '<td class="na">—</td>'
        lo_hi = STUDY_CLEAN_RANGE.get(mid)
        out = lo_hi is not None and not lo_hi[0] <= value <= lo_hi[1]
        return f'<td class="{"known" if out else ""}">{e(fmt(value, 3))}</td>'

    body = "".join(f"<tr><th>{e(s)}</th>{''.join(td(m, s) for m in metrics)}</tr>" for s in seeds)
    ranges = "".join(
        f"<td>{e(fmt(STUDY_CLEAN_RANGE[m][0], 3))} – {e(fmt(STUDY_CLEAN_RANGE[m][1], 3))}</td>"
        if m in STUDY_CLEAN_RANGE
        else '<td class="na">—</td>'
        for m in metrics
    )
    cols = "".join(f"<th>{e(m)}</th>" for m in metrics)
    return (
        '<h3>Clean seeds</h3><p class="note">Each seed\'s raw score at step 0, before any edit; highlighted where it '
        "lies outside the range the study's clean seeds scored.</p>"
        f'<div class="scroll"><table class="compact"><thead><tr><th>seed</th>{cols}</tr></thead><tbody>'
        f'<tr><th class="dim">the study\'s clean seeds</th>{ranges}</tr>{body}</tbody></table></div>'
    )
