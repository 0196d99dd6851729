"""Profiles from pyproject.toml, refined key by key, overridden by options."""

import pytest

from iqa_audit.config import resolve_config
from iqa_audit.errors import ConfigError


def _pyproject(tmp_path, text):
    p = tmp_path / "pyproject.toml"
    p.write_text(text)
    return p


def test_builtin_profiles_and_overrides():
    quick = resolve_config({})
    assert quick.profile == "quick" and quick.delta_steps == (5, 10, 20) and quick.scored_steps == (0, 1, 5, 10, 20)
    paper = resolve_config({"profile": "paper", "runs": 3})
    assert paper.steps == 100 and paper.long_side == 2048 and paper.runs == 3


def test_pyproject_profile_refines_a_builtin_one_key_by_key(tmp_path):
    p = _pyproject(
        tmp_path,
        '[tool.iqa_audit]\nprofile = "quick"\ndevice = "cuda"\n'
        '[tool.iqa_audit.profiles.quick]\nruns = 3\n[tool.iqa_audit.profiles.mine]\nmetrics = ["pyiqa:piqe"]\n',
    )
    cfg = resolve_config({}, pyproject=p)
    assert cfg.runs == 3 and cfg.steps == 20 and cfg.device == "cuda"
    assert resolve_config({"profile": "mine"}, pyproject=p).metrics == ("pyiqa:piqe",)


@pytest.mark.parametrize(
    "over, message",
    [
        ({"profile": "nope"}, "--profile"),
        ({"runs": 0}, "runs"),
        ({"delta_steps": ("1",)}, "step 1 is the reference"),
        ({"delta_steps": ("x",)}, "whole numbers"),
        ({"device": "tpu"}, "--device"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_values_are_clear_errors(over, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config(over)


def test_paid_counter_and_judge_are_opt_in_by_name():
    cfg = resolve_config({"counter": "vlm:gemini-2.5-flash", "judge": "llm:gemini-2.5-flash"})
    assert cfg.counter_model() == "gemini-2.5-flash" and cfg.judge_model() == "gemini-2.5-flash"
    assert resolve_config({}).counter_model() is None
    with pytest.raises(ConfigError, match="--counter"):
        resolve_config({"counter": "gpt"}).counter_model()


def test_delta_steps_beyond_the_chain_are_refused_for_the_metric_audit():
    with pytest.raises(ConfigError, match="at most --steps"):
        resolve_config({"steps": 8}).check_delta_steps_built()
