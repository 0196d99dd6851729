"""A new user's first hour: commands that run as printed, one options table, quiet logs,
a bounded reports folder, auditing your own metric, and Ray as an extra."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from iqa_audit.config.audit_config import resolve_config
from iqa_audit.config.options import OPTIONS, options_for
from iqa_audit.core.console import cli_command, cli_prefix
from iqa_audit.report.retention import prune_runs

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}


def _iqa(*args, cwd=ROOT, **kw):
    return subprocess.run(
        [sys.executable, "-m", "iqa_audit", *args], capture_output=True, text=True, timeout=300, env=ENV, cwd=cwd, **kw
    )


# ----- commands that run as written ---------------------------------------------------------
def test_the_console_script_is_installed_by_pip():
    assert PYPROJECT["project"]["scripts"]["iqa-audit"] == "iqa_audit.cli.main:main"


def test_cli_prefix_is_the_form_that_runs_here(tmp_path, monkeypatch):
    """On PATH: `iqa-audit`; installed but not on PATH (a fresh clone's .venv): its path;
    not installed: `python -m iqa_audit`."""
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.symlink_to(sys.executable)
    monkeypatch.setattr(sys, "executable", str(python))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert cli_prefix() == ".venv/bin/python -m iqa_audit"
    script = bin_dir / "iqa-audit"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert cli_prefix() == ".venv/bin/iqa-audit"
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    assert cli_prefix() == "iqa-audit"


def test_printed_commands_run_as_written():
    """Whatever form cli_command prints here is a working command line."""
    out = subprocess.run(cli_command("list"), shell=True, capture_output=True, text=True, timeout=120, env=ENV, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "seeds:" in out.stdout and "metrics:" in out.stdout


def test_help_prints_commands_that_run():
    out = _iqa("--help")
    assert out.returncode == 0
    examples = [ln.split("#")[0].strip() for ln in out.stdout.split("examples:")[1].splitlines() if ln.strip()]
    assert examples and all(ex.startswith(cli_prefix()) for ex in examples)
    assert "generate_fixtures" not in out.stdout
    from iqa_audit.cli.main import parser

    for ex in examples:
        args = shlex.split(ex)[len(shlex.split(cli_prefix())) :]
        parser().parse_args(args or ["build"])  # argparse exits on a command it does not know


def test_readme_commands_run_as_written():
    """Every `.venv/bin/iqa-audit ...` and `.venv/bin/python -m pytest ...` line in the README
    parses with today's options, and no command needs an activated venv."""
    readme = (ROOT / "README.md").read_text()
    assert "python generate_fixtures.py" not in readme
    blocks = [b.replace("\\\n", " ") for b in re.findall(r"```bash\n(.*?)```", readme, re.S)]  # join continued lines
    lines = [ln.split("  #")[0].strip() for block in blocks for ln in block.splitlines()]
    cli = [ln for ln in lines if ln.startswith(".venv/bin/iqa-audit")]
    assert len(cli) >= 5
    from iqa_audit.cli.main import parser

    for ln in cli:
        parser().parse_args(shlex.split(ln)[1:] or ["build"])
    for ln in [ln for ln in lines if ln.startswith(".venv/bin/python -m pytest")]:
        flags = {w for w in shlex.split(ln) if w.startswith("--")}
        assert flags <= {o.flag for o in options_for("pytest")}, ln
    inline = re.findall(r"`(\.venv/bin/iqa-audit [^`]+)`", readme)
    for ln in inline:
        parser().parse_args(shlex.split(ln)[1:])
    # `iqa-audit audit ...` hands its options to pytest: each --flag must be the plugin's or the command's own.
    audits = [ln for ln in lines if re.match(r"(\S*/)?iqa-audit audit ", ln)]
    audits += [m.split("  #")[0] for m in re.findall(r"run: (iqa-audit audit [^\n]+)", readme)]  # the CI snippet
    audits += re.findall(r"`((?:\.venv/bin/)?iqa-audit audit [^`]+)`", readme)
    assert len(audits) >= 10
    known = {o.flag for o in options_for("pytest")} | {o.flag for o in options_for("audit")} | {"--help"}
    for ln in audits:
        flags = {w.split("=")[0] for w in shlex.split(ln) if w.startswith("--")}
        assert flags <= known, (ln, flags - known)
    for ln in [ln for ln in lines if re.match(r"iqa-audit (history|build|list|import|score|weights) ", ln)]:
        parser().parse_args(shlex.split(ln)[1:])
    first_screen = readme[: readme.index("## What it checks")]
    assert "Chromium" in first_screen and "apt-get install -y chromium" in first_screen


def test_the_browser_test_prints_the_install_command(monkeypatch):
    from tests.report.test_report_browser import find_browser

    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("IQA_AUDIT_CHROMIUM", raising=False)
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install -y chromium"):
        find_browser()


# ----- one options table ---------------------------------------------------------------------
def test_pytest_and_the_cli_take_their_options_from_one_table(pytestconfig):
    group = next(g for g in pytestconfig._parser._groups if g.name == "iqa-audit")
    in_pytest = {o.names()[0]: o.attrs()["help"] for o in group.options}
    assert in_pytest == {o.flag: o.help for o in options_for("pytest")}
    from iqa_audit.cli.main import parser

    sub = next(a for a in parser()._actions if a.dest == "command").choices
    for command in ("build", "score"):
        flags = {a.option_strings[0]: a.help for a in sub[command]._actions if a.option_strings and a.dest != "help"}
        assert flags == {o.flag: o.help for o in options_for(command)}
    shared = {o.flag for o in options_for("pytest")} & {o.flag for o in options_for("build")}
    assert {"--editor", "--seed", "--steps", "--runs", "--long-side", "--profile", "--store", "--max-paid-steps"} <= shared


def test_every_config_option_is_a_config_field():
    from dataclasses import fields

    from iqa_audit.config.audit_config import AuditConfig

    names = {f.name for f in fields(AuditConfig)}
    assert {o.dest for o in OPTIONS if o.config} <= names


def test_importing_the_plugin_changes_no_environment():
    code = (
        "import os; before = dict(os.environ); import iqa_audit.pytest_plugin, iqa_audit.cli.main; "
        "print(sorted(set(os.environ.items()) ^ set(before.items())))"
    )
    env = {k: v for k, v in ENV.items() if k != "HF_HUB_OFFLINE"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_configured_session_runs_hugging_face_offline_unless_the_user_says_otherwise(pytester, monkeypatch):
    pytester.makepyfile(test_env="import os\n\ndef test_env():\n    print('HF=' + os.environ.get('HF_HUB_OFFLINE', 'unset'))\n")
    args = [
        "-p",
        "iqa_audit.pytest_plugin",
        "-p",
        "no:cacheprovider",
        "-s",
        "--store",
        str(pytester.path / "s"),
        "--reports-dir",
        str(pytester.path / "r"),
    ]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.runpytest_subprocess(*args).stdout.fnmatch_lines(["*HF=1*"])
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    pytester.runpytest_subprocess(*args).stdout.fnmatch_lines(["*HF=0*"])


# ----- logs ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_build_into_a_log_prints_one_plain_line_per_chain(tmp_path, seed_dir):
    args = [
        "build",
        "--store",
        str(tmp_path / "s"),
        "--seed",
        "tiny",
        "--seed-dir",
        str(seed_dir),
        "--editor",
        "codec-jpeg",
        "--runs",
        "2",
        "--steps",
        "3",
        "--long-side",
        "0",
    ]
    out = _iqa(*args)  # stdout and stderr are pipes, as in CI or `> log`
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert "\r" not in text and "\x1b[" not in text  # no progress-bar cursor codes
    chain_lines = [ln for ln in out.stdout.splitlines() if re.match(r"\[\d/2\] codec-jpeg-replicate/tiny/run\d: 3 steps", ln)]
    assert len(chain_lines) == 2, out.stdout
    quiet = _iqa(*args[:2], str(tmp_path / "q"), *args[3:], "--quiet")
    assert not re.search(r"^\[\d/2\]", quiet.stdout, re.M) and "\r" not in quiet.stderr


def test_a_baseline_named_in_pyproject_is_found_from_a_subfolder():
    """Checked at configure after it is made relative to pyproject.toml, not to the cwd."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "../tests_metrics", "--collect-only", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ROOT / "tests",
        timeout=120,
    )
    assert out.returncode == 0, out.stdout[-1500:] + out.stderr[-1500:]


def test_bin_audit_leaves_the_report_path_to_pytest():
    """pytest's summary prints the path once (checked in the run below); the script used to
    echo it a second time."""
    text = (ROOT / "bin" / "audit").read_text()
    assert not re.search(r"^\s*echo .*report", text, re.M)
    assert ".venv/bin/iqa-audit build" in text


# ----- a run through the plugin: your own metric, its output, reports kept bounded ---------------
MY_METRIC = '''
import numpy as np

import iqa_audit.metrics


@iqa_audit.metrics.declare(lower_better=True, range=(0, 0.001), version="1")
def speckle(pixels):
    """Mean absolute difference to the right neighbour: noise raises it (lower = better)."""
    g = pixels.astype(np.float64).mean(axis=2)
    return float(np.abs(np.diff(g, axis=1)).mean())
'''


@pytest.fixture
def own_metric_run(pytester, tmp_path, seed_dir):
    metric = tmp_path / "elsewhere" / "my_metrics.py"  # not importable: not on sys.path
    metric.parent.mkdir()
    metric.write_text(MY_METRIC)
    pytester.makepyfile(
        test_gap="def test_gap(gap_cell, audit):\n    audit.gap(gap_cell)\n",
        test_sanity="def test_metric_sanity(sanity_case, audit):\n    audit.sanity(sanity_case)\n",
    )
    args = [
        "-p",
        "iqa_audit.pytest_plugin",
        "-p",
        "no:cacheprovider",
        "--seed-dir",
        str(seed_dir),
        "--editor",
        "sim-noise-tint",
        "--runs",
        "1",
        "--steps",
        "4",
        "--delta-steps",
        "3,4",
        "--long-side",
        "0",
        "--store",
        str(tmp_path / "store"),
        "--reports-dir",
        str(tmp_path / "reports"),
        "--metric",
        f"{metric}:speckle",
        "-W",
        "always::UserWarning",
    ]
    return pytester, args, tmp_path


@pytest.mark.slow
def test_your_own_metric_from_a_file_with_seed_dir_alone_and_no_baseline(own_metric_run):
    pytester, args, tmp = own_metric_run
    res = pytester.runpytest_subprocess(*args, "--baseline", "none", "--run-name", "mine", "-rA")
    res.assert_outcomes(passed=7)  # 2 gap cells on the user's one image, 5 sanity checks
    out = res.stdout.str()
    # Δ3, not Δ2: one step of sim-noise-tint (σ 2.6) stays under the visibility threshold (inconclusive).
    assert "test_gap[my_metrics-speckle-sim-noise-tint-replicate-tiny-d3]" in out
    words = re.sub(r"\S*(/|test_your_own_metric)\S*", "", out)  # paths and this test's own name say "baseline"
    assert "baseline" not in words.lower()  # --baseline none: nothing about a baseline
    assert "gap, stability and editor cells: 2 pass" in out
    # The other 5 of pytest's 7 passes, counted where they can be seen to add up.
    assert "metric sanity checks: 4 pass, 0 fail, 1 warn" in out
    assert out.count("report: ") == 1
    assert res.stdout.lines[-1].startswith("report: ") and res.stdout.lines[-1].endswith("index.html")  # the run ends on it
    # The out-of-range warning names the seeds, not their positions.
    warning = next(ln for ln in res.stdout.lines if "clean-seeds-in-range" in ln and "outside" in ln)
    assert "tiny " in warning and "(0," not in warning
    res_json = json.loads((tmp / "reports" / "mine" / "results.json").read_text())
    assert {c["seed"] for c in res_json["cells"] if c["kind"] == "gap"} == {"tiny"}  # only the user's image
    # The header's counts are pytest's: every test of the session, sanity cases included.
    assert res_json["run"]["outcomes"] == {"passed": 7}
    assert sum(1 for c in res_json["cells"] if c["kind"] == "sanity") == 5


@pytest.mark.slow
def test_the_reports_folder_keeps_the_last_runs(own_metric_run):
    pytester, args, tmp = own_metric_run
    mine = tmp / "reports" / "notes"
    mine.mkdir(parents=True)  # a folder of the user's: not a run, never removed
    for i in range(3):
        res = pytester.runpytest_subprocess(*args, "--baseline", "none", "--run-name", f"r{i}", "--keep-reports", "2")
        assert res.ret == 0
    assert sorted(p.name for p in (tmp / "reports").iterdir()) == ["notes", "r1", "r2"]
    res.stdout.fnmatch_lines(["*removed 1 old run folder(s)*keeping the last 2*"])


def test_prune_keeps_the_newest_and_the_current_run(tmp_path):
    for i, name in enumerate(("a", "b", "c", "d")):
        d = tmp_path / name
        d.mkdir()
        (d / "results.json").write_text("{}")
        os.utime(d / "results.json", (1000 + i, 1000 + i))
    (tmp_path / "loose").mkdir()
    removed = prune_runs(tmp_path, keep=2, current=tmp_path / "a")  # the current run counts as kept, even if oldest
    assert sorted(p.name for p in removed) == ["b", "c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "d", "loose"]
    assert prune_runs(tmp_path, keep=0) == []


def test_seed_dir_alone_audits_only_your_images_and_a_group_adds_the_builtins(seed_dir):
    from iqa_audit.chains.plan import audit_seeds

    only = resolve_config({"seed_dirs": (str(seed_dir),)})
    assert [s.name for s in audit_seeds(only)] == ["tiny"]
    both = resolve_config({"seed_dirs": (str(seed_dir),), "seeds": ("all-procedural",)})
    names = [s.name for s in audit_seeds(both)]
    assert "tiny" in names and "grid-perspective" in names and len(names) == 14


# ----- Ray is an extra ---------------------------------------------------------------------
def test_ray_is_an_extra_and_setup_installs_it():
    deps = " ".join(PYPROJECT["project"]["dependencies"])
    assert "ray" not in re.findall(r"[a-z-]+", deps)
    assert any(d.startswith("ray") for d in PYPROJECT["project"]["optional-dependencies"]["ray"])
    extras = re.search(r'-e "\.\[([a-z,]+)\]"', (ROOT / "bin" / "setup").read_text())
    assert extras and "ray" in extras.group(1).split(",")  # setup installs the Ray extra (with the others)
    assert "import ray" in (ROOT / ".ci" / "run").read_text()  # CI fails rather than skip Ray's tests


def test_ray_tests_skip_with_the_install_command_when_ray_is_absent(tmp_path):
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "ray.py").write_text("raise ModuleNotFoundError(\"No module named 'ray'\", name='ray')\n")
    env = {**ENV, "PYTHONPATH": f"{blocker}{os.pathsep}{ROOT}"}
    ray_tests = ROOT / "tests" / "distributed" / "test_ray.py"
    out = subprocess.run(
        [sys.executable, "-m", "pytest", str(ray_tests), "-n", "0", "-rs", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert "skipped" in out.stdout and "pip install 'iqa-audit[ray]'" in out.stdout, out.stdout[-2000:]
