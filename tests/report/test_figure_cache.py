"""The report's picture cache: a warm re-render decodes and encodes no photograph and gives
the very same page; changed inputs, edited encoding code or a damaged entry encode again;
concurrent writers never expose half an entry. The figures are SVG, written every time
and not cached: the page with the cache is the page without it.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import math
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from iqa_audit.report import figure_cache, figures
from iqa_audit.report.figure_cache import Entry, FigureCache, cache_key
from iqa_audit.report.html import render_report, write_report
from iqa_audit.report.store_images import ImageSource
from iqa_audit.results.records import parse, parse_all
from iqa_audit.results.writer import RunResults

SEEDS = ("grid", "faces")
METRICS = ("noticer", "misser")
DELTA = 3
STEPS = 3


# ----- a tiny run over a tiny store ------------------------------------------------------
def _put(root: Path, seed: int) -> str:
    """A small random picture written where ImageSource looks for it (the store's layout)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(pixels).save(buf, "PNG")
    digest = hashlib.sha256(buf.getvalue()).hexdigest()
    path = root / "objects" / digest[:2] / f"{digest}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return f"{digest}.png"


def tiny_results(root: Path) -> dict:
    """One chain setting x 2 seeds x 2 metrics x one Δ of gap cells, and one editor chain:
    one heatmap figure, two curve figures, strips and editor thumbnails."""
    root.mkdir(parents=True, exist_ok=True)
    cells = []
    for si, seed in enumerate(SEEDS):
        images = {"0": {str(k): _put(root, 10 * si + k) for k in range(STEPS + 1)}}
        for metric in METRICS:
            slope = -2.5 if metric == "noticer" else 1.5
            means = {str(k): 60.0 + slope * k + si for k in range(STEPS + 1)}
            gap = means[str(DELTA)] - means["1"]
            cells.append(
                {
                    "kind": "gap",
                    "cell": f"gap:{metric}-codec-{seed}-d{DELTA}",
                    "metric": metric,
                    "metric_id": metric,
                    "version": "1",
                    "setting": "codec-replicate",
                    "seed": seed,
                    "delta_step": DELTA,
                    "value": gap,
                    "passed": gap < 0,
                    "runs": 1,
                    "mean_normalised": means,
                    "spread_normalised": {k: 0.0 for k in means},
                    "images": images,
                    "outcome": "passed" if gap < 0 else "failed",
                    "nodeid": f"t.py::test[{metric}-{seed}]",
                }
            )
    cells.append(
        {
            "kind": "editor",
            "cell": "editor:tint-identity-grid",
            "check": "tint",
            "setting": "identity-replicate",
            "editor": "identity",
            "version": "1",
            "task": "replicate",
            "seed": "grid",
            "passed": True,
            "value": 0.1,
            "tolerance": 3.0,
            "message": "tint 0.1",
            "images": {"0": {str(k): _put(root, 90 + k) for k in range(STEPS + 1)}},
            "self_evaluation": {},
            "outcome": "passed",
            "nodeid": "t.py::test_tint",
        }
    )
    return {"format": "iqa-audit-results/1", "run": {"name": "tiny", "store": str(root)}, "cells": cells}


def typed(results: dict) -> RunResults:
    """A results.json dict as the typed results the report takes (results.writer.RunResults)."""
    return RunResults.from_json(results)


def same_page(text: str) -> str:
    """The page without the one thing that differs by design: how long rendering took."""
    return re.sub(r" in [0-9.]+ s from results\.json", "", text)


class Counts:
    """How often the report encoded a photograph or decoded one."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.encodes = self.decodes = 0
        thumb, crop, get = figures.thumbnail_jpeg, figures.centre_crop_png, ImageSource.get

        def counted(fn):
            def wrapper(*a, **k):
                self.encodes += 1
                return fn(*a, **k)

            return wrapper

        def counted_get(source, image):
            self.decodes += 1
            return get(source, image)

        monkeypatch.setattr(figures, "thumbnail_jpeg", counted(thumb))
        monkeypatch.setattr(figures, "centre_crop_png", counted(crop))
        monkeypatch.setattr(ImageSource, "get", counted_get)

    def reset(self) -> None:
        self.encodes = self.decodes = 0


@pytest.fixture
def counts(monkeypatch) -> Counts:
    return Counts(monkeypatch)


# ----- the page --------------------------------------------------------------------------
def test_warm_render_gives_the_same_page_without_encoding_or_decoding(tmp_path, counts):
    store = tmp_path / "store"
    results = tiny_results(store)
    plain = same_page(render_report(typed(results), figure_cache=FigureCache(None)))
    assert counts.encodes > 0 and counts.decodes > 0
    assert not (store / "figures").exists()  # caching off means nothing written

    counts.reset()
    cold = same_page(write_report(typed(results), tmp_path / "cold").read_text(encoding="utf-8"))  # default: the store's cache
    assert cold == plain and counts.encodes > 0
    assert any((store / "figures").rglob("*.bin"))

    counts.reset()
    warm = same_page(write_report(typed(results), tmp_path / "warm").read_text(encoding="utf-8"))
    assert warm == plain
    assert (counts.encodes, counts.decodes) == (0, 0)


def test_changed_inputs_change_the_figures_and_encode_no_photograph(tmp_path, counts):
    results = tiny_results(tmp_path / "store")
    first = same_page(render_report(typed(results)))
    counts.reset()

    changed = copy.deepcopy(results)
    gap = next(c for c in changed["cells"] if c["kind"] == "gap")
    gap["value"] += 0.25  # the heatmap shows gaps: its cell's number changes
    new = same_page(render_report(typed(changed)))
    assert counts.encodes == 0 and new != first
    assert new == same_page(render_report(typed(changed), figure_cache=FigureCache(None)))
    assert same_page(render_report(typed(results))) == first


def test_editing_the_encoding_code_changes_every_key(monkeypatch):
    before = cache_key("thumbnail", {"image": "x.png", "long_side": 176})
    monkeypatch.setattr(figure_cache, "code_version", lambda: "edited")
    assert cache_key("thumbnail", {"image": "x.png", "long_side": 176}) != before


def test_a_damaged_entry_is_redrawn_not_an_error(tmp_path, counts):
    results = tiny_results(tmp_path / "store")
    first = same_page(render_report(typed(results)))
    bins = sorted((tmp_path / "store" / "figures").rglob("*.bin"))
    assert len(bins) >= 6
    for i, path in enumerate(bins):  # one file of each entry damaged, every way in turn
        data, sidecar = path.read_bytes(), path.with_suffix(".json")
        damage = i % 6
        if damage < 3:
            path.write_bytes((b"", data[: len(data) // 2], bytes(255 - b for b in data))[damage])  # gone, short, flipped
        elif damage == 3:
            sidecar.write_text("{not json", encoding="utf-8")
        elif damage == 4:
            sidecar.write_text(json.dumps({"format": 1, "sizes": "x"}), encoding="utf-8")
        else:
            sidecar.unlink()
    counts.reset()
    assert same_page(render_report(typed(results))) == first
    assert counts.encodes >= len(bins)  # every damaged entry made again (a strip entry: two pictures)
    counts.reset()
    assert same_page(render_report(typed(results))) == first  # rewritten: warm again
    assert (counts.encodes, counts.decodes) == (0, 0)


def test_an_entry_of_the_wrong_shape_is_a_miss(tmp_path):
    cache = FigureCache(tmp_path)
    cache.save(cache_key("thumbnail", {"image": "x"}), Entry((b"abc",), {"no": "width"}))
    made = []
    got = cache.get_or_make(
        "thumbnail",
        {"image": "x"},
        lambda: made.append(1) or (b"new", 1, 2),
        encode=figure_cache.picture_entry,
        decode=figure_cache.entry_picture,
    )
    assert (got, made) == ((b"new", 1, 2), [1])
    assert cache.load(cache_key("thumbnail", {"image": "x"})) == Entry((b"new",), {"width": 1, "height": 2})


def test_no_store_folder_means_no_cache_and_nothing_created(tmp_path):
    gone = tmp_path / "no-such-store"
    for cache in (FigureCache(None), FigureCache(gone)):
        assert not cache.enabled
        got = cache.get_or_make(
            "thumbnail", {"a": 1}, lambda: (b"jpg", 1, 1), encode=figure_cache.picture_entry, decode=figure_cache.entry_picture
        )
        assert got == (b"jpg", 1, 1)
    assert not gone.exists()


def test_pytest_html_thumbnails_and_summary_use_the_cache(tmp_path, counts):
    from iqa_audit.audit.pytest_html import HtmlExtras, summary_html

    results = tiny_results(tmp_path / "store")
    record = parse(results["cells"][0])
    cold = HtmlExtras(config=None, store_root=tmp_path / "store").case_html(record)
    assert counts.encodes == 2  # step 1 and step Δ
    counts.reset()
    warm = HtmlExtras(config=None, store_root=tmp_path / "store").case_html(record)  # a fresh worker
    assert warm == cold and (counts.encodes, counts.decodes) == (0, 0)

    assert "<svg" in summary_html(parse_all(results["cells"]))


# ----- keys and files --------------------------------------------------------------------
finite_or_nan = st.floats(allow_infinity=True, allow_nan=True, width=64)


@settings(max_examples=60, deadline=None)
@given(a=finite_or_nan, b=finite_or_nan)
def test_keys_tell_floats_apart_exactly(a, b):
    """Equal values (NaN included) share a key; any two different floats, however close, do not."""
    same = (a == b and str(a) == str(b)) or (math.isnan(a) and math.isnan(b))  # 0.0 and -0.0 draw differently ("−0.00")
    assert (cache_key("curves", {"v": a}) == cache_key("curves", {"v": b})) == same


def test_keys_ignore_dict_order_but_not_kind():
    assert cache_key("k", {"a": 1, "b": [1.5, None]}) == cache_key("k", {"b": [1.5, None], "a": 1})
    assert cache_key("k", {"a": 1}) != cache_key("other", {"a": 1})
    assert cache_key("k", {"a": 1}) != cache_key("k", {"a": True})
    with pytest.raises(TypeError, match="cannot key"):
        cache_key("k", {"a": object()})


def test_concurrent_writers_never_show_half_an_entry(tmp_path):
    """Two writers rewrite one key while a reader reads it: once written, the entry reads
    back whole every time (a plain truncate-and-write would show a short file, a miss)."""
    cache = FigureCache(tmp_path)
    key = cache_key("thumbnail", {"image": "big"})
    entry = Entry((bytes(range(256)) * 4096, b"second part"), {"width": 7, "height": 9})  # 1 MiB: slow to write
    data = b"".join(entry.parts)
    cache.save(key, entry)
    bin_path = next(tmp_path.rglob(f"{key}.bin"))
    stop, reads, bad = threading.Event(), [0], []

    def write():
        for _ in range(20):
            cache.save(key, entry)

    def read():
        while not stop.is_set():
            if cache.load(key) != entry or bin_path.read_bytes() != data:
                bad.append(1)
            reads[0] += 1

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write) for _ in range(2)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    reader.join()
    assert reads[0] > 0 and not bad
    assert not [p for p in tmp_path.rglob(".tmp-*")]  # no temporary files left
