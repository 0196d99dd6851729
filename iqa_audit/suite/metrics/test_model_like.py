"""Do the default chains reproduce the study's phenomenon? One case per (setting, study metric) finding.

A setting stands for an editor family (iqa_audit/editors/families.py) only if the study's
trained metrics react to it as they reacted to that family's output: BRISQUE (its authors'
LIVE model) and PIQE fooled by the Nano-Banana-like settings, noticing the white-noise
control and the Qwen-like texture loss. Each case judges every seed of the audit with the
suite's own verdicts (gaps.apply_sign_rule: a Δ whose change is not visible is inconclusive
and does not count) and counts the seeds:

- fooled: some conclusive Δ gap is not negative (the study's rule: the metric passes a
  seed only when every gap is negative);
- notices: every conclusive Δ gap is negative.

`test_family[sim-grain-tint-fools-brisque]` reads "the Nano-Banana-Pro-like setting fools
BRISQUE on at least the seeds the study's Figure 1 implies". The thresholds are counts of
the 13 procedural seeds at the quick profile's chain shape; on other chains the case is
skipped, saying so. The failure message (and `-s`) prints the whole table.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from iqa_audit.audit.cells import gap_cells
from iqa_audit.config.audit_config import BUILTIN_PROFILES
from iqa_audit.editors.families import FAMILIES, Family

CASES = [(family, metric, verdict, least) for family in FAMILIES for metric, (verdict, least) in family.expect.items()]
QUICK = BUILTIN_PROFILES["quick"]
SHAPE = ("seeds", "runs", "steps", "long_side", "delta_steps")


def _id(case) -> str:
    family, metric, verdict, _ = case
    return f"{family.setting.replace(':', '-').replace('=', '')}-{'fools' if verdict == 'fooled' else 'noticed-by'}-{metric.partition(':')[2]}"


def seed_verdicts(gaps, cfg, family: Family, metric: str) -> dict[str, str]:
    """{seed: 'fooled' | 'notices' | 'inconclusive'} for `metric` on `family`'s chains
    (`gaps`: the session's audit.gap_cells.GapCells)."""
    cells = gap_cells(replace(cfg, metrics=(metric,), editors=(family.setting,), dataset=None))
    by_seed: dict[str, list] = {}
    for cell in cells:
        by_seed.setdefault(cell.seed, []).append(gaps.verdict(cell))
    out = {}
    for seed, verdicts in sorted(by_seed.items()):
        conclusive = [v for v in verdicts if v.conclusive]
        out[seed] = "inconclusive" if not conclusive else "notices" if all(v.passed for v in conclusive) else "fooled"
    return out


def table(family: Family, metric: str, verdicts: dict[str, str]) -> str:
    rows = "\n".join(f"  {seed:28s} {v}" for seed, v in verdicts.items())
    counts = {k: list(verdicts.values()).count(k) for k in ("fooled", "notices", "inconclusive")}
    return f"{family.model} ({family.setting}) x {metric}: {counts}\n{rows}"


@pytest.mark.slow
@pytest.mark.parametrize("family,metric,verdict,least", CASES, ids=[_id(c) for c in CASES])
def test_family(audit_session, audit_config, family, metric, verdict, least):
    differs = {k: getattr(audit_config, k) for k in SHAPE if _normal(getattr(audit_config, k)) != _normal(QUICK[k])}
    if audit_config.dataset or differs:
        pytest.skip(f"the study's findings are counted on the quick profile's chains; this run differs: {differs or 'a dataset'}")
    verdicts = seed_verdicts(audit_session.services.gaps, audit_config, family, metric)
    report = table(family, metric, verdicts)
    print(report)
    got = list(verdicts.values()).count(verdict)
    assert got >= least, f"{metric} {verdict} {got} of {len(verdicts)} seeds, the study implies at least {least}\n{report}"


def _normal(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value
