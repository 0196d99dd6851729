"""The artifact profile section: what each chain's change since step 1 looks like, and which
simulator the model and imported chains are closest to.

Drawn from results.json's `profiles` (records.ProfileRecord, written by audit.profiles):
one compact table per chain setting, a row per seed, the statistics at the chain's last
profiled step (each the mean over runs; units and sources: analysis/artifact_profile.py),
then the "closest simulator" table: per model or imported chain, the nearest simulator
settings in profile space (distance in SCALES units: 1 is one typical spread per statistic)
and where the simulators' profiles came from. Nothing is recomputed here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import groupby

from iqa_audit.report.markup import e
from iqa_audit.report.model import fmt
from iqa_audit.results.records import ProfileRecord

# (field, column heading, unit / meaning in the heading's tooltip), in the record's order.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("residual_rms", "RMS", "RMS of the luma residual, grey levels: how strong the change is"),
    (
        "spectrum_slope",
        "slope",
        "slope of the residual's radially averaged power spectrum (log-log): 0 white, < 0 coarse, > 0 fine",
    ),
    ("peak_frequency", "peak", "the band the residual's power peaks in, cycles/px (— : a flat spectrum)"),
    ("correlation_length", "corr", "spatial correlation length of the residual, px (1/e of its autocorrelation)"),
    ("luminance_correlation", "lum ρ", "Spearman ρ of residual strength vs luminance: > 0 highlights, < 0 shadows"),
    ("midtone_log_ratio", "mid", "log2 of residual RMS in mid-tones over the rest: > 0 film-like/model grain"),
    ("delta_L", "ΔL*", "mean CIELAB L* drift"),
    ("delta_a", "Δa*", "mean CIELAB a* drift: < 0 a green tint, > 0 magenta"),
    ("delta_b", "Δb*", "mean CIELAB b* drift: > 0 yellow, < 0 blue"),
    ("blockiness", "8×8", "8x8 block-boundary ratio: 1 none, > 1.5 a DCT codec's grid"),
    ("mscn_alpha", "α", "BRISQUE's GGD shape of the image's MSCN coefficients"),
)
SOURCE_WORDS: Mapping[str, str] = {"simulator": "simulator", "model": "model", "imported": "imported"}
NOT_BUILT_WORDS = (
    "no simulator chain in this run: run again with --match-simulators to build the reference set "
    "(codecs and model-like simulators from this chain's step 1; seconds per seed, once, then cached), "
    "or add simulator settings with --editor"
)
FROM_WORDS: Mapping[str, str] = {
    "run": "this run's simulator chains on the same seed",
    "reference": "the reference set (codecs and model-like simulators run from this chain's step 1, central 384 px)",
}


def profile_section(profiles: Sequence[ProfileRecord]) -> str:
    """The "Artifact profiles" section (id "profiles"); a line saying there are none when
    the run profiled no chain (results.json written before profiles existed, or no cell
    named a chain)."""
    if not profiles:
        return '<section id="profiles"><h2>Artifact profiles</h2><p>No chain was profiled in this run.</p></section>'
    ordered = sorted(profiles, key=lambda p: (p.setting, p.seed))
    tables = [_setting_table(list(group)) for _, group in groupby(ordered, key=lambda p: p.setting)]
    head = "".join(f'<th title="{e(tip)}">{e(name)}</th>' for _, name, tip in COLUMNS)
    return f"""<section id="profiles"><h2>Artifact profiles</h2>
<p class="note">What changed between step 1 and the chain's last profiled step, as a few statistics of the residual
(mean over runs; hover a heading for its unit). Units and sources: <code>iqa_audit/analysis/artifact_profile.py</code>.</p>
{_closest_table(ordered)}
{"".join(t.replace("<!--head-->", head) for t in tables)}</section>"""


def _setting_table(group: list[ProfileRecord]) -> str:
    first = group[0]
    steps = sorted({p.last_step for p in group if p.last_step is not None}, key=int)
    at = f"step {'/'.join(steps)} vs step {first.reference_step}" if steps else "not profiled"
    rows = []
    for p in group:
        step = p.last_step
        if p.error or step is None:
            why = p.error or "no profiled step (the chain did not reach a Δ step)"
            rows.append(f'<tr><th>{e(p.seed)}</th><td colspan="{len(COLUMNS) + 1}" class="dim">{e(why)}</td></tr>')
            continue
        values = p.steps[step]
        tds = "".join(f"<td>{e(fmt(values.get(name), 3))}</td>" for name, _, _ in COLUMNS)
        rows.append(f"<tr><th>{e(p.seed)}</th><td>{e(p.runs.get(step, ''))}</td>{tds}</tr>")
    return (
        f'<div class="scroll"><table class="compact profile"><caption><b>{e(first.setting)}</b> '
        f"({e(SOURCE_WORDS.get(first.source, first.source))}) · {e(at)}</caption>"
        f"<thead><tr><th>seed</th><th>runs</th><!--head--></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _closest_table(profiles: Sequence[ProfileRecord]) -> str:
    targets = [p for p in profiles if p.source != "simulator"]
    if not targets:
        return (
            '<p class="note">No model or imported chain in this run, so no "closest simulator" table: '
            "run a real chain (vae-roundtrip, a diffusers editor, Gemini, or <code>--dataset</code>) to see "
            "which simulator stands for it.</p>"
        )
    rows = []
    for p in targets:
        if not p.closest:
            why = p.error or ("no profiled step to compare" if p.closest_from != ProfileRecord.NOT_BUILT else NOT_BUILT_WORDS)
            rows.append(f'<tr><th>{e(p.setting)}</th><td>{e(p.seed)}</td><td colspan="4" class="dim">{e(why)}</td></tr>')
            continue
        best, *rest = p.closest
        others = ", ".join(f"{r['setting']} ({fmt(r['distance'], 2)})" for r in rest)
        rows.append(
            f"<tr><th>{e(p.setting)}</th><td>{e(p.seed)}</td><td><b>{e(best['setting'])}</b> at step {e(best['step'])}</td>"
            f"<td>{e(fmt(best['distance'], 2))}</td><td>{e(others) or '—'}</td>"
            f'<td class="dim">{e(FROM_WORDS.get(p.closest_from or "", p.closest_from))}</td></tr>'
        )
    return f"""<h3>Closest simulator <small>model and imported chains</small></h3>
<p class="note">The simulator setting whose profile is nearest to each chain's at its last profiled step, and how far:
the root mean square difference over the statistics, each in units of its typical spread over the suite's degradations
(SCALES), so 1 is "one spread per statistic". For scale: a chain of the same simulator from another run and length lands
0.14-0.62 away, a different simulator 0.76-1.82 (4 seeds, 384 px). A simulator stands for the chain only if it is also
the nearest on the other seeds.</p>
<table class="compact closest"><thead><tr><th>chain</th><th>seed</th><th>closest simulator</th><th>distance</th>
<th>next nearest (distance)</th><th>simulator profiles from</th></tr></thead><tbody>{"".join(rows)}</tbody></table>"""
