"""Profiles from pyproject.toml, refined key by key, overridden by options."""

import re

import pytest

from iqa_audit.config.audit_config import BUILTIN_PROFILES, resolve_config
from iqa_audit.config.options import BY_DEST
from iqa_audit.core.errors import ConfigError


def _pyproject(tmp_path, text):
    p = tmp_path / "pyproject.toml"
    p.write_text(text)
    return p


def test_builtin_profiles_and_overrides():
    quick = resolve_config({})
    assert quick.profile == "quick" and quick.delta_steps == (5, 10, 20) and quick.scored_steps == (0, 1, 5, 10, 20)
    paper = resolve_config({"profile": "paper", "runs": 3})
    assert paper.steps == 100 and paper.long_side == 2048 and paper.runs == 3


def test_every_profile_the_help_names_works_without_a_pyproject(tmp_path, monkeypatch):
    """An installed wheel has no pyproject.toml of ours: the profiles --profile's help offers must be built in."""
    offered = re.findall(r"\b([a-z]+)(?: \(default\))?,", BY_DEST["profile"].help)
    assert set(offered) == set(BUILTIN_PROFILES), offered
    monkeypatch.chdir(tmp_path)
    smoke = resolve_config({"profile": "smoke"})
    assert smoke.seeds == ("grid-perspective",) and smoke.runs == 1 and "sim-grain-tint" in smoke.editors


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


# ----- every pyproject.toml key: its TOML type and range, from the options table -------------
from iqa_audit.config.option_definition import FLAG, FLOAT, INT, INTS, NAMES, SPECS, TEXT, at_least, toml_text  # noqa: E402
from iqa_audit.config.options import SETTINGS  # noqa: E402

# Wrong values per value kind: other TOML types, and the string spelling of a right one.
WRONG = {
    INT: ["10", 10.5, 10.0, True, [10], {"n": 10}],
    FLOAT: ["0.05", True, [0.05], 1.5, -0.1],
    INTS: [[5.0, 10], ["5", "10"], 5, "five", [], [True], [[5]]],
    NAMES: [5, [1], True, ["a", 2], {"a": "b"}, 1.5],
    SPECS: [5, [1], False, ["codec-jpeg", 2]],
    TEXT: [5, ["cpu"], True, 1.5, {"a": "b"}],
    FLAG: ["false", "true", "no", 0, 1, ["true"], 1.0],
}
TABLES = {"top": "[tool.iqa_audit]", "profile": "[tool.iqa_audit.profiles.mine]"}


def _setting_file(tmp_path, table, key, value):
    chosen = "" if key == "profile" else 'profile = "mine"\n'  # the key under test chooses the profile
    head = "[tool.iqa_audit]\n" + chosen + ("[tool.iqa_audit.profiles.mine]\n" if table == "profile" else "")
    tail = "" if table == "profile" else "[tool.iqa_audit.profiles.mine]\n"
    return _pyproject(tmp_path, f"{head}{key} = {toml_text(value)}\n{tail}")


@pytest.mark.parametrize("table", sorted(TABLES))
@pytest.mark.parametrize(
    "key, value", [pytest.param(k, v, id=f"{k}={toml_text(v)}") for k, o in sorted(SETTINGS.items()) for v in WRONG[o.kind]]
)
def test_a_value_of_the_wrong_type_names_the_key_the_table_the_file_and_the_fix(tmp_path, table, key, value):
    if key == "profile" and table == "profile":
        pytest.skip("a profile naming a profile has its own test")
    p = _setting_file(tmp_path, table, key, value)
    with pytest.raises(ConfigError) as e:
        resolve_config({}, pyproject=p)
    message = str(e.value)
    assert f"{key} in {TABLES[table]} of {p}" in message
    assert f"got {toml_text(value)} (" in message and f"Write e.g. {key} = " in message


@pytest.mark.parametrize("table", sorted(TABLES))
@pytest.mark.parametrize("key", sorted(SETTINGS))
def test_every_example_in_the_table_is_a_right_value(tmp_path, table, key):
    if key == "profile" and table == "profile":
        pytest.skip("a profile never names a profile")
    example = SETTINGS[key].example
    assert example is not None, f"{key} needs an example: every fix quotes it"
    p = _setting_file(tmp_path, table, key, example)
    if key == "profile":  # the example profile is a built-in one
        assert resolve_config({}, pyproject=p).profile == example
        return
    cfg = resolve_config({}, pyproject=p)
    got = getattr(cfg, key)
    assert got == example or list(got) == list(example) or (got is None and example == 0)


COUNTS = sorted((k, o) for k, o in SETTINGS.items() if o.kind == INT)


@pytest.mark.parametrize("key", [k for k, _ in COUNTS])
def test_a_count_below_its_range_is_refused_naming_the_key(tmp_path, key):
    low = next(n for n in range(-1, 10) if SETTINGS[key].check(n) is None)  # the smallest right value
    p = _setting_file(tmp_path, "top", key, low - 1)
    with pytest.raises(ConfigError, match=rf"{key} in \[tool.iqa_audit\] of .*a whole number, {low} or more"):
        resolve_config({}, pyproject=p)
    assert SETTINGS[key].check(-1) is not None  # no count takes a negative number


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("stability_steps", 2, "3 or more"),
        ("delta_steps", [1, 5], "step 1 is the reference"),
        ("device", "tpu", "cpu, cuda or cuda:N"),
        ("counter", "gpt", "'blob' or 'vlm:<gemini model>'"),
        ("audit_cases", ["replicate"], "'task:seed'"),
        ("stability_cases", "add-apples", "'add-task:seed'"),
        ("stability_cases", ["add-apples:"], "'add-task:seed'"),
    ],
)
def test_a_value_out_of_its_range_is_refused_naming_the_key(tmp_path, key, value, words):
    p = _setting_file(tmp_path, "profile", key, value)
    with pytest.raises(ConfigError, match=rf"{key} in \[tool.iqa_audit.profiles.mine\] of {re.escape(str(p))}") as e:
        resolve_config({}, pyproject=p)
    assert words in str(e.value)


@pytest.mark.parametrize("table", sorted(TABLES))
@pytest.mark.parametrize(
    "key, suggestion", [("stabilty_steps", "stability_steps"), ("every_steps", "every_step"), ("run", "runs")]
)
def test_an_unknown_key_is_refused_with_did_you_mean(tmp_path, table, key, suggestion):
    p = _setting_file(tmp_path, table, key, 3)
    with pytest.raises(ConfigError) as e:
        resolve_config({}, pyproject=p)
    message = str(e.value)
    assert f"{TABLES[table]} of {p}: key {key!r}" in message and f"Did you mean {suggestion}" in message


@pytest.mark.parametrize(
    "text, words",
    [
        ("[tool.iqa_audit]\nprofiles = 3\n", "profiles in [tool.iqa_audit]"),
        ("[tool.iqa_audit.profiles]\nmine = 3\n", "[tool.iqa_audit.profiles.mine] of"),
        ('[tool.iqa_audit.profiles.mine]\nprofile = "quick"\n', "profile in [tool.iqa_audit.profiles.mine]"),
        ('[tool.iqa_audit]\nprofile = "quik"\n', "Did you mean quick"),
    ],
)
def test_the_tables_themselves_are_checked(tmp_path, text, words):
    with pytest.raises(ConfigError) as e:
        resolve_config({}, pyproject=_pyproject(tmp_path, text))
    assert words in str(e.value)


def test_an_unused_profile_is_checked_too(tmp_path):
    """Every key once at configure, whichever profile runs: a mistake waits for no one."""
    p = _pyproject(tmp_path, '[tool.iqa_audit.profiles.later]\nstability_runs = "2"\n')
    with pytest.raises(ConfigError, match=r"stability_runs in \[tool.iqa_audit.profiles.later\]"):
        resolve_config({}, pyproject=p)


def test_string_false_is_never_read_as_true_even_from_code():
    with pytest.raises(ConfigError, match="every_step.*true or false"):
        resolve_config({"every_step": "false"})


def test_a_right_file_resolves_with_where_each_value_came_from(tmp_path):
    p = _pyproject(
        tmp_path,
        '[tool.iqa_audit]\nprofile = "mine"\nevery_step = false\nstability_long_side = 0\n'
        '[tool.iqa_audit.profiles.mine]\nstability_steps = 4\ndelta_steps = "5,10"\n',
    )
    cfg = resolve_config({"runs": 3}, pyproject=p)
    assert cfg.every_step is False and cfg.stability_long_side is None and cfg.stability_steps == 4
    assert cfg.delta_steps == (5, 10) and cfg.runs == 3
    assert cfg.label("stability_steps") == f"stability_steps in [tool.iqa_audit.profiles.mine] of {p}"
    assert cfg.label("every_step") == f"every_step in [tool.iqa_audit] of {p}" and cfg.label("runs") == "--runs"


def test_at_least_is_the_one_count_check():
    assert at_least(1)(1) is None and at_least(1)(0) and at_least(1)(True) and at_least(1)("1")


def test_compare_editor_joins_the_editor_audit_beside_the_editor_you_audit():
    cfg = resolve_config({"editors": ["codec-jpeg:quality=50"], "compare_editors": ["codec-jpeg:quality=90"]})
    assert cfg.audit_editors == ("codec-jpeg:quality=50", "codec-jpeg:quality=90")
    assert cfg.editors == ("codec-jpeg:quality=50",)  # the metric audit's chains are yours alone
    default = resolve_config({})
    alone = resolve_config({"compare_editors": ["sim-crop"]})  # no --editor: beside the audit_editors setting
    assert alone.audit_editors == tuple(dict.fromkeys((*default.audit_editors, "sim-crop")))
    assert resolve_config({"compare_editors": []}).audit_editors == default.audit_editors
