"""`iqa-audit audit`: the shipped audit through pytest.main, every option pytest's to parse.

What the command hands pytest (its own switches out, the rest untouched and in order), its
help (every option of the plugin, from the one table), and its usage errors (one `ERROR:`
line, pytest's exit code 4). The run from an installed wheel is tests/suite/test_installed_audit.py.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from iqa_audit.cli.audit_cmd import PLUGIN, pytest_args
from iqa_audit.cli.main import main, parser
from iqa_audit.config.options import options_for

ROOT = Path(__file__).resolve().parents[2]
METRICS, EDITORS = "iqa_audit.suite.metrics", "iqa_audit.suite.editors"


def _args(*argv: str, cwd: Path = ROOT) -> list[str]:
    return pytest_args(parser().parse_args(["audit", *argv]), cwd=cwd)


HERE = ["--rootdir", str(ROOT)]  # this checkout's folder: its pyproject.toml


def test_both_audits_by_default_metrics_first_and_the_rest_goes_to_pytest_in_order():
    got = _args("--metric", "mypkg.metrics:sharpness", "-k", "gap and not d20", "-x", "--compare-editor", "v1")
    mine = ["--metric", "mypkg.metrics:sharpness", "-k", "gap and not d20", "-x", "--compare-editor", "v1"]
    assert got == ["-p", PLUGIN, *HERE, "--pyargs", METRICS, EDITORS, *mine]


@pytest.mark.parametrize("switch,package", [("--metrics-only", METRICS), ("--editors-only", EDITORS)])
def test_one_audit_alone_wherever_its_switch_stands(switch, package):
    assert _args("--metric", "pyiqa:piqe", switch, "-q") == [
        "-p",
        PLUGIN,
        *HERE,
        "--pyargs",
        package,
        "--metric",
        "pyiqa:piqe",
        "-q",
    ]


def test_with_editors_only_the_editor_named_is_the_editor_audited():
    """No metric audit runs, so --editor can only mean the editor to audit (a newcomer's
    trial: it was silently ignored and the 14 built-in editors were audited instead)."""
    got = _args("--editors-only", "--editor", "my-editor:model=v2", "--editor=other", "-k", "tint", "--", "--editor", "x")
    assert got[got.index(EDITORS) + 1 :] == [
        "--audit-editor", "my-editor:model=v2", "--audit-editor=other", "-k", "tint", "--", "--editor", "x"
    ]  # fmt: skip
    assert "--audit-editor" not in _args("--editor", "codec-jpeg")  # both audits: --editor is the metric audit's chains


def test_audit_editor_replaces_the_setting_and_compare_runs_beside_it():
    from iqa_audit.config.audit_config import resolve_config

    assert resolve_config({"audit_editors": ("codec-webp",)}).audit_editors == ("codec-webp",)
    both = resolve_config({"audit_editors": ("codec-webp",), "editors": ("sim-crop",), "compare_editors": ("identity",)})
    assert both.audit_editors == ("codec-webp", "identity") and both.editors == ("sim-crop",)


def test_the_run_is_rooted_at_the_project_it_runs_in_unless_the_user_roots_it(tmp_path):
    (tmp_path / "project" / "sub").mkdir(parents=True)
    (tmp_path / "project" / "pyproject.toml").write_text("[tool.iqa_audit]\n")
    assert _args(cwd=tmp_path / "project" / "sub")[2:4] == ["--rootdir", str(tmp_path / "project")]
    assert _args(cwd=tmp_path)[2:4] == ["--rootdir", str(tmp_path)]  # no pyproject.toml up from /tmp
    for own in (["--rootdir", "x"], ["--rootdir=x"], ["-c", "x.ini"], ["--config-file=x.ini"]):
        assert "--rootdir" not in _args(*own)[:4], own


@pytest.mark.parametrize(
    "given,added",
    [
        (["-n", "auto"], True),
        (["-n4"], True),
        (["--numprocesses=2"], True),
        (["-n", "2", "--dist", "load"], False),
        (["-n", "2", "--dist=loadscope"], False),
        ([], False),
        (["--", "-n", "2"], False),  # after `--` nothing is an option
    ],
)
def test_xdist_runs_group_a_series_on_one_worker_unless_told_otherwise(given, added):
    got = _args(*given)
    assert (["--dist", "loadgroup"] == got[2:4]) is added
    assert got[len(got) - len(given) :] == given and got[len(got) - len(given) - 1] == EDITORS


def test_a_switch_after_double_dash_is_pytests():
    assert _args("--", "--metrics-only")[-2:] == ["--", "--metrics-only"]


def test_both_switches_is_one_usage_error(capsys):
    assert main(["audit", "--metrics-only", "--editors-only"]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ERROR: --metrics-only --editors-only: expected at most one of them")


def test_help_lists_the_command_and_every_option_of_the_plugin(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["--help"])
    assert "    audit " in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(["audit", "--metric", "x", "-h"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    flags = [o.flag for o in (*options_for("audit"), *options_for("pytest"))]
    assert {"--metrics-only", "--editors-only", "--metric", "--editor", "--baseline"} <= set(flags)
    assert all(f"  {flag} " in out or f"  {flag}\n" in out for flag in flags), out


def _iqa(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("PYTEST_")}
    cmd = [sys.executable, "-m", "iqa_audit", "audit", *args, "-p", "no:cacheprovider"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


def test_a_bad_option_is_pytests_usage_error_before_anything_runs(tmp_path):
    done = _iqa("--metric", "piqe", "--store", str(tmp_path / "s"), cwd=tmp_path)
    assert done.returncode == 4, done.stdout + done.stderr
    errors = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and errors[0].startswith("ERROR: --metric piqe") and "Did you mean pyiqa:piqe" in errors[0]
    assert not (tmp_path / "s").exists() and not (tmp_path / "reports").exists()


def test_the_plugins_options_and_pytests_reach_pytest(tmp_path):
    """From a folder that is not this checkout: the ids are the shipped modules', -k selects."""
    args = ["--metric", "iqa_audit:noise-sigma", "--seed", "grid-perspective", "--editor", "sim-noise-tint"]
    done = _iqa(*args, "--task", "replicate", "--delta-steps", "5", "-k", "test_gap or test_tint", "--co", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    ids = [ln for ln in done.stdout.splitlines() if "::" in ln]
    assert "test_gap.py::test_gap[noise-sigma-sim-noise-tint-replicate-grid-perspective-d5]" in ids
    assert {i.split("::")[0] for i in ids} == {"test_gap.py", "test_fidelity.py"}
    assert all(i.startswith("test_fidelity.py::test_tint[") for i in ids if not i.startswith("test_gap"))


def test_the_projects_settings_apply_when_an_option_names_a_folder_elsewhere(tmp_path):
    """`--store /elsewhere` (an existing folder) would root pytest there: the project's
    [tool.iqa_audit] (here: the editor audit's editors and cases) must still apply."""
    project, store = tmp_path / "project", tmp_path / "elsewhere" / "store"
    project.mkdir()
    store.mkdir(parents=True)
    settings = '[tool.iqa_audit]\naudit_editors = ["identity"]\naudit_cases = ["replicate:grid-perspective"]\n'
    (project / "pyproject.toml").write_text(settings)
    done = _iqa("--editors-only", "--store", str(store), "--co", "-q", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    ids = [ln for ln in done.stdout.splitlines() if "::" in ln and not ln.endswith("[None]")]  # [None]: a check with no case
    assert ids and all(i.endswith("[identity-replicate-grid-perspective]") for i in ids), ids


def test_every_audit_command_in_the_readme_uses_options_that_exist(pytestconfig):
    """`iqa-audit audit ...` and `pytest --pyargs iqa_audit.suite...` lines (code blocks and
    inline): each flag is the audit's own, the plugin's, or one pytest (or xdist) knows."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [b.replace("\\\n", " ") for b in re.findall(r"```bash\n(.*?)```", readme, re.S)]
    lines = [ln.split("  #")[0].strip() for block in blocks for ln in block.splitlines()]
    lines += re.findall(r"`([^`\n]*(?:iqa-audit audit|--pyargs iqa_audit)[^`\n]*)`", readme)
    commands = [ln for ln in lines if "iqa-audit audit" in ln or "--pyargs iqa_audit.suite" in ln]
    assert len(commands) >= 6, commands
    parser_ = pytestconfig._parser
    known = {n for group in (parser_._anonymous, *parser_._groups) for o in group.options for n in o.names()}
    known |= {o.flag for o in options_for("audit")}
    for ln in commands:
        flags = {w.split("=")[0] for w in shlex.split(ln) if w.startswith("-") and not w.startswith("-n")}
        assert flags <= known, (ln, flags - known)
        if "iqa-audit audit" in ln and "--help" not in flags:
            parser().parse_args(shlex.split(ln.split("iqa-audit ", 1)[1]))


def test_a_metric_module_beside_the_user_imports_through_the_console_script(tmp_path):
    """The console script's sys.path starts at its own folder, not the user's: the command
    adds the folder it runs in, as `python -m pytest` would."""
    script = Path(sys.executable).parent / "iqa-audit"
    if not script.exists():
        pytest.skip(f"no console script beside {sys.executable} (the package is not installed)")
    (tmp_path / "my_metrics.py").write_text(
        "import iqa_audit.metrics\n\n\n@iqa_audit.metrics.declare(lower_better=False, range=(0, 255))\n"
        "def sharpness(pixels):\n    return float(pixels.std())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_") and k != "PYTHONPATH"}
    args = ["--metrics-only", "--metric", "my_metrics:sharpness", "--seed", "grid-perspective", "--editor", "sim-noise-tint"]
    cmd = [script, "audit", *args, "--task", "replicate", "--delta-steps", "5", "-k", "test_gap", "--co", "-q"]
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_gap.py::test_gap[my_metrics-sharpness-sim-noise-tint-replicate-grid-perspective-d5]" in done.stdout
