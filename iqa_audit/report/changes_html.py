"""The report's "changed since" section: what flipped or moved since the compared run
(compare.compare_records), with both sides' verdicts, values and versions.
"""

from __future__ import annotations

from iqa_audit.analysis import band
from iqa_audit.report.compare import Changes
from iqa_audit.report.markup import e
from iqa_audit.report.model import cell_anchor, fmt, fmt_gap
from iqa_audit.results.writer import RunResults


def _verdict(side) -> str:
    return f'<span class="v {e(side.verdict)}">{e(side.verdict)}</span>'


def _versions(ch) -> str:
    if ch.old.version == ch.new.version:
        return f"<code>{e(ch.new.version)}</code>"
    return f'<code>{e(ch.old.version)}</code> → <code>{e(ch.new.version)}</code> <span class="note">version changed</span>'


def _value(kind: str, v: float | None) -> str:
    return fmt_gap(v) if kind == "gap" else fmt(v, 4)


def changes_section(changes: Changes, old: RunResults) -> str:
    """The "changed since" section; `old` is the earlier run's results (for its start time)."""
    head = (
        f"<h2>Changed since {e(changes.old_run)} <small>({e(old.run.get('started', ''))})</small></h2>"
        f'<p class="note">Verdicts that flipped, and values that moved by more than {fmt(changes.gap_tolerance, 3)} '
        f"normalised points or the gap's noise band, whichever is larger (gaps), or "
        f"{fmt(100 * changes.editor_tolerance, 3)} % (editor values). Noise band: {e(band.describe())}. "
        "Versions are the metric's (gap cells) or the editor's (editor cells) on each side.</p>"
    )
    if changes.empty:
        return (
            f'<section id="changes">{head}<p>Nothing changed: same cells, same verdicts, values within tolerance.</p></section>'
        )
    head += (
        f"<p>{changes.compared} cells in both runs: <b>{len(changes.flipped)}</b> flipped, <b>{len(changes.moved)}</b> moved, "
        f"<b>{len(changes.unstable)}</b> unstable, <b>{len(changes.weaker)}</b> weaker; "
        f"{len(changes.only_new)} new, {len(changes.only_old)} gone.</p>"
    )

    def rows(items) -> str:
        return "".join(
            f'<tr><td><a href="#{cell_anchor(c.cell)}">{e(c.label)}</a><br><code class="dim">{e(c.cell)}</code></td>'
            f"<td>{_verdict(c.old)} {_value(c.kind, c.old.value)}</td><td>{_verdict(c.new)} {_value(c.kind, c.new.value)}</td>"
            f"<td>{'' if c.moved_by is None else (fmt_gap(c.moved_by) if c.kind == 'gap' else fmt(c.moved_by, 3))}</td>"
            f"<td>{_versions(c)}</td></tr>"
            for c in items
        )

    table_head = (
        "<thead><tr><th>cell</th><th>before</th><th>now</th><th>moved by</th><th>version (before → now)</th></tr></thead>"
    )
    parts = [head]
    if changes.flipped:
        parts.append(
            f"<h3>Verdict flipped ({len(changes.flipped)})</h3><table>{table_head}<tbody>{rows(changes.flipped)}</tbody></table>"
        )
    if changes.moved:
        parts.append(
            f"<h3>Moved beyond tolerance ({len(changes.moved)})</h3><table>{table_head}<tbody>{rows(changes.moved)}</tbody></table>"
        )
    if changes.weaker:
        parts.append(
            f"<h3>Weaker: still noticed, but the gap lost more than half its size ({len(changes.weaker)})</h3>"
            f"<table>{table_head}<tbody>{rows(changes.weaker)}</tbody></table>"
        )
    if changes.unstable:
        parts.append(
            f"<h3>Unstable: the verdict flipped inside the noise band, not a real change ({len(changes.unstable)})</h3>"
            f'<p class="note">{e(band.describe())}.</p><table>{table_head}<tbody>{rows(changes.unstable)}</tbody></table>'
        )
    for label, ids in (("Only in the earlier run", changes.only_old), ("New in this run", changes.only_new)):
        if ids:
            parts.append(
                f"<details><summary>{e(label)} ({len(ids)})</summary><p>"
                + " ".join(f"<code>{e(i)}</code>" for i in ids)
                + "</p></details>"
            )
    return '<section id="changes">' + "\n".join(parts) + "</section>"
