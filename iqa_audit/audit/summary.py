"""What an audit prints at the end of pytest's terminal output.

`write_summary` is the "iqa-audit" section after the tests (metrics that could not run,
an interrupted or early-stopped run, the cells against the baseline, the gap verdicts,
the cells' counts beside pytest's, the robustness cards ranked and any --fail-on-drop
failure, the outputs' paths); `write_last_lines` comes after
pytest's own lines, so an audit's output ends with the page to open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from iqa_audit.audit.card_lines import comparison_lines, section_lines
from iqa_audit.results.baseline import gating_differences
from iqa_audit.results.records import GATED, GapRecord, Record, SanityRecord
from iqa_audit.results.writer import cell_records, verdict_counts

if TYPE_CHECKING:
    from iqa_audit.audit.session import AuditSession


def write_summary(tr, audit: AuditSession) -> None:
    """The session's summary on pytest's terminal reporter `tr` (see the module doc)."""

    cfg, out = audit.cfg, audit.outputs
    records = list(audit.records.values())
    if out.unavailable:
        allowed = cfg.allow_missing_metrics
        tr.section("iqa-audit: requested metrics that could not be audited", sep="=", yellow=allowed, red=not allowed)
        for name, why in sorted(out.unavailable.items()):
            tr.write_line(f"{name}: {why}")
        tr.write_line(
            "their cases were skipped; "
            + (
                "--allow-missing-metrics lets the run pass without them"
                if allowed
                else "the run FAILS (exit 1): fix the above, drop the metric, or pass --allow-missing-metrics"
            )
        )
    if out.failure:
        tr.section("iqa-audit")
        tr.write_line(f"ERROR: the run's report was not written: {out.failure}", red=True)
    if not out.paths:
        return
    tr.section("iqa-audit")
    if audit.interrupted:
        tr.write_line(
            f"INTERRUPTED: the report covers the {len(records)} cases that finished, not the whole audit"
            + ("; the baseline was not updated" if cfg.update_baseline else ""),
            red=True,
        )
    elif audit.stopped:
        tr.write_line(
            f"stopped early ({audit.stopped}): the report covers the {len(records)} cases that ran of {audit.collected} collected",
            yellow=True,
        )
    if out.moved:
        tr.write_line(out.moved, yellow=True)
    differs = gating_differences(cfg) if any(isinstance(r, GATED) and r.baseline for r in records) else []
    if differs:
        tr.write_line(
            f"baseline {cfg.baseline} was recorded by a run of another shape ({'; '.join(differs)}): its cells' numbers "
            "are not this run's, so a regression or improvement below may only be the difference; record the baseline "
            "with this run's options (--update-baseline --replace-baseline)",
            yellow=True,
        )
    _against_baseline(tr, records, has_baseline=bool(cfg.baseline))
    v = verdict_counts(records)
    raised = sum(1 for r in records if isinstance(r, GapRecord) and r.error is not None)  # no gap, so no verdict
    if sum(v.values()) or raised:
        tr.write_line(
            f"gap verdicts: {v['pass']} noticed, {v['fail']} missed, {v['inconclusive']} inconclusive (nothing visible to notice)"
            + (f"; {raised} gap cells raised (no verdict)" if raised else "")
        )
    tr.write_line(cell_count_line(records, audit.outcomes))
    for line in section_lines(out.cards) + comparison_lines(out.cards, cfg.compare_editors):
        tr.write_line(line)
    for line in out.drops:
        tr.write_line(f"FAILED (--fail-on-drop {cfg.fail_on_drop:g}): {line}", red=True)
    if (
        cfg.fail_on_drop is not None
        and not out.drops
        and out.history_note is None
        and any(out.cards.get(k) for k in ("metrics", "editors"))
    ):
        tr.write_line(
            f"--fail-on-drop {cfg.fail_on_drop:g}: no card's score dropped against the last run on the same chain set", green=True
        )
    if out.history_note:
        tr.write_line(out.history_note, yellow=True)
    for label, path in out.paths.items():
        if label != "report":  # the page's path is the run's last line: see write_last_lines
            tr.write_line(f"{label}: {path}")
    if out.pruned:
        tr.write_line(
            f"removed {len(out.pruned)} old run folder(s) from {out.pruned[0].parent} "
            f"(keeping the last {cfg.keep_reports}; --keep-reports N, 0 keeps all)"
        )


def _against_baseline(tr, records: Sequence[Record], *, has_baseline: bool) -> None:
    """The gated cells by how they compare with the baseline (naming each that changed),
    then the sanity checks' counts, which the baseline does not gate."""
    kinds: dict[str, int] = {}
    gated = [r for r in records if isinstance(r, GATED) and r.baseline is not None]  # not sanity
    for r in gated:
        kinds[r.baseline] = kinds.get(r.baseline, 0) + 1
    counts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    if has_baseline and counts:
        tr.write_line("against the baseline: " + counts)
        for r in gated:
            if r.baseline in ("regression", "improved", "unstable", "weaker"):
                tr.write_line(f"  {r.baseline}: {r.cell}")
    elif counts:  # no baseline: each cell's own result ("error": its code raised, no verdict)
        tr.write_line("gap, stability and editor cells: " + counts)
    sanity = [r for r in records if isinstance(r, SanityRecord)]
    if sanity:  # not gated by the baseline, so not in the line above; pytest counts them
        ok = sum(1 for r in sanity if r.passed and not r.warning)
        warned = sum(1 for r in sanity if r.warning)
        errors = sum(1 for r in sanity if r.error is not None)
        tr.write_line(
            f"metric sanity checks: {ok} pass, {len(sanity) - ok - warned - errors} fail"
            + (f", {warned} warn" if warned else "")
            + (f", {errors} raised (pytest's failed)" if errors else "")  # raised in the check: FAILED, not ERROR
            + (" (not gated by the baseline)" if has_baseline else "")
        )


def cell_count_line(records: Sequence[Record], outcomes: dict[str, int]) -> str:
    """'cells in results.json: 26 (16 failed, 6 passed, 4 error); other tests: 4 skipped':
    the cells' outcomes in pytest's words, and the tests that are no cell (a "no cells in
    this configuration" placeholder, a metric that cannot run here), so the two add up to
    pytest's own counts line."""

    cells: dict[str, int] = {}
    for r in cell_records(records):
        cells[r.outcome or "?"] = cells.get(r.outcome or "?", 0) + 1
    other = {k: n - cells.get(k, 0) for k, n in outcomes.items() if n - cells.get(k, 0) > 0}

    def words(counts: dict[str, int]) -> str:
        return ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    line = f"cells in results.json: {sum(cells.values())}" + (f" ({words(cells)})" if cells else "")
    return line + (f"; other tests: {words(other)}" if other else "")


def write_last_lines(reporter, audit: AuditSession) -> None:
    """After pytest's own -rs lines and its counts: a replaced baseline's backup, and the
    HTML report's path, last (README's first command ends with the page to open)."""
    paths = audit.outputs.paths
    if reporter is None or not paths:
        return
    if "baseline_backup" in paths:
        reporter.write_line(
            f"baseline: {paths['baseline']} written from this run alone (--replace-baseline); "
            f"the file it replaced is kept as {paths['baseline_backup']}"
        )
    if "report" in paths:
        reporter.write_line(f"report: {paths['report']}")
