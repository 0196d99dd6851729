"""The report's artifact profile section, drawn from results.json's `profiles`: a table per
chain setting at its last profiled step, and the closest-simulator table for model and
imported chains (and only those)."""

from __future__ import annotations

import json
import re

from iqa_audit.report.html import render_report
from iqa_audit.report.profiles_html import COLUMNS
from iqa_audit.results.records import ProfileRecord
from iqa_audit.results.writer import RunResults

STATS = {name: 0.5 + i for i, (name, _, _) in enumerate(COLUMNS)}


def profile(setting: str, seed: str, source: str, **kw) -> ProfileRecord:
    steps = kw.pop("steps", {"5": {**STATS, "peak_frequency": None}, "20": {**STATS, "residual_rms": 7.25}})
    return ProfileRecord(
        cell=f"profile:{setting}-{seed}",
        setting=setting,
        seed=seed,
        source=source,
        version=1,
        editor=setting.rsplit("-", 1)[0],
        task="replicate",
        steps=steps,
        runs={k: 2 for k in steps},
        **kw,
    )


def page(*profiles: ProfileRecord) -> str:
    """The page of a run whose results.json holds only these profiles, read back from JSON
    as the report reads any run's file."""
    data = json.loads(json.dumps(RunResults({"run": {"name": "p"}}, (), profiles).to_json()))
    return render_report(RunResults.from_json(data))


def section(text: str) -> str:
    return re.search(r'<section id="profiles">.*?</section>', text, re.S).group(0)


def test_each_setting_gets_a_table_at_its_last_profiled_step():
    text = section(
        page(
            profile("sim-grain-tint-replicate", "building", "simulator"),
            profile("sim-grain-tint-replicate", "haze", "simulator"),
            profile("codec-jpeg-replicate", "building", "simulator", steps={"5": STATS}),
        )
    )
    assert text.count('<table class="compact profile">') == 2
    assert "<b>sim-grain-tint-replicate</b> (simulator) · step 20 vs step 1" in text
    assert "<b>codec-jpeg-replicate</b> (simulator) · step 5 vs step 1" in text
    assert "<td>7.25</td>" in text  # step 20's mean, not step 5's
    assert all(f">{name}</th>" in text for _, name, _ in COLUMNS)
    assert "No model or imported chain in this run" in text and "Closest simulator" not in text


def test_model_and_imported_chains_get_their_closest_simulator_and_where_it_came_from():
    closest = (
        {"setting": "sim-grain-tint-replicate", "distance": 0.41, "step": 20},
        {"setting": "sim-noise-tint-replicate", "distance": 1.3, "step": 20},
    )
    text = section(
        page(
            profile("sim-grain-tint-replicate", "building", "simulator"),
            profile("vae-roundtrip-replicate", "building", "model", closest=closest, closest_from="run"),
            profile("banana-imported", "b01", "imported", closest=closest[:1], closest_from="reference"),
        )
    )
    table = re.search(r'<table class="compact closest">.*?</table>', text, re.S).group(0)
    rows = re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td><td><b>(.*?)</b> at step (\d+)</td><td>(.*?)</td>", table)
    assert rows == [
        ("banana-imported", "b01", "sim-grain-tint-replicate", "20", "0.41"),
        ("vae-roundtrip-replicate", "building", "sim-grain-tint-replicate", "20", "0.41"),
    ]
    assert "sim-noise-tint-replicate (1.3)" in table
    assert "the reference set" in table and "this run&#x27;s simulator chains on the same seed" in table
    assert "sim-grain-tint-replicate</th><td>building" not in table  # a simulator is no target


def test_a_chain_that_could_not_be_profiled_says_why():
    text = section(
        page(profile("gemini-replicate", "tiny", "model", steps={}, error="artifact profile of gemini: expected 64 px"))
    )
    assert text.count("expected 64 px") == 2  # its setting's table and the closest table


def test_a_run_without_profiles_says_so():
    assert "No chain was profiled in this run" in section(page())
