"""A warm re-run reads what it computed before: metric identities, fidelity findings and
sanity verdicts come back from the store, and anything their inputs depend on changing
(an output image, the checks' code, the weights) makes them be computed again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from iqa_audit.audit.cells import EditorCell, GapCell, SanityCase
from iqa_audit.audit.services import Services
from iqa_audit.chains.plan import Setting
from iqa_audit.config.audit_config import resolve_config
from iqa_audit.metrics.identity import MetricIdentity, fingerprint, torch_hub_dir
from iqa_audit.store.memo import memo_key

ROOT = Path(__file__).resolve().parents[2]
SETTING = Setting("sim-noise-tint-replicate", "sim-noise-tint", "replicate")


def _cfg(tmp_path, seed_dir, **kw):
    base = {
        "seeds": ("tiny",),
        "seed_dirs": (str(seed_dir),),
        "editors": ("sim-noise-tint",),
        "runs": 1,
        "steps": 3,
        "delta_steps": (3,),
        "long_side": None,
        "metrics": ("pyiqa:piqe",),
        "store": str(tmp_path / "store"),
    }
    return resolve_config({**base, **kw})


def _refuse_loads(services: Services, monkeypatch) -> None:
    def refuse(name):
        raise AssertionError(f"metric {name} was loaded on a warm run")

    monkeypatch.setattr(services.scorer, "metric", refuse)


@pytest.mark.parametrize(
    "env", [{}, {"TORCH_HOME": "/tmp/th"}, {"XDG_CACHE_HOME": "/tmp/xdg"}, {"TORCH_HOME": "~/th", "XDG_CACHE_HOME": "/tmp/xdg"}]
)
def test_torch_hub_dir_without_torch_agrees_with_torch(monkeypatch, env):
    import torch.hub

    for var in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert torch_hub_dir() == Path(torch.hub.get_dir())


def test_fingerprint_changes_when_a_weight_file_appears_or_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    before = fingerprint("pyiqa:piqe")
    weights = tmp_path / "torch" / "hub" / "pyiqa"
    weights.mkdir(parents=True)
    (weights / "model.pth").write_bytes(b"v1")
    added = fingerprint("pyiqa:piqe")
    (weights / "model.pth").write_bytes(b"v2-longer")
    changed = fingerprint("pyiqa:piqe")
    assert len({before, added, changed}) == 3
    assert fingerprint("pyiqa:piqe") == changed  # stable when nothing changes
    assert fingerprint("iqa_audit:noise-sigma") is None  # cheap metrics just load


def test_identity_round_trips_through_json():
    from iqa_audit.metrics.base import TypicalRange

    ident = MetricIdentity("piqe", "pyiqa:piqe", "pyiqa-0.1.16+noweights", TypicalRange(0.0, 100.0, False, "Table 2"))
    assert MetricIdentity.from_json(ident.to_json()) == ident


def test_warm_gap_needs_no_metric_load_and_gives_the_same_series(tmp_path, seed_dir, monkeypatch):
    cfg = _cfg(tmp_path, seed_dir)
    cell = GapCell("pyiqa:piqe", "piqe", SETTING, "tiny", 3)
    cold = Services.open(cfg)
    cold_series = cold.gaps.series(cell)
    warm = Services.open(cfg)
    _refuse_loads(warm, monkeypatch)
    assert warm.gaps.series(cell) == cold_series
    assert warm.scorer.identity("pyiqa:piqe") == cold.scorer.identity("pyiqa:piqe")


def test_a_missing_score_loads_the_metric_after_all(tmp_path, seed_dir):
    cfg = _cfg(tmp_path, seed_dir)
    cell = GapCell("pyiqa:piqe", "piqe", SETTING, "tiny", 3)
    first = Services.open(cfg).gaps.series(cell)
    ident = first.metric_version
    with Services.open(cfg).store._tx() as db:  # lose one stored score
        db.execute("DELETE FROM scores WHERE rowid IN (SELECT rowid FROM scores WHERE metric_id='piqe' LIMIT 1)")
    again = Services.open(cfg).gaps.series(cell)
    assert again == first and again.metric_version == ident


def test_warm_fidelity_finding_is_read_not_recomputed(tmp_path, seed_dir, monkeypatch):
    cfg = _cfg(tmp_path, seed_dir)
    cell = EditorCell(SETTING, "tiny", "colours", steps=3, runs=1)
    cold = Services.open(cfg).editors.finding(cell)
    warm = Services.open(cfg).editors
    monkeypatch.setattr(warm, "_run_check", lambda *a: pytest.fail("check recomputed on a warm run"))
    assert warm.finding(cell) == cold


def test_fidelity_memo_key_depends_on_every_input():
    base = ("fidelity", "colours", "replicate", "seedhash", "outhash", 3, None, "code")
    variants = [base[:i] + ("other",) + base[i + 1 :] for i in range(1, len(base))]
    keys = {memo_key(*base), *(memo_key(*v) for v in variants)}
    assert len(keys) == len(base)


def test_editing_the_checks_code_invalidates_fidelity_memos(tmp_path, seed_dir, monkeypatch):
    import iqa_audit.audit.editor_cells as editor_cells

    cfg = _cfg(tmp_path, seed_dir)
    cell = EditorCell(SETTING, "tiny", "tint", steps=3, runs=1)
    Services.open(cfg).editors.finding(cell)
    calls = []
    monkeypatch.setattr(editor_cells, "code_digest", lambda *modules: "edited-" + ",".join(m.__name__ for m in modules))
    editors = Services.open(cfg).editors
    real = editors._run_check
    monkeypatch.setattr(editors, "_run_check", lambda *a: calls.append(1) or real(*a))
    editors.finding(cell)
    assert calls == [1]


def test_warm_sanity_verdict_is_read_not_recomputed(tmp_path, seed_dir, monkeypatch):
    cfg = _cfg(tmp_path, seed_dir)
    case = SanityCase("pyiqa:piqe", "piqe", "deterministic")
    cold = Services.open(cfg).sanity.result(case)
    warm = Services.open(cfg)
    _refuse_loads(warm, monkeypatch)
    assert warm.sanity.result(case) == cold and cold[0] is True


WARM_RUN = """
import json, sys
from iqa_audit.audit.cells import gap_cells
from iqa_audit.config.audit_config import resolve_config
from iqa_audit.audit.services import Services
cfg = resolve_config(json.loads(sys.argv[1]))
services = Services.open(cfg)
gaps = [services.gaps.gap(c).gap for c in gap_cells(cfg)]
print(json.dumps({"gaps": gaps, "torch": "torch" in sys.modules, "pyiqa": "pyiqa" in sys.modules}))
"""


def test_a_warm_run_imports_neither_torch_nor_pyiqa(tmp_path, seed_dir):
    cfg = {
        "seeds": ["tiny"],
        "seed_dirs": [str(seed_dir)],
        "editors": ["sim-noise-tint"],
        "runs": 1,
        "steps": 3,
        "delta_steps": [2, 3],
        "long_side": None,
        "metrics": ["pyiqa:piqe", "iqa_audit:noise-sigma"],
        "store": str(tmp_path / "store"),
    }
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}

    def run():
        out = subprocess.run(
            [sys.executable, "-c", WARM_RUN, json.dumps(cfg)], capture_output=True, text=True, timeout=300, env=env, cwd=ROOT
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    cold, warm = run(), run()
    assert cold["torch"] and cold["pyiqa"]
    assert warm == {"gaps": cold["gaps"], "torch": False, "pyiqa": False}


COUNTER_SOURCE = """
from dataclasses import dataclass


@dataclass(frozen=True)
class FakeCounter:
    id: str = "fake"

    def count(self, image):
        return {n}
"""


def _load_counter(path, n: int, monkeypatch):
    import importlib.util
    import sys

    path.write_text(COUNTER_SOURCE.replace("{n}", str(n)))
    spec = importlib.util.spec_from_file_location(f"fake_counter_{n}", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module.FakeCounter()


def test_object_counts_are_keyed_by_the_counters_code(tmp_path, store, monkeypatch):
    """Editing the counter's module (counting.py, or a user's) counts again instead of
    re-reading what the old code counted; the same code reads its counts back."""
    from iqa_audit.vlm.cached_counter import CachedCounter, counter_version
    from tests.conftest import textured_image

    img, src = textured_image(), tmp_path / "fake_counter.py"
    old = _load_counter(src, 1, monkeypatch)
    old_version = counter_version(old)
    assert CachedCounter(store, old, "apples").count(img) == 1
    new = _load_counter(src, 2, monkeypatch)  # the file edited: same id, same parameters
    assert counter_version(new) != old_version
    assert CachedCounter(store, new, "apples").count(img) == 2  # counted again, not the old code's 1
    # Unchanged code reads its count back without counting.
    monkeypatch.setattr(type(new), "count", lambda self, image: (_ for _ in ()).throw(AssertionError("counted")))
    assert CachedCounter(store, new, "apples").count(img) == 2


def test_counter_parameters_enter_the_key():
    from iqa_audit.vlm.cached_counter import counter_version
    from iqa_audit.vlm.counting import BlobCounter

    assert counter_version(BlobCounter()) == counter_version(BlobCounter())
    assert counter_version(BlobCounter()) != counter_version(BlobCounter(working_long_side=320))
