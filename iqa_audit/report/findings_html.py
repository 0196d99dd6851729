"""Report sections for the study's other findings: metric stability under content change
(a Figure-7-like figure per add task and seed, with its spread table), the metrics'
detection delays beside the editors' self-evaluation delays, and the note naming the
chain settings left out of the metric verdicts (reconstruction).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from iqa_audit.report import figures
from iqa_audit.report.markup import e, plot_html
from iqa_audit.report.model import cell_anchor, fmt
from iqa_audit.report.sentences import describe_delay
from iqa_audit.report.stability_model import stability_figures
from iqa_audit.results.records import Record


# ----- stability under content change -----------------------------------------------------
def stability_section(cells: Sequence[Record]) -> str:
    sfs = stability_figures(cells)
    if not sfs:
        return '<section id="stability"><h2>Stability under content change</h2><p>No stability cells in this run.</p></section>'
    parts = [
        '<section id="stability"><h2>Stability under content change</h2>',
        (
            '<p class="note">On an add-objects chain the picture changes on purpose every step. A metric that measures '
            "quality should move there about as much as on the replicate chain of the same editor and seed. Spread: "
            "1.4826 × the median |step-to-step difference| of the normalised score from step 1 on, over runs; a case "
            "fails when the add chain's spread exceeds the bound times the replicate chain's (the study's Figure 7: a "
            "metric whose score jumps when fruits are added).</p>"
        ),
    ]
    for sf in sfs:
        plot = figures.stability(sf)
        parts.append(f"<h3>{e(sf.task)} on {e(sf.seed)} <small>{e(sf.add_setting)} vs {e(sf.replicate_setting)}</small></h3>")
        parts.append(plot_html(plot, f"stability: normalised score vs step, {sf.add_setting} and {sf.replicate_setting}"))
        rows = "".join(
            f'<tr class="{"pass" if p.passed else "error" if p.error_type else "fail"}">'
            f'<td><a href="#{cell_anchor(p.cell)}">{e(p.metric_id)}</a></td>'
            f"<td>{e(fmt(p.add_spread, 3))}</td><td>{e(fmt(p.replicate_spread, 3))}</td>"
            + (
                f'<td class="inconclusive">{e(p.verdict)}</td></tr>'
                if p.error_type
                else f'<td class="{"pass" if p.passed else "known" if p.outcome == "xfailed" else "fail"}">'
                f"{e(fmt(p.ratio, 3))}</td></tr>"
            )
            for p in sf.panels
        )
        parts.append(
            '<table class="compact"><thead><tr><th>metric</th><th>add spread</th><th>replicate spread</th>'
            f"<th>ratio (bound {e(fmt(sf.bound, 3))})</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    parts.append("</section>")
    return "\n".join(parts)


# ----- detection delay -----------------------------------------------------------------------
def delay_section(results: Mapping[str, Any]) -> str:
    delays = results.get("detection_delays") or {}
    metrics, editors = delays.get("metrics") or [], delays.get("editors") or []
    head = (
        '<section id="delays"><h2>Detection delay</h2><p class="note">When each noticed the damage, in steps, '
        "mean ± sd over the runs that did. Metrics: the first step from which the normalised score stays below its "
        "step-1 value at every later scored step (read at the scored steps listed). Editors: the first step whose "
        "reasoning says the input is noisy (the study's self-evaluation delay: 20 ± 4 to 37 ± 8 steps). "
        "In brackets: runs that noticed / runs.</p>"
    )
    if not metrics and not editors:
        return head + "<p>No detection delays in this results.json.</p></section>"
    seeds = sorted({d["seed"] for d in metrics} | {d["seed"] for d in editors})

    def table(title: str, rows: dict[str, dict[str, Mapping[str, Any]]], note: str) -> str:
        if not rows:
            return f"<h3>{e(title)}</h3><p>{e(note)}</p>"
        body = "".join(
            f'<tr><th class="nowrap">{e(name)}</th>'
            + "".join(f"<td>{e(describe_delay(by_seed.get(s)))}</td>" for s in seeds)
            + "</tr>"
            for name, by_seed in sorted(rows.items())
        )
        cols = "".join(f"<th>{e(s)}</th>" for s in seeds)
        return (
            f'<h3>{e(title)}</h3><div class="scroll"><table class="compact delays"><thead><tr><th></th>{cols}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>"
        )

    by_metric: dict[str, dict[str, Mapping[str, Any]]] = {}
    for d in metrics:
        by_metric.setdefault(f"{d['metric_id']} · {d['setting']}", {})[d["seed"]] = d
    by_editor: dict[str, dict[str, Mapping[str, Any]]] = {}
    for d in editors:
        if d.get("available"):
            by_editor.setdefault(str(d["setting"]), {})[d["seed"]] = d
    resolution = sorted({int(k) for d in metrics for k in d.get("resolution") or []})
    res_note = (
        (
            f'<p class="note">Metric delays read at steps {", ".join(map(str, resolution))}'
            + (
                " (every step)."
                if resolution == list(range(resolution[0], resolution[-1] + 1))
                else f": a delay of {resolution[0]} means by step {resolution[0]}; set every_step = true in "
                "[tool.iqa_audit] to score every step."
            )
            + "</p>"
        )
        if resolution
        else ""
    )
    return (
        head
        + table("Metrics (detection delay)", by_metric, "No metric cells in this run.")
        + res_note
        + table(
            "Editors (self-evaluation delay)",
            by_editor,
            "No editor in this run returns reasoning (the simulators and codecs do not).",
        )
        + "</section>"
    )


def excluded_note(excluded: Sequence[Mapping[str, Any]]) -> str:
    if not excluded:
        return ""
    names = ", ".join(f"<code>{e(x.get('setting'))}</code>" for x in excluded)
    return (
        f'<p class="note">Not judged: {names}. {e(excluded[0].get("why", ""))}. Their chains are stored like any '
        "other (generate_fixtures.py build).</p>"
    )
