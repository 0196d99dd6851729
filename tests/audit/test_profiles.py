"""The chains' artifact profiles at the end of a run (audit/profiles.py): each pair of
images profiled once and kept in the store under their content hashes and the profile's
version; one record per chain; the closest simulator of a model or imported chain, from
this run's simulator chains or else from the reference set built on the chain's own
step-1 image."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from iqa_audit.analysis import artifact_profile as ap
from iqa_audit.audit import profiles
from iqa_audit.audit.profiles import REFERENCE_SETTINGS, chains_of, profile_records, source_of
from iqa_audit.core.images import Image
from iqa_audit.editors import create_editor
from iqa_audit.results.records import EditorRecord, ProfileRecord, parse
from iqa_audit.seeds import get_seed
from iqa_audit.store.store import Store
from iqa_audit.tasks.table import get_task
from tests.conftest import textured_image
from tests.tiny_audit import GAP_TEST, tiny_audit_args

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]
SEED = "soft-texture"
SIDE = 384


def chain_images(store: Store, spec: str, *, steps: int, runs: int = 1, seed: str = SEED, side: int = SIDE) -> dict:
    """{run: {step: name}} of a replicate chain of `spec` built in memory as the builder does, stored."""
    editor, task = create_editor(spec), get_task("replicate")
    out = {}
    for run in range(runs):
        image = get_seed(seed).render(side)
        names = {}
        for k in range(1, steps + 1):
            image = editor.edit(image, task.prompt(k), seed=run, step=k).image
            digest, ext = store.put_image(image)
            names[str(k)] = f"{digest}.{ext}"
        out[str(run)] = names
    return out


def record(setting: str, editor: str, images: dict, seed: str = SEED) -> EditorRecord:
    """An editor cell's record naming a chain (what the profiles read: setting, seed, editor, images)."""
    return EditorRecord(
        cell=f"editor:tint-{setting}-{seed}",
        check="tint",
        setting=setting,
        seed=seed,
        editor=editor,
        task="replicate",
        passed=True,
        value=0.0,
        version="1",
        images=images,
    )


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "store")
    yield s
    s.close()


def test_source_of_tells_simulators_models_and_imports_apart():
    assert source_of("sim-grain-tint") == source_of("codec-jpeg:quality=30") == "simulator"
    assert source_of("vae-roundtrip:model=x") == source_of("gemini-3-pro-image-preview") == "model"
    assert source_of("imported") == source_of(None) == "imported"


def test_each_pair_is_profiled_once_and_kept_under_its_images_and_version(store, monkeypatch):
    images = chain_images(store, "sim-noise-tint", steps=5, runs=2)
    recs = [record("sim-noise-tint-replicate", "sim-noise-tint", images)]
    calls = []
    real = profiles.artifact_profile
    monkeypatch.setattr(profiles, "artifact_profile", lambda *a: calls.append(1) or real(*a))
    first = profile_records(store, recs, (3, 5, 20))  # 20: not reached, not profiled
    assert len(calls) == 4  # 2 runs x steps 3 and 5
    (rec,) = first
    assert set(rec.steps) == {"3", "5"} and rec.runs == {"3": 2, "5": 2}
    assert rec.source == "simulator" and rec.version == ap.PROFILE_VERSION and rec.closest == ()
    assert rec.steps["5"]["residual_rms"] > rec.steps["3"]["residual_rms"] > 0  # the damage accumulates
    assert profile_records(store, recs, (3, 5)) == first and len(calls) == 4  # warm: read from the store
    # another image at step 5 of run 1: only that pair is profiled again
    other = chain_images(store, "sim-grain-tint", steps=5)["0"]["5"]
    changed = {"0": images["0"], "1": {**images["1"], "5": other}}
    profile_records(store, [record("sim-noise-tint-replicate", "sim-noise-tint", changed)], (3, 5))
    assert len(calls) == 5
    # a new profile version is a new key: everything is profiled again
    monkeypatch.setattr(profiles, "PROFILE_VERSION", ap.PROFILE_VERSION + 1)
    profile_records(store, recs, (3, 5))
    assert len(calls) == 9


def test_a_model_chain_is_matched_to_this_runs_simulator_on_the_same_seed(store):
    """A chain a "model" made (here sim-grain-tint's run 1 under a model's name, where the
    simulators ran run 0) is nearest to the simulator that made it; a simulator chain on
    another seed does not count."""
    sims = ("sim-noise-tint", "sim-grain-tint", "codec-reupload")
    recs = [record(f"{s}-replicate", s, chain_images(store, s, steps=5)) for s in sims]
    elsewhere = chain_images(store, "sim-grain-tint", steps=5, seed="deep-shadows")
    recs.append(record("sim-scatter-replicate", "sim-scatter", elsewhere, seed="deep-shadows"))
    model = {"0": chain_images(store, "sim-grain-tint", steps=5, runs=2)["1"]}
    recs.append(record("vae-roundtrip-replicate", "vae-roundtrip", model))
    by_cell = {r.cell: r for r in profile_records(store, recs, (5,))}
    target = by_cell[f"profile:vae-roundtrip-replicate-{SEED}"]
    assert target.source == "model" and target.closest_from == "run"
    assert [c["setting"] for c in target.closest][0] == "sim-grain-tint-replicate"
    assert {c["setting"] for c in target.closest} == {f"{s}-replicate" for s in sims}  # not the other seed's
    assert target.closest[0]["step"] == 5 and target.closest[0]["distance"] < target.closest[1]["distance"]
    assert all(not r.closest for r in by_cell.values() if r.source == "simulator")
    assert parse(target.to_dict()) == target  # results.json round trip


@pytest.mark.parametrize("made_by", ["sim-grain-tint", "codec-reupload"])
def test_without_simulators_in_the_run_the_reference_set_names_the_maker(store, made_by, monkeypatch):
    images = chain_images(store, made_by, steps=4, side=512)
    chain = [record("gemini-x-replicate", "gemini-3-pro-image-preview", images)]
    # not asked for: nothing is simulated, and the record says why there is no closest simulator
    build = profiles.Profiles._simulate
    monkeypatch.setattr(profiles.Profiles, "_simulate", lambda *a: pytest.fail("built without --match-simulators"))
    (unasked,) = profile_records(store, chain, (4,))
    assert unasked.closest == () and unasked.closest_from == ProfileRecord.NOT_BUILT and unasked.steps
    monkeypatch.setattr(profiles.Profiles, "_simulate", build)
    (rec,) = profile_records(store, chain, (4,), match_simulators=True)
    assert rec.closest_from == "reference" and rec.closest[0]["setting"] == made_by
    assert {c["setting"] for c in rec.closest} <= set(REFERENCE_SETTINGS)
    # deterministic and kept: a later run, asked or not, builds no reference chain and uses it
    monkeypatch.setattr(profiles.Profiles, "_simulate", lambda *a: pytest.fail("the reference set was built again"))
    assert profile_records(store, chain, (4,), match_simulators=True) == [rec]
    assert profile_records(store, chain, (4,)) == [rec]


def test_a_chain_that_cannot_be_profiled_gets_an_error_not_a_failed_run(store):
    tiny = {}
    for k in (1, 3):
        px = np.full((32, 48, 3), 40 * k, np.uint8)
        digest, ext = store.put_image(Image.from_array(px))
        tiny[str(k)] = f"{digest}.{ext}"
    (rec,) = profile_records(store, [record("gemini-x-replicate", "gemini-3-pro-image-preview", {"0": tiny})], (3,))
    assert isinstance(rec, ProfileRecord) and rec.steps == {} and rec.error_type == "ValueError"
    assert rec.error.startswith("artifact profile of gemini-x-replicate/soft-texture: expected") and "64 px" in rec.error


def test_chains_merge_the_images_of_every_record_of_one_chain(store):
    a = record("s-replicate", "sim-noise-tint", {"0": {"1": "a.png", "3": "b.png"}})
    b = record("s-replicate", "sim-noise-tint", {"1": {"1": "c.png"}, "0": {"5": "d.png"}})
    (chain,) = chains_of([a, b])
    assert chain.images == {"0": {"1": "a.png", "3": "b.png", "5": "d.png"}, "1": {"1": "c.png"}}


def test_means_skip_statistics_a_run_does_not_define():
    nan = math.nan
    p = ap.ArtifactProfile(1.0, nan, nan, 2.0, 0.1, nan, 0.0, -1.0, 0.5, nan, 2.5)
    q = ap.ArtifactProfile(3.0, 0.5, nan, 4.0, 0.3, nan, 0.0, -3.0, 0.5, 1.2, 2.5)
    m = profiles._mean([p, q])
    assert m["residual_rms"] == 2.0 and m["spectrum_slope"] == 0.5 and m["peak_frequency"] is None
    assert ap.ArtifactProfile.from_dict(m).blockiness == 1.2


@pytest.mark.slow
def test_a_vae_roundtrip_run_reports_its_profile_and_closest_simulator(pytester, tmp_path):
    """End to end: an audit of a (tiny, random) VAE round-trip chain beside two simulators
    writes a profile per chain into results.json, the VAE chain's closest simulator taken
    from this run's simulator chains, and shows both in the report."""
    diffusers = pytest.importorskip("diffusers", reason="the diffusers extra is not installed")
    from tests.editors.test_vae_roundtrip import tiny_vae

    vae = tmp_path / "vae"
    tiny_vae("AutoencoderKL").save_pretrained(vae)
    assert diffusers.AutoencoderKL.from_pretrained(vae) is not None
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "tiny.png").write_bytes(textured_image(256, 192).data())
    pytester.makepyfile(test_gap=GAP_TEST)
    args = tiny_audit_args(tmp_path, seeds, "--editor", "sim-grain-tint", "--editor", f"vae-roundtrip:model={vae}")
    args[args.index("--runs") + 1] = "1"
    i = args.index("tests.plugin_metric_example:sharpness")
    del args[i - 1 : i + 1]  # one metric is enough: the profiles do not depend on it
    result = pytester.runpytest_subprocess(*args, "--run-name", "p", "-n", "0")
    assert result.ret in (0, 1), result.stdout.str()[-3000:]
    res = json.loads((tmp_path / "reports" / "p" / "results.json").read_text())
    by_setting = {p["setting"]: p for p in res["profiles"]}
    assert (
        set(by_setting) == {"sim-noise-tint-replicate", "sim-grain-tint-replicate", f"vae-roundtrip-model={vae}-replicate"}
        or len(by_setting) == 3
    )
    (vae_rec,) = [p for p in res["profiles"] if p["source"] == "model"]
    assert set(vae_rec["steps"]) == {"3", "6"} and vae_rec["closest_from"] == "run" and vae_rec["error"] is None
    assert {c["setting"] for c in vae_rec["closest"]} == {"sim-noise-tint-replicate", "sim-grain-tint-replicate"}
    page = (tmp_path / "reports" / "p" / "index.html").read_text()
    assert '<section id="profiles">' in page and "Closest simulator" in page
    assert page.count('<table class="compact profile">') == 3


def test_every_scored_step_is_profiled_each_delta_or_every_step_with_every_step(store):
    from iqa_audit.config.audit_config import resolve_config

    recs = [record("sim-noise-tint-replicate", "sim-noise-tint", chain_images(store, "sim-noise-tint", steps=5, runs=1))]
    every = resolve_config({"steps": 5, "delta_steps": (3, 5), "every_step": True})
    deltas = resolve_config({"steps": 5, "delta_steps": (3, 5)})
    assert set(profile_records(store, recs, every.scored_steps)[0].steps) == {"2", "3", "4", "5"}
    assert set(profile_records(store, recs, deltas.scored_steps)[0].steps) == {"3", "5"}
