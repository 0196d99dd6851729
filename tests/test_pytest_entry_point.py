"""`pip install iqa-audit` makes `pytest --metric ...` work in any project: the package
declares its plugin under pytest's `pytest11` entry-point group.

The installed metadata is made the way pip makes it (setuptools' PEP 517
`prepare_metadata_for_build_wheel` on this repo's pyproject.toml) and put first on a
child pytest's path, in a project folder with no conftest and no pyproject: the plugin
loads from that metadata alone. A conftest that also lists the module in `pytest_plugins`
(as this repo's does) must not register it a second time.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny_audit import SMALL_AUDIT

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "iqa_audit.pytest_plugin"

GAP_TEST = "def test_gap(gap_cell, audit):\n    audit.gap(gap_cell)\n"


@pytest.fixture(scope="module")
def installed_metadata(tmp_path_factory) -> Path:
    """A folder holding iqa_audit-<version>.dist-info as pip would install it."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("site")
    for name in ("pyproject.toml", "README.md"):
        (src / name).write_bytes((ROOT / name).read_bytes())
    (src / "iqa_audit").symlink_to(ROOT / "iqa_audit", target_is_directory=True)
    code = "import sys; from setuptools import build_meta; print(build_meta.prepare_metadata_for_build_wheel(sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", code, str(out)], cwd=src, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def _entry_points(site: Path) -> configparser.ConfigParser:
    (dist,) = site.glob("iqa_audit-*.dist-info")
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # keep the names' case
    parser.read(dist / "entry_points.txt")
    return parser


def test_the_package_declares_its_pytest_plugin(installed_metadata) -> None:
    assert dict(_entry_points(installed_metadata)["pytest11"]) == {PLUGIN: PLUGIN}


def _run_pytest(project: Path, site: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]))
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", *args]
    return subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=300)


AUDIT_ARGS = SMALL_AUDIT


@pytest.mark.slow
@pytest.mark.parametrize("conftest", [None, f"pytest_plugins = [{PLUGIN!r}]\n"], ids=["no-conftest", "conftest-lists-it-too"])
def test_an_installed_iqa_audit_audits_metrics_in_any_project(installed_metadata, tmp_path, conftest) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_my_metric.py").write_text(GAP_TEST)
    if conftest:
        (project / "conftest.py").write_text(conftest)
    done = _run_pytest(
        project, installed_metadata, *AUDIT_ARGS, "--store", str(tmp_path / "store"), "--reports-dir", str(tmp_path / "reports")
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "2 passed" in out  # noise-sigma notices sim-noise-tint's noise at Δ3 and Δ6
    # pytest's header names the distributions whose entry points it loaded.
    header = [line for line in out.splitlines() if line.startswith("plugins:")]
    assert header and "iqa-audit-" in header[0], out[:3000]
    assert "already registered" not in out
    assert list((tmp_path / "reports").glob("*/results.json"))
