"""The audit as a new user gets it: the wheel of this checkout, installed outside it, run
from an empty folder with `iqa-audit audit` (and `pytest --pyargs iqa_audit.suite...`).

Offline: the wheel is built with the setuptools already installed (no build isolation, no
index), into a fresh venv that holds only iqa-audit; the dependencies (torch, pyiqa, ...)
come from the Python running these tests, by a .pth line naming its site-packages, which
is added after the install so pip sees an empty environment. The checkout is on no path:
the audit's modules, plugin and console script are the wheel's.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.tiny_audit import SMALL_AUDIT

ROOT = Path(__file__).resolve().parents[2]
SMALL = SMALL_AUDIT


def _run(cmd, *, cwd, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """This checkout built as pip builds it, from a copy (a build writes build/ and
    *.egg-info next to the sources)."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    shutil.copytree(ROOT / "iqa_audit", src / "iqa_audit", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    done = _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", out, src], cwd=src)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    (built,) = out.glob("iqa_audit-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed, seeing this Python's packages for the dependencies."""
    env_dir = tmp_path_factory.mktemp("venv")
    done = _run([sys.executable, "-m", "venv", "--without-pip", env_dir], cwd=env_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    python = env_dir / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "--python", python]
    # The user's environment, and --ignore-installed: with this checkout on a PYTHONPATH that
    # another test left set, pip would call iqa-audit installed already and install nothing.
    done = _run([*pip, "install", "--no-deps", "--no-index", "--ignore-installed", wheel], cwd=env_dir, env=_user_env())
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(env_dir), "platbase": str(env_dir)}))
    (purelib / "_iqa_audit_test_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return env_dir


def _user_env() -> dict[str, str]:
    """The environment of a user who never saw this checkout: no PYTHONPATH, no store or
    profile of ours, none of the running pytest's variables."""
    drop = ("PYTHONPATH", "PYTEST_", "IQA_AUDIT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, "HF_HUB_OFFLINE": "1"}


@pytest.mark.slow
def test_the_wheel_ships_the_audit(wheel) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {"iqa_audit/suite/metrics/test_gap.py", "iqa_audit/suite/editors/test_fidelity.py"}
    assert shipped <= names
    assert {n for n in names if n.startswith(("tests_metrics/", "tests_editors/", "tests/"))} == set()


@pytest.mark.slow
def test_the_wheel_needs_no_test_tools_to_audit(wheel) -> None:
    """pytest-benchmark makes a .benchmarks/ folder wherever pytest runs once it is
    installed; hypothesis and matplotlib serve only this repository's tests."""
    with zipfile.ZipFile(wheel) as whl:
        (metadata,) = [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")]
        requires = [
            line.removeprefix("Requires-Dist: ")
            for line in whl.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist: ")
        ]
    test_tools = ("hypothesis", "pytest-benchmark", "matplotlib")
    unconditional = [r for r in requires if r.startswith(test_tools) and "extra ==" not in r]
    assert unconditional == [], unconditional
    assert {r.split(">")[0] for r in requires if 'extra == "test"' in r} == set(test_tools)


@pytest.mark.slow
def test_iqa_audit_audit_runs_from_an_empty_folder_after_pip_install(venv, tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env = _user_env()
    where = _run([venv / "bin" / "python", "-c", "import iqa_audit.suite as s; print(s.__file__)"], cwd=empty, env=env)
    assert where.returncode == 0 and Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr

    # Both audits through one command: pytest's -k and -n and the plugin's options all reach pytest.
    select = "test_gap or (test_aspect_ratio and identity-replicate-grid-perspective)"
    cmd = [venv / "bin" / "iqa-audit", "audit", *SMALL, "--store", tmp_path / "store", "-k", select, "-n", "2"]
    done = _run([*cmd, "-p", "no:cacheprovider"], cwd=empty, env=env, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "3 passed" in out, out[-4000:]  # noise-sigma notices the noise at Δ3 and Δ6; identity keeps the aspect ratio
    assert "2 workers" in out and "PytestAssertRewriteWarning" not in out, out[-4000:]
    last = done.stdout.rstrip().splitlines()[-1]
    assert last.startswith("report: "), out[-3000:]
    report = Path(last.removeprefix("report: "))
    assert report.is_file() and report.is_relative_to(empty / "reports")
    assert (report.parent / "results.json").is_file()

    # `pytest --pyargs` finds the same modules; the ids read as in this checkout, without its folder.
    pyargs = [venv / "bin" / "python", "-m", "pytest", "--pyargs", "iqa_audit.suite.metrics", *SMALL, "--co", "-q"]
    listed = _run([*pyargs, "--store", tmp_path / "store", "-p", "no:cacheprovider"], cwd=empty, env=env)
    assert listed.returncode == 0, (listed.stdout + listed.stderr)[-3000:]
    assert "test_gap.py::test_gap[noise-sigma-sim-noise-tint-replicate-grid-perspective-d3]" in listed.stdout.splitlines()
