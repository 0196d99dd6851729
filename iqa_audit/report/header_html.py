"""The report's header: what was audited and how it came out. The pytest outcome badges,
the metric and editor audit counts, the run's facts (profile, runs × steps, Δs, image
size, machine), and the requested metrics (audited with version and range, unavailable
with why, or not run), editors and seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from iqa_audit.report.cards_html import cards_html
from iqa_audit.report.markup import e
from iqa_audit.report.model import editor_records, fmt, gap_records, metric_anchor, outcome_counts
from iqa_audit.results.records import GATED, Record

OUTCOME_ORDER = ("passed", "failed", "xfailed", "xpassed", "skipped", "error")


def _badges(counts: Mapping[str, int]) -> str:
    keys = [k for k in OUTCOME_ORDER if counts.get(k)] + sorted(k for k in counts if k not in OUTCOME_ORDER)
    return (
        " ".join(f'<span class="badge {e(k)}">{e(counts[k])} {e(k)}</span>' for k in keys)
        or '<span class="badge">no tests</span>'
    )


def page_header(results: Mapping[str, Any], cells: Sequence[Record]) -> str:
    """The page's <header>. `results`: results.json's parts besides its cells
    (RunResults.summary); `cells`: its records. The pytest counts are results.json's run.outcomes, or counted
    from the cells where it has none."""
    run = results.get("run", {}) or {}
    cfg = run.get("config", {}) or {}
    counts = run.get("outcomes") or outcome_counts(cells)
    gaps, eds = gap_records(cells), editor_records(cells)
    verdicts = [g.shown_verdict for g in gaps]
    noticed, missed, unsure, errors = (verdicts.count(v) for v in ("pass", "fail", "inconclusive", "error"))
    ed_ok = sum(1 for c in eds if c.passed)
    mach = run.get("machine", {}) or {}
    machine = ", ".join(f"{k} {v}" for k, v in mach.items() if v not in (None, ""))
    seeds = sorted({c.seed for c in cells if isinstance(c, GATED)})
    deltas = sorted({g.delta_step for g in gaps}) or cfg.get("delta_steps") or []
    facts = [
        ("profile", run.get("profile")),
        ("started", run.get("started")),
        ("duration", f"{fmt(run.get('duration_s'), 3)} s" if run.get("duration_s") is not None else None),
        ("runs × steps", _shape(cfg, metric_audit=bool(gaps) or not eds, editor_audit=bool(eds))),
        ("Δ steps", ", ".join(map(str, deltas)) + " (reference: step 1)" if deltas else None),
        ("image size", f"long side {cfg.get('long_side')} px" if cfg.get("long_side") else "native" if cfg else None),
        ("baseline", cfg.get("baseline")),
        ("machine", machine or None),
    ]
    fact_html = "".join(f"<div><dt>{e(k)}</dt><dd>{e(v)}</dd></div>" for k, v in facts if v not in (None, ""))

    metrics = results.get("metrics", {}) or {}
    mrows = (
        "".join(_metric_row(mid, m) for mid, m in sorted(metrics.items()))
        or '<tr><td colspan="6">no metric was requested</td></tr>'
    )
    editors = _editor_versions(results.get("editors", {}) or {}, sorted({g.setting for g in gaps}))
    seed_list = " ".join(f'<span class="chip">{e(s)}</span>' for s in seeds) or "none"
    interrupted = (
        f'<p class="interrupted"><b>INTERRUPTED</b>: this run was stopped before it finished; the page covers the '
        f"{len(cells)} cases that did, of {e(run.get('collected') or '?')} collected. Its counts are not the audit's.</p>"
        if run.get("interrupted")
        else f'<p class="interrupted"><b>STOPPED EARLY</b> ({e(run["stopped"])}): the page covers the {len(cells)} '
        f"cases that ran, of {e(run.get('collected') or '?')} collected.</p>"
        if run.get("stopped")
        else ""
    )
    # A run of one audit alone (--metrics-only / --editors-only) counts only that audit.
    metric_counts = (
        f'\n<span class="sep">·</span> metric audit, {len(gaps)} gaps: <b>{noticed}</b> noticed, <b>{missed}</b> missed,\n'
        f'<b>{unsure}</b> inconclusive <small class="dim">(no visible change to notice)</small>'
        + (f", <b>{errors}</b> errors" if errors else "")
        if gaps or not eds
        else ""
    )
    editor_counts = f'\n<span class="sep">·</span> editor audit: <b>{ed_ok}</b>/{len(eds)} checks kept' if eds or not gaps else ""
    return f"""<header>
<h1>iqa-audit report <span class="run">{e(run.get("name", ""))}</span></h1>
{interrupted}
<p class="lede">Does each no-reference quality metric notice that an image editor, fed its own output again and again,
degrades the picture? A gap is the mean normalised score at step Δ minus at step 1; below 0 means the metric noticed.</p>
<div class="outcomes"><span class="dim">pytest:</span> {_badges(counts)}{metric_counts}{editor_counts}</div>
{cards_html(results.get("cards") or {})}
<dl class="facts">{fact_html}</dl>
<div class="audited">
<div><h3>Metrics requested</h3><table class="compact"><thead><tr><th>id</th><th>name</th><th>status</th><th>version</th>
<th>typical range → [0, 100]</th><th>range from</th></tr></thead><tbody>{mrows}</tbody></table>{_weights_html(results.get("weights") or {})}</div>
<div><h3>Editors</h3><p>{editors}</p><h3>Seeds ({len(seeds)})</h3><p>{seed_list}</p></div>
</div>
</header>"""


def _weights_html(weights: Mapping[str, Any]) -> str:
    """Where each metric's weight files came from (results.json's `weights`)."""
    if not weights:
        return ""
    items = "".join(
        f"<li><b>{e(mid)}</b>: {e(w.get('source'))} <small class='dim'>{e(w.get('file'))}</small></li>"
        for mid, files in sorted(weights.items())
        for w in files
    )
    return f'<h3>Weights</h3><ul class="weights">{items}</ul>'


METRIC_STATUS_CLASS = {"audited": "pass", "error": "fail", "unavailable": "fail", "not run": "na"}


def _metric_row(mid: str, m: Mapping[str, Any]) -> str:
    """One requested metric: audited (with version and range), error (every cell of it
    ended in an error: the first), unavailable (why, and the fix), or not run (no cell of it ran)."""
    status = str(m.get("status") or "audited")
    cls = METRIC_STATUS_CLASS.get(status, "")
    name = f'<a href="#{metric_anchor(mid)}">{e(mid)}</a>' if status == "audited" else e(mid)
    if status != "audited":
        why = m.get("why") or (
            "no cell of this metric ran (deselected, or none in this configuration)" if status == "not run" else ""
        )
        return (
            f'<tr><td class="nowrap">{name}</td><td>{e(m.get("name"))}</td><td class="{cls}">{e(status)}</td>'
            f'<td colspan="3">{e(why)}</td></tr>'
        )
    return (
        f'<tr><td class="nowrap">{name}</td><td>{e(m.get("name"))}</td><td class="{cls}">{e(status)}</td>'
        f"<td><code>{e(m.get('version'))}</code></td><td>{_range_text(m.get('range'))}</td>"
        f"<td>{e((m.get('range') or {}).get('source'))}</td></tr>"
    )


def _range_text(rng: Mapping[str, Any] | None) -> str:
    if not rng:
        return "—"
    arrow = "higher is better" if rng.get("higher_better") else "lower is better (flipped)"
    return f"{e(fmt(rng.get('lo'), 4))} – {e(fmt(rng.get('hi'), 4))}, {e(arrow)}"


def _shape(cfg: Mapping[str, Any], *, metric_audit: bool, editor_audit: bool) -> str | None:
    """Runs × steps of the audits this run holds (a one-audit run shows that audit's only)."""
    if not cfg:
        return None
    metric = f"{cfg.get('runs', '?')} × {cfg.get('steps', '?')}"
    editor = f"{cfg.get('audit_runs', '?')} × {cfg.get('audit_steps', '?')}"
    if metric_audit and editor_audit:
        return f"{metric} (editor audit {editor})"
    return metric if metric_audit else f"{editor} (editor audit)"


def _editor_versions(editors: Mapping[str, Mapping[str, Any]], chains: Sequence[str] = ()) -> str:
    """One chip per editor of the editor audit (with version), the tasks it ran in the chip's
    tooltip; without an editor audit, the chain settings the metric audit scored."""
    by_editor: dict[tuple[str, str], list[str]] = {}
    for setting, info in sorted(editors.items()):
        key = (str(info.get("editor") or setting), str(info.get("version") or "?"))
        by_editor.setdefault(key, []).append(str(info.get("task") or ""))
    if not by_editor:
        scored = "".join(f' <span class="chip">{e(c)}</span>' for c in chains)
        return "no editor audit in this run" + (f"; the metric audit's chains:{scored}" if chains else "")
    return " ".join(
        f'<span class="chip" title="tasks: {e(", ".join(t for t in tasks if t))}">{e(name)} <small>v{e(ver)}</small></span>'
        for (name, ver), tasks in sorted(by_editor.items())
    )
