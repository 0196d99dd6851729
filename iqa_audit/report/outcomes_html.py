"""The page's last sections: one row per test outcome (regressions and failures first),
which every heatmap cell and table cell links to, and the run's configuration and machine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from iqa_audit.report.markup import e, status_class
from iqa_audit.report.model import cell_anchor, chain_anchor, fmt, metric_anchor, ordered_outcomes, outcome_rank
from iqa_audit.report.sentences import explain_gap
from iqa_audit.results.records import EditorRecord, GapRecord, Record, SanityRecord, StabilityRecord


def error_text(rec: Record) -> str:
    """A cell that could not reach a verdict: its error's message, type, the frame that
    raised and, for a chain an editor was building, the chain and step; then what it was
    about (metric or editor, and version)."""
    facts = [f"<code>{e(rec.error_type or 'error')}</code>"]
    if rec.error_where:
        facts.append(f"raised at <code>{e(rec.error_where)}</code>")
    if rec.error_chain:
        facts.append(f"building chain <code>{e(rec.error_chain)}</code>, step {e(rec.error_step)}")
    about = getattr(rec, "metric", None) or getattr(rec, "editor", None)
    kind = "metric" if getattr(rec, "metric", None) else "editor"
    version = getattr(rec, "version", "")
    if about:
        facts.append(f"{kind} <code>{e(about)}</code>" + (f" version <code>{e(version)}</code>" if version else ""))
    return f'<pre class="error">{e(rec.error)}</pre><small>{" · ".join(facts)}</small>'


def _links(rec: Record) -> str:
    if isinstance(rec, (GapRecord, EditorRecord)):
        return f'<a href="#{chain_anchor(rec.setting, rec.seed)}">images</a>'
    if isinstance(rec, StabilityRecord):
        return '<a href="#stability">figure</a>'
    return ""


def outcomes_section(cells: Sequence[Record]) -> str:
    """The "Test outcomes" table in model.ordered_outcomes order; each row's id is its
    cell's anchor (model.cell_anchor), and it links back to the curve, images or editor row."""
    rows = []
    for rec in ordered_outcomes(cells):
        cell = rec.cell
        if rec.error is not None:  # no verdict: what raised, where, and for a chain the step
            what = error_text(rec)
            links = _links(rec)
        elif isinstance(rec, GapRecord):
            what = (
                f"{e(explain_gap(rec))}<br><small>metric <code>{e(rec.metric)}</code> "
                f"version <code>{e(rec.version)}</code></small>"
            )
            links = (
                f'<a href="#{metric_anchor(rec.metric_id)}">curve</a> · '
                f'<a href="#{chain_anchor(rec.setting, rec.seed)}">images</a>'
            )
        elif isinstance(rec, SanityRecord):
            what = (
                f"{e(rec.check)}: {e(rec.message)}<br><small>metric <code>{e(rec.metric)}</code>"
                f"{' · a warning, not a failure' if rec.warning else ''}</small>"
            )
            links = f'<a href="#{metric_anchor(rec.metric_id)}">curve</a>'
        elif isinstance(rec, StabilityRecord):
            what = (
                f"{e(rec.message)}<br><small>metric <code>{e(rec.metric)}</code> version "
                f"<code>{e(rec.version)}</code>, chains by <code>{e(rec.editor)}</code></small>"
            )
            links = '<a href="#stability">figure</a>'
        elif isinstance(rec, EditorRecord):
            what = (
                f"{e(rec.message)}<br><small>value {e(fmt(rec.value, 4))}, tolerance "
                f"{e(fmt(rec.tolerance, 4))}; editor <code>{e(rec.editor)}</code> version "
                f"<code>{e(rec.version)}</code></small>"
            )
            links = f'<a href="#{chain_anchor(rec.setting, rec.seed)}">editor row</a>'
        else:  # a metric-status record (results.json keeps these in `metrics`, not `cells`)
            what, links = f"metric <code>{e(rec.metric)}</code> {e(rec.status)}: {e(rec.why)}", ""
        outcome = rec.outcome or "?"
        warned = isinstance(rec, SanityRecord) and rec.warning and outcome == "passed"
        label = "regression" if outcome_rank(rec) == 0 else "warning" if warned else outcome
        rows.append(
            f'<tr id="{cell_anchor(cell)}" class="{status_class(rec)}"><td><code>{e(cell)}</code><br><small>{links}</small></td>'
            f'<td><span class="badge {e(label)}">{e(label)}</span></td><td><code>{e(rec.nodeid)}</code></td>'
            f"<td>{what}</td></tr>"
        )
    if not rows:
        return '<section id="outcomes"><h2>Test outcomes</h2><p>No tests recorded a cell.</p></section>'
    return f"""<section id="outcomes"><h2>Test outcomes</h2>
<p class="note">One row per test, regressions and failures first, then known failures, skips, warnings and passes.
Heatmap cells and table cells link here.</p>
<table class="outcomes"><thead><tr><th>cell</th><th>outcome</th><th>test</th><th>finding</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table></section>"""


def details_section(results: Mapping[str, Any]) -> str:
    """The store path, and results.json's run.config and run.machine as JSON, folded."""
    run = results.get("run", {}) or {}
    cfg = json.dumps(run.get("config", {}), indent=1, sort_keys=True, default=str)
    mach = json.dumps(run.get("machine", {}), indent=1, sort_keys=True, default=str)
    return f"""<section id="audited"><h2>Run details</h2>
<p>Store: <code>{e(run.get("store"))}</code></p>
<details><summary>Configuration</summary><pre>{e(cfg)}</pre></details>
<details><summary>Machine</summary><pre>{e(mach)}</pre></details></section>"""
