"""The robustness cards end to end: a tiny audit's card in results.json, the summary, the store's history and --fail-on-drop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from iqa_audit.store.store import Store
from tests.tiny_audit import GAP_TEST, tiny_audit_args

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]


def test_a_tiny_audit_writes_ranks_and_remembers_its_cards(pytester, tmp_path, seed_dir):
    pytester.makepyfile(test_gap=GAP_TEST)
    # sim-grain-tint stands for model output (a family's setting); sim-noise-tint is the control.
    args = [*tiny_audit_args(tmp_path, seed_dir), "--editor", "sim-grain-tint", "--baseline", str(tmp_path / "b.json")]
    first = pytester.runpytest_subprocess(*args, "--run-name", "one", "--update-baseline")
    res = json.loads((tmp_path / "reports" / "one" / "results.json").read_text())
    cards = {c["subject"]: c for c in res["cards"]["metrics"]}
    assert set(cards) == {"noise-sigma", "plugin_metric_example-sharpness"}
    noise = cards["noise-sigma"]
    # One model-like pair (sim-grain-tint / tiny); the control's pair does not count.
    assert noise["pairs"] == 1 and list(noise["per_setting"]) == ["sim-grain-tint-replicate"]
    assert 0.0 <= noise["low"] <= noise["score"] <= noise["high"] <= 1.0
    assert noise["shape"]["steps"] == 6 and noise["shape"]["editors"] == ["sim-grain-tint", "sim-noise-tint"]
    text = first.stdout.str()
    assert "metric robustness" in text and "noise-sigma" in text and "score [95% CI]" in text
    assert "Metric robustness cards" in (tmp_path / "reports" / "one" / "index.html").read_text()

    stored = Store(tmp_path / "store").cards("metric")
    assert {c["subject"] for c in stored} == {"noise-sigma", "plugin_metric_example-sharpness"}

    # The history command prints the series from the store.
    out = subprocess.run(
        [sys.executable, "-m", "iqa_audit", "history", "--metric", "noise-sigma", "--store", str(tmp_path / "store")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert "metric noise-sigma:" in out.stdout and noise["fingerprint"] in out.stdout

    # A stored card that scored far higher on the same chain set makes --fail-on-drop fail the run.
    store = Store(tmp_path / "store")
    for subject, card in cards.items():
        if card["score"] is not None and card["high"] < 0.9:
            store.put_card({**card, "version": "older", "score": 1.0, "low": 0.95, "high": 1.0, "run": "old"})
            worse = subject
    store.close()
    second = pytester.runpytest_subprocess(*args, "--run-name", "two", "--fail-on-drop", "0.05")
    text = second.stdout.str()
    assert second.ret == 1 and "failed" not in second.parseoutcomes()  # every cell as the baseline expects: the drop fails it
    assert f"FAILED (--fail-on-drop 0.05): metric {worse}: score dropped from 1.00 [0.95, 1.00]" in text

    # The dropped card is not stored: a retry of the failed job is gated against the same accepted card again.
    retry = pytester.runpytest_subprocess(*args, "--run-name", "retry", "--fail-on-drop", "0.05")
    assert retry.ret == 1 and f"metric {worse}: score dropped from 1.00 [0.95, 1.00]" in retry.stdout.str()
    assert "not stored: the last accepted card stays the reference" in retry.stdout.str()

    # A run that scores no model-like pair (-k: the control only) stores no card: it must not become the reference.
    before = len(Store(tmp_path / "store").cards("metric"))
    subset = pytester.runpytest_subprocess(*args, "--run-name", "subset", "-k", "sim-noise-tint")
    assert subset.ret == 0 and len(Store(tmp_path / "store").cards("metric")) == before

    # Against an accepted card with this run's scores, the gate says it compared and found no drop.
    store = Store(tmp_path / "store")
    for card in cards.values():
        store.put_card({**card, "version": "accepted", "run": "accepted"})
    store.close()
    third = pytester.runpytest_subprocess(*args, "--run-name", "three", "--fail-on-drop", "0.05")
    assert third.ret == 0 and "--fail-on-drop 0.05: no card's score dropped" in third.stdout.str()
