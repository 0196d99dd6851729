"""Chains: resumable, byte-identical, built once under concurrency, corruption handled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from iqa_audit.chains.chain import ChainSpec, build_chain, load_chain, resolve, setting_label
from iqa_audit.chains.paid import BudgetExhausted, PaidBudget
from iqa_audit.core.errors import ConfigError, EditRefused, StoreError
from iqa_audit.core.images import Image
from iqa_audit.editors.base import EditResult
from iqa_audit.store.store import Store

ROOT = Path(__file__).resolve().parents[2]


def _spec(seed_dir, steps=6, editor="codec-jpeg", run=0):
    return ChainSpec(seed="tiny", editor=editor, task="replicate", run=run, steps=steps, long_side=None)


def _bytes(store, chain):
    return [store.read_bytes(s.image_hash, s.ext) for s in chain.ok_steps]


def test_step_k_is_the_editor_applied_to_step_k_minus_1_bytes(store, seed_dir):
    chain = build_chain(store, _spec(seed_dir), extra_seed_dirs=[str(seed_dir)])
    assert chain.complete and [s.step for s in chain.steps] == list(range(7))
    rc = resolve(_spec(seed_dir), extra_seed_dirs=[str(seed_dir)])
    prev = store.get_image(chain.steps[2].image_hash, chain.steps[2].ext)
    again = rc.editor.edit(prev, rc.task.prompt(3), seed=0, step=3)
    assert again.image.data() == store.read_bytes(chain.steps[3].image_hash, chain.steps[3].ext)
    assert chain.steps[3].prompt == "Produce an exact replica of the provided image, with no alterations."
    assert chain.steps[0].meta["seed"]  # provenance of the seed


def test_more_steps_extend_the_same_chain_and_fewer_read_a_prefix(store, seed_dir):
    short = build_chain(store, _spec(seed_dir, steps=3), extra_seed_dirs=[str(seed_dir)])
    long = build_chain(store, _spec(seed_dir, steps=6), extra_seed_dirs=[str(seed_dir)])
    assert short.key == long.key
    assert [s.image_hash for s in long.steps[:4]] == [s.image_hash for s in short.steps]
    prefix = load_chain(store, _spec(seed_dir, steps=2), extra_seed_dirs=[str(seed_dir)])
    assert len(prefix.steps) == 3


def test_runs_and_editors_give_distinct_chains(store, seed_dir):
    a = resolve(_spec(seed_dir, run=0), extra_seed_dirs=[str(seed_dir)])
    b = resolve(_spec(seed_dir, run=1), extra_seed_dirs=[str(seed_dir)])
    c = resolve(_spec(seed_dir, editor="codec-jpeg:quality=50"), extra_seed_dirs=[str(seed_dir)])
    assert len({a.key, b.key, c.key}) == 3
    assert setting_label("codec-jpeg:quality=50", "replicate") == "codec-jpeg-quality50-replicate"


def test_corrupt_file_of_a_free_chain_is_rebuilt_identically(store, seed_dir):
    chain = build_chain(store, _spec(seed_dir), extra_seed_dirs=[str(seed_dir)])
    before = _bytes(store, chain)
    victim = chain.steps[3]
    store.object_path(victim.image_hash, victim.ext).write_bytes(b"garbage")
    rebuilt = build_chain(store, _spec(seed_dir), extra_seed_dirs=[str(seed_dir)])
    assert _bytes(store, rebuilt) == before


class _PaidEcho:
    """A paid editor stand-in: counts requests, returns its input with one pixel changed."""

    id, version, paid = "paid-echo", "1", True

    def __init__(self):
        self.requests = 0

    def params(self):
        return {}

    def edit(self, image, prompt, *, seed, step):
        self.requests += 1
        if step == 4:
            raise EditRefused("SAFETY", {"finish_reason": "SAFETY"})
        px = image.pixels.copy()
        px[0, 0] = step
        return EditResult(Image(px), reasoning=f"step {step}")


def test_paid_chain_never_re_requests_and_reports_corruption(store, seed_dir):
    editor = _PaidEcho()
    rc = resolve(_spec(seed_dir, editor="identity"), extra_seed_dirs=[str(seed_dir)], editor=editor)
    chain = build_chain(store, rc, budget=PaidBudget(100))
    assert chain.stopped_reason == "SAFETY" and not chain.complete
    assert editor.requests == 4 and chain.steps[-1].status == "refused"
    assert chain.steps[1].reasoning == "step 1"
    build_chain(store, rc, budget=PaidBudget(100))  # a refused step ends the chain: nothing is asked again
    assert editor.requests == 4
    s = chain.steps[2]
    store.object_path(s.image_hash, s.ext).unlink()
    with pytest.raises(StoreError, match="paid step 2"):
        build_chain(store, rc, budget=PaidBudget(100))
    assert editor.requests == 4


def test_a_lost_seed_file_is_restored_by_rendering_the_seed_again(store, seed_dir):
    editor = _PaidEcho()
    rc = resolve(_spec(seed_dir, editor="identity", steps=3), extra_seed_dirs=[str(seed_dir)], editor=editor)
    chain = build_chain(store, rc, budget=PaidBudget(100))
    s0 = chain.steps[0]
    store.object_path(s0.image_hash, s0.ext).unlink()
    again = build_chain(store, rc, budget=PaidBudget(100))
    assert editor.requests == 3 and store.verify(s0.image_hash, s0.ext)
    assert [s.image_hash for s in again.steps] == [s.image_hash for s in chain.steps]


def test_paid_budget_caps_new_requests(store, seed_dir):
    editor = _PaidEcho()
    rc = resolve(_spec(seed_dir, editor="identity", steps=3), extra_seed_dirs=[str(seed_dir)], editor=editor)
    with pytest.raises(BudgetExhausted, match="max-paid-steps"):
        build_chain(store, rc, budget=PaidBudget(2))
    assert editor.requests == 2 and len(store.steps(rc.key)) == 3  # seed + 2 kept
    build_chain(store, rc, budget=PaidBudget(1))
    assert editor.requests == 3


def test_negative_steps_are_rejected():
    with pytest.raises(ConfigError, match="--steps"):
        ChainSpec(seed="x", editor="identity", steps=-1)


_BUILDER = textwrap.dedent(
    """
    import sys, time
    from iqa_audit.chains.chain import ChainSpec, build_chain, resolve
    from iqa_audit.editors import create_editor
    from iqa_audit.store.store import Store

    class Slow:
        # codec-jpeg, slowed down so the parent can kill us mid-chain
        def __init__(self):
            self.inner = create_editor("codec-jpeg")
            self.id, self.version, self.paid = self.inner.id, self.inner.version, False
        def params(self):
            return self.inner.params()
        def edit(self, image, prompt, *, seed, step):
            time.sleep(float(sys.argv[3]))
            return self.inner.edit(image, prompt, seed=seed, step=step)

    spec = ChainSpec(seed="tiny", editor="codec-jpeg", task="replicate", run=0, steps=int(sys.argv[4]), long_side=None)
    rc = resolve(spec, extra_seed_dirs=[sys.argv[2]], editor=Slow())
    build_chain(Store(sys.argv[1]), rc)
    """
)


def _builder(tmp_path, store_root, seed_dir, delay, steps):
    script = tmp_path / "builder.py"
    script.write_text(_BUILDER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(script), str(store_root), str(seed_dir), str(delay), str(steps)], env=env)


@pytest.mark.slow
def test_sigkill_mid_chain_then_resume_is_byte_identical(tmp_path, seed_dir):
    steps = 12
    killed_root, clean_root = tmp_path / "killed", tmp_path / "clean"
    proc = _builder(tmp_path, killed_root, seed_dir, 0.15, steps)
    spec = ChainSpec(seed="tiny", editor="codec-jpeg", task="replicate", run=0, steps=steps, long_side=None)
    key = resolve(spec, extra_seed_dirs=[str(seed_dir)]).key
    deadline = time.time() + 60
    stored = 0
    while time.time() < deadline:
        if (killed_root / "manifest.sqlite").exists():
            stored = len(Store(killed_root).steps(key))
            if stored >= 4:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert 4 <= stored < steps + 1, "the builder must be killed mid-chain for this test to mean anything"
    killed = Store(killed_root)
    resumed = build_chain(killed, spec, extra_seed_dirs=[str(seed_dir)])
    clean = build_chain(Store(clean_root), spec, extra_seed_dirs=[str(seed_dir)])
    assert resumed.complete
    assert [s.image_hash for s in resumed.steps] == [s.image_hash for s in clean.steps]
    assert _bytes(killed, resumed) == _bytes(Store(clean_root), clean)


def _count_and_build(args):
    root, seed_dir = args
    store = Store(root)
    spec = ChainSpec(seed="tiny", editor="codec-jpeg", task="replicate", run=0, steps=8, long_side=None)
    chain = build_chain(store, spec, extra_seed_dirs=[seed_dir])
    return [s.image_hash for s in chain.steps]


@pytest.mark.slow
def test_concurrent_builders_build_each_step_once(tmp_path, seed_dir):
    root = tmp_path / "shared"
    with ProcessPoolExecutor(3) as pool:
        results = list(pool.map(_count_and_build, [(str(root), str(seed_dir))] * 3))
    assert results[0] == results[1] == results[2]
    store = Store(root)
    # One row per step (the primary key would reject a duplicate insert), one chain.
    assert len(store.chains()) == 1 and len(store.steps(store.chains()[0].key)) == 9


def test_a_chain_held_by_another_builder_is_busy_without_waiting_and_built_once_free(store):
    from iqa_audit.chains.chain import ChainBusy, resolve

    rc = resolve(ChainSpec(seed="grid-perspective", editor="codec-jpeg", steps=2, long_side=128))
    other = store.chain_file_lock(rc.key)  # another builder (a second lock file handle)
    other.acquire()
    try:
        with pytest.raises(ChainBusy):
            build_chain(store, rc, wait=False)
        assert store.chain(rc.key) is None  # nothing written while another builder holds it
    finally:
        other.release()
    assert [s.step for s in build_chain(store, rc, wait=False).steps] == [0, 1, 2]


def test_without_a_budget_a_paid_editor_is_never_asked(store, seed_dir):
    editor = _PaidEcho()
    rc = resolve(_spec(seed_dir, editor="identity", steps=3), extra_seed_dirs=[str(seed_dir)], editor=editor)
    with pytest.raises(BudgetExhausted, match="at most 0 paid steps"):
        build_chain(store, rc)
    assert editor.requests == 0


def _take_all(budget):
    taken = 0
    try:
        while True:
            budget.take("x")
            taken += 1
    except BudgetExhausted:
        return taken


def test_a_shared_budget_is_one_allowance_across_processes():
    budget = PaidBudget.shared(7)
    try:
        with ProcessPoolExecutor(3) as pool:
            taken = list(pool.map(_take_all, [budget] * 3))
        assert sum(taken) == 7 and budget.used == 7
    finally:
        budget.close()
    import pickle

    with pytest.raises(TypeError, match="cannot cross processes"):
        pickle.dumps(PaidBudget(3))
