"""An encoder's size limit is an error naming the seed, its size, the limit and the fix,
raised before any work is done: at configure time in pytest, at plan time in the CLI, and
in build_chain before step 0 is stored. The limits come from one table (codec.CODECS),
and each entry is checked against the real encoder here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from iqa_audit.chains.chain import ChainSpec, build_chain
from iqa_audit.chains.plan import chain_specs, check_input_sizes
from iqa_audit.config.audit_config import resolve_config
from iqa_audit.core.errors import ConfigError
from iqa_audit.editors import create_editor
from iqa_audit.editors.base import size_problem
from iqa_audit.editors.codec import CODECS, encode
from iqa_audit.seeds import get_seed, procedural_seeds, seed_size
from iqa_audit.store.store import Store

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]


def strip_dir(tmp_path: Path, width: int, height: int = 48, name: str = "wide") -> Path:
    d = tmp_path / f"seeds-{width}"
    d.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    PILImage.fromarray(pixels).save(d / f"{name}.png", compress_level=1)
    return d


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_the_table_is_the_encoder_s_real_limit(codec):
    limit = CODECS[codec].max_side
    encode(PILImage.new("RGB", (limit, 1)), codec, 75)  # the limit itself encodes
    with pytest.raises((ValueError, OSError)):
        encode(PILImage.new("RGB", (limit + 1, 1)), codec, 75)


@pytest.mark.parametrize("codec, width", [("webp", 17000), ("jpeg", 65501)])
def test_a_seed_beyond_the_codec_s_limit_is_refused_at_plan_time_with_the_fix(codec, width, tmp_path):
    seeds = strip_dir(tmp_path, width, height=8)
    cfg = resolve_config(
        {
            "seeds": ("wide",),
            "seed_dirs": (str(seeds),),
            "editors": (f"codec-{codec}",),
            "long_side": 0,
            "runs": 1,
            "steps": 2,
            "audit_cases": (),
        }
    )
    with pytest.raises(ConfigError) as info:
        chain_specs(cfg)
    text = str(info.value)
    limit = CODECS[codec].max_side
    for part in ("seed 'wide'", f"{width}x8", f"codec-{codec}", f"{limit} px", f"--long-side {limit} or less"):
        assert part in text, part
    if codec == "webp":
        assert "codec-jpeg (up to 65500 px per side)" in text  # an editor that takes it


def test_the_same_seed_is_fine_rendered_smaller_or_snapped_to_the_editor_s_sizes(tmp_path):
    seeds = strip_dir(tmp_path, 17000)
    base = {"seeds": ("wide",), "seed_dirs": (str(seeds),), "runs": 1, "steps": 2, "audit_cases": ()}
    check_input_sizes(resolve_config({**base, "editors": ("codec-webp",), "long_side": 1024}))
    check_input_sizes(resolve_config({**base, "editors": ("codec-webp:size_table=gemini", "codec-jpeg"), "long_side": 0}))


def test_seed_size_is_the_rendered_size_without_rendering(tmp_path):
    seeds = strip_dir(tmp_path, 700, height=300, name="photo")
    user = get_seed("photo", extra_dirs=[str(seeds)])
    for long_side in (None, 512, 700, 64):
        assert seed_size(user, long_side) == user.render(long_side).size
    procedural = procedural_seeds()[0]
    assert seed_size(procedural, 96) == procedural.render(96).size


def test_build_chain_refuses_before_storing_anything(tmp_path):
    seeds = strip_dir(tmp_path, 17000)
    store = Store(tmp_path / "store")
    with pytest.raises(ConfigError, match=r"seed 'wide' \(17000x48 px at its native size"):
        build_chain(store, ChainSpec(seed="wide", editor="codec-webp", steps=3, long_side=None), extra_seed_dirs=[str(seeds)])
    assert store.chains() == [] and store.score_count() == 0
    assert not any(p.is_file() for p in store.objects.rglob("*"))


def test_editors_without_a_limit_take_any_size():
    for spec in ("identity", "sim-noise-tint", "codec-jpeg"):
        assert size_problem(create_editor(spec), 17000, 48) is None


def run_cli(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, str(ROOT / "generate_fixtures.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )


def test_cli_build_and_score_refuse_before_building(tmp_path):
    seeds = strip_dir(tmp_path, 17000)
    for command in ("build", "score"):
        out = run_cli(
            command,
            "--store",
            str(tmp_path / "s"),
            "--seed",
            "wide",
            "--seed-dir",
            str(seeds),
            "--editor",
            "codec-webp",
            "--runs",
            "1",
            "--steps",
            "2",
            "--long-side",
            "0",
        )
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr and "encoding error" not in out.stderr
        assert "seed 'wide' (17000x48 px" in out.stderr and "16383" in out.stderr and "--long-side" in out.stderr
        assert Store(tmp_path / "s").chains() == []


def test_pytest_refuses_at_configure_time_as_a_usage_error(pytester, tmp_path):
    seeds = strip_dir(tmp_path, 17000)
    pytester.makepyfile(test_gap="def test_gap(gap_cell):\n    pass\n")
    out = pytester.runpytest_subprocess(
        "-p",
        "iqa_audit.pytest_plugin",
        "-p",
        "no:cacheprovider",
        "--seed",
        "wide",
        "--seed-dir",
        str(seeds),
        "--editor",
        "codec-webp",
        "--long-side",
        "0",
        "--runs",
        "1",
        "--steps",
        "2",
        "--delta-steps",
        "2",
        "--metric",
        "iqa_audit:noise-sigma",
        "--store",
        str(tmp_path / "store"),
    )
    assert out.ret == 4  # pytest.UsageError: one line, no traceback, before collection
    err = out.stderr.str()
    assert "seed 'wide' (17000x48 px" in err and "16383" in err and "Traceback" not in err
    assert not (tmp_path / "store" / "manifest.sqlite").exists() or Store(tmp_path / "store").chains() == []
