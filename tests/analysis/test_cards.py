"""Robustness cards on hand-made values: the headline rule, its interval, fingerprints, drops, the editor card."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from iqa_audit.analysis.cards import (
    PairOutcome,
    card_from_dict,
    dropped,
    fingerprint,
    metric_card,
    ranked,
    sanity_status,
    shape_differences,
    wilson,
)
from iqa_audit.analysis.editor_cards import ChainChanges, editor_card, first_visible
from iqa_audit.analysis.evidence import Change
from iqa_audit.editors.families import model_like

SHAPE = {"seeds": ["a", "b"], "editors": ["sim-grain-tint"], "tasks": ["replicate"], "steps": 20, "runs": 2, "long_side": 512}


@pytest.mark.parametrize("k,n", [(0, 1), (1, 1), (3, 10), (7, 13), (50, 60), (0, 40)])
def test_wilson_matches_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)


def card(outcomes, **kw):
    return metric_card(subject=kw.pop("subject", "m"), name="pyiqa:m", version="1", outcomes=outcomes, shape=SHAPE, **kw)


def test_headline_counts_conclusive_pairs_noticed_at_every_conclusive_delta():
    c = card(
        [
            PairOutcome("s1", "a", conclusive=3, noticed=3),  # noticed at every Δ
            PairOutcome("s1", "b", conclusive=3, noticed=2),  # missed one Δ: not noticed
            PairOutcome("s2", "a", conclusive=1, noticed=1),  # two Δ inconclusive, the judged one noticed
            PairOutcome("s2", "b", conclusive=0, noticed=0),  # nothing visible: not in the headline
        ],
        delays=[5, 10, 20, 3],
        stability_ratios=[0.5, 2.5, float("inf")],
        sanity=[(True, False, False), (True, True, False)],
    )
    assert (c.noticed, c.pairs, c.score) == (2, 3, pytest.approx(2 / 3))
    assert (c.low, c.high) == pytest.approx(wilson(2, 3))
    assert dict(c.per_setting) == {"s1": [1, 2], "s2": [1, 1]}
    assert c.median_delay == 7.5 and c.worst_stability == 2.5 and c.sanity == "warn"
    assert not c.reference and card([], subject="brisque").reference
    assert card_from_dict(c.to_dict()) == c


def test_a_metric_with_nothing_conclusive_has_no_score():
    c = card([PairOutcome("s", "a", 0, 0)])
    assert c.score is None and c.pairs == 0 and c.interval() == "n/a"


def test_sanity_status_worst_first():
    assert sanity_status([]) == "not run"
    assert sanity_status([(True, False, False)]) == "pass"
    assert sanity_status([(True, True, False), (False, False, False)]) == "fail"
    assert sanity_status([(False, False, True), (False, False, False)]) == "error"


def test_model_like_settings_are_the_families_but_not_the_control():
    assert model_like("sim-grain-tint") and model_like("sim-texture-loss:strength=2")
    assert not model_like("sim-noise-tint") and not model_like("codec-reupload") and not model_like(None)


def test_fingerprint_says_what_differs():
    assert fingerprint(SHAPE) == fingerprint(dict(reversed(list(SHAPE.items()))))
    other = {**SHAPE, "steps": 6}
    assert fingerprint(other) != fingerprint(SHAPE)
    assert shape_differences(SHAPE, other) == ["steps: 20 then 6"]


def test_ranked_by_score_then_interval():
    a, b, none = (
        card([PairOutcome("s", "x", 1, 1)], subject="a"),
        card([PairOutcome("s", "x", 1, 0)], subject="b"),
        card([], subject="c"),
    )
    assert [c.subject for c in ranked([none, b, a])] == ["a", "b", "c"]


def _scored(score, low, high, **kw):
    base = card([PairOutcome("s", "a", 1, 1)])
    return type(base)(**{**base.__dict__, "score": score, "low": low, "high": high, **kw})


def test_a_drop_beyond_the_interval_fails_and_one_within_it_does_not():
    old = _scored(0.9, 0.8, 0.95)
    assert dropped(old, _scored(0.5, 0.4, 0.6), 0.05) is not None
    assert dropped(old, _scored(0.8, 0.7, 0.88), 0.05) is None  # new's interval reaches within 0.05 of 0.9
    assert dropped(old, _scored(0.5, 0.4, 0.6, fingerprint="other"), 0.05) is None  # not comparable
    line = dropped(old, _scored(0.5, 0.4, 0.6), 0.05).describe()
    assert "metric m" in line and "0.90 [0.80, 0.95]" in line and "0.50 [0.40, 0.60]" in line


def _c(psnr, ssim=0.99):
    return Change(psnr, ssim, "identity")


def test_editor_card_first_visible_change_decay_and_tasks():
    quiet, loud = _c(45.0), _c(30.0, 0.8)
    chain = ChainChanges("x", {1: (None, _c(44.0)), 2: (quiet, quiet), 3: (loud, loud), 4: (loud, loud)})
    never = ChainChanges("y", {1: (None, _c(None, 1.0)), 2: (_c(None, 1.0), _c(None, 1.0))})
    assert first_visible({2: quiet, 3: loud}) == 3 and first_visible({2: quiet}) is None
    c = editor_card(
        subject="sim-x",
        version="2",
        chains=[chain, never],
        checks=[("tint", "replicate", True), ("tint", "mirror", False), ("aspect_ratio", "replicate", True)],
        shape={"cases": ["replicate:a"]},
    )
    assert c.first_visible == {"step1": 3.0, "seed": 3.0} and c.changed == {"step1": 1, "seed": 1} and c.chains == 2
    assert c.decay[0] == [1, None, None, 72.0, 0.995]  # identical pixels count as 100 dB
    assert (c.checks_passed, c.checks, c.score) == (2, 3, pytest.approx(2 / 3))
    assert dict(c.tasks) == {"mirror": [0, 1], "replicate": [2, 2]}
    assert card_from_dict(c.to_dict()) == c
