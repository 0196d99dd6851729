"""results.json's `cards` section from hand-made records: model-like pairs only, editor cards from stored chains, history from the store."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from iqa_audit.analysis.cards import card_from_dict
from iqa_audit.audit.history import remember_cards
from iqa_audit.config.audit_config import AuditConfig
from iqa_audit.core.images import Image
from iqa_audit.results.cards import card_section, metric_cards
from iqa_audit.results.records import EditorRecord, GapRecord, SanityRecord, StabilityRecord
from tests.conftest import textured_image

CFG = AuditConfig(seeds=("grid-perspective",), editors=("sim-grain-tint", "sim-noise-tint"), runs=2, steps=6, delta_steps=(3, 6))


def gap(editor, seed, delta, verdict, metric="piqe", **kw):
    setting = f"{editor}-replicate"
    return GapRecord(
        cell=f"gap:{metric}-{setting}-{seed}-d{delta}",
        passed=verdict == "pass",
        value=-1.0 if verdict == "pass" else 1.0,
        version="v1",
        metric=f"pyiqa:{metric}",
        metric_id=metric,
        setting=setting,
        editor=editor,
        task="replicate",
        seed=seed,
        delta_step=delta,
        verdict=verdict,
        **kw,
    )


def records():
    return [
        gap("sim-grain-tint", "a", 3, "pass", detection_delay={"per_run": [3, None]}),
        gap("sim-grain-tint", "a", 6, "pass"),
        gap("sim-grain-tint", "b", 3, "inconclusive"),
        gap("sim-grain-tint", "b", 6, "fail"),
        gap("sim-grain-tint", "c", 3, "inconclusive"),  # nothing conclusive: not counted
        gap("sim-noise-tint", "a", 3, "fail"),  # the control: never counted
        gap("sim-noise-tint", "b", 3, "fail"),
        StabilityRecord(
            cell="stability:piqe-add-apples-t",
            passed=True,
            value=1.7,
            version="v1",
            metric="pyiqa:piqe",
            metric_id="piqe",
            editor="sim-noise-tint",
            task="add-apples",
            setting="s",
            replicate_setting="r",
            seed="t",
        ),
        SanityRecord(cell="sanity:piqe-finite", metric="pyiqa:piqe", metric_id="piqe", check="finite", passed=True),
    ]


def test_metric_card_counts_model_like_pairs_only():
    (c,) = metric_cards(CFG, records())
    assert (c.subject, c.version, c.noticed, c.pairs) == ("piqe", "v1", 1, 2)
    assert dict(c.per_setting) == {"sim-grain-tint-replicate": [1, 2]}
    assert c.median_delay == 3.0 and c.worst_stability == 1.7 and c.sanity == "pass" and c.reference
    assert c.shape["editors"] == ["sim-grain-tint", "sim-noise-tint"] and c.shape["delta_steps"] == [3, 6]


def test_an_imported_dataset_counts_every_setting():
    (c,) = metric_cards(replace(CFG, dataset="banana100"), records())
    assert c.pairs == 4 and "sim-noise-tint-replicate" in c.per_setting


def _noisy(img: Image, sigma: float, seed: int) -> Image:
    rng = np.random.default_rng(seed)
    px = np.asarray(img.pixels, dtype=float) + rng.normal(0, sigma, (64, 96, 3))
    return Image.from_array(np.clip(px, 0, 255).astype(np.uint8))


def test_editor_card_measures_the_replication_chain_and_history_comes_from_the_store(store):
    seed = textured_image()
    steps = [seed, seed, _noisy(seed, 1.0, 1), _noisy(seed, 12.0, 2)]  # step 3 changes visibly
    names = {str(k): "%s.%s" % store.put_image(img) for k, img in enumerate(steps)}
    ed = EditorRecord(
        cell="editor:tint-sim-x-replicate-a",
        passed=True,
        value=0.0,
        version="3",
        check="tint",
        setting="sim-x-replicate",
        seed="a",
        editor="sim-x",
        task="replicate",
        images={"0": names},
    )
    failed = replace(ed, cell="editor:aspect_ratio-sim-x-mirror-a", check="aspect_ratio", task="mirror", passed=False, images={})
    cfg = replace(CFG, store=str(store.root), run_name="r2")
    section = card_section(cfg, [*records(), ed, failed], store)
    (e,) = [card_from_dict(d) for d in section["editors"]]
    assert e.first_visible == {"step1": 3.0, "seed": 3.0} and e.chains == 1
    assert [row[0] for row in e.decay] == [1, 2, 3] and e.decay[2][1] < 38.59
    assert (e.checks_passed, e.checks, dict(e.tasks)) == (1, 2, {"mirror": [0, 1], "replicate": [1, 1]})
    assert section["history"]["metric:piqe"] == section["metrics"]  # nothing stored yet: this run alone

    # Stored, then a later run of a new version sees the old card first in its history.
    remember_cards(str(store.root), section, None)
    newer = [replace(r, version="v2") if isinstance(r, GapRecord) else r for r in records()]
    again = card_section(cfg, newer, store)
    assert [c["version"] for c in again["history"]["metric:piqe"]] == ["v1", "v2"]
    # A card on another chain set is not in the series.
    other = card_section(replace(cfg, steps=7), newer, store)
    assert [c["version"] for c in other["history"]["metric:piqe"]] == ["v2"]


def test_remember_cards_reports_a_drop_against_the_last_comparable_card(store):
    cfg = replace(CFG, store=str(store.root), run_name="r1")
    section = card_section(cfg, records(), store)
    store.put_card({**section["metrics"][0], "version": "v-1", "score": 0.0, "low": 0.0, "high": 0.3})  # older
    store.put_card({**section["metrics"][0], "version": "v0", "score": 1.0, "low": 0.9, "high": 1.0})  # the last
    drops, note = remember_cards(str(store.root), section, 0.05)
    assert note is None and len(drops) == 1 and drops[0].startswith("metric piqe: score dropped from 1.00 [0.90, 1.00]")
    assert remember_cards(str(store.root), section, None)[0] == []  # without --fail-on-drop: no gate
    assert {c["version"] for c in store.cards("metric", "piqe")} == {"v-1", "v0", "v1"}
