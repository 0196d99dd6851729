"""The family table and its report section: which metric each setting fools, counted per seed."""

from __future__ import annotations

from iqa_audit.config.audit_config import BUILTIN_PROFILES, DEFAULT_METRICS
from iqa_audit.editors import create_editor
from iqa_audit.editors.families import BY_EDITOR, FAMILIES
from iqa_audit.report.families_html import clean_scores, fooled_section, seed_outcomes
from iqa_audit.results.records import GapRecord


def gap(seed: str, delta: int, verdict: str, *, setting="sim-grain-tint-replicate", editor="sim-grain-tint", clean=35.0):
    return GapRecord(
        cell=f"gap:brisque-{setting}-{seed}-d{delta}",
        metric="pyiqa:brisque",
        metric_id="brisque",
        version="v",
        setting=setting,
        editor=editor,
        seed=seed,
        delta_step=delta,
        passed=verdict == "pass",
        value=-1.0 if verdict == "pass" else 1.0,
        verdict=verdict,
        raw={"0": {"0": clean, "1": 30.0}},
    )


def test_a_seed_is_fooled_when_any_conclusive_gap_is_not_negative():
    cells = [
        gap("a", 5, "pass"),
        gap("a", 10, "pass"),
        gap("a", 20, "fail"),  # one miss: fooled (the study's rule)
        gap("b", 5, "inconclusive"),
        gap("b", 10, "pass"),
        gap("b", 20, "pass"),  # inconclusive Δ does not count
        gap("c", 5, "inconclusive"),
        gap("c", 10, "inconclusive"),
    ]
    assert seed_outcomes(cells) == {("sim-grain-tint-replicate", "brisque"): {"a": "fooled", "b": "noticed", "c": "inconclusive"}}


def test_section_counts_fooled_of_conclusive_and_names_the_family():
    cells = [gap("a", 5, "fail"), gap("b", 5, "pass"), gap("c", 5, "inconclusive")]
    cells.append(gap("a", 5, "pass", setting="sim-texture-loss-strength2-replicate", editor="sim-texture-loss:strength=2"))
    html = fooled_section(cells)
    assert "1/2 <small>(1)</small>" in html and "Nano Banana Pro" in html
    assert "Qwen-Image-Edit" in html  # an editor with parameters still names its family


def test_clean_scores_mark_a_seed_outside_the_studys_range():
    html = clean_scores([gap("inside", 5, "pass", clean=20.0), gap("outside", 5, "pass", clean=71.7)])
    assert '<td class="known">71.7</td>' in html and '<td class="">20</td>' in html
    assert "-3.18 – 41.1" in html


def test_every_family_setting_is_a_buildable_editor_and_in_the_default_audit():
    for family in FAMILIES:
        create_editor(family.setting)  # a spec that does not parse would fail at configure, not here
        assert family.setting in BUILTIN_PROFILES["quick"]["editors"]
        for metric in family.expect:
            assert metric in DEFAULT_METRICS, f"{family.setting} is judged by {metric}, which the default audit does not run"
    assert BY_EDITOR["sim-texture-loss"].model == "Qwen-Image-Edit"


def test_a_run_whose_gap_cells_all_errored_says_so():
    errored = GapRecord(
        cell="gap:m-s-a-d5",
        metric="m.py:f",
        metric_id="m",
        version="v",
        setting="s",
        seed="a",
        delta_step=5,
        passed=False,
        value=None,
        error="ScoreError: a tensor of torch.bool (not numbers)",
    )
    assert "All 1 gap cells are errors" in fooled_section([errored])
    assert "No gap cells" in fooled_section([])
