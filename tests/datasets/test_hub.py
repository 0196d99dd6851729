"""`import hf://OWNER/NAME[@REVISION]` (issue 17, item 2): offline from a folder laid out like
the hub cache, and the download path against a local HTTP server (tests/fake_hub.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iqa_audit.core.errors import ConfigError
from iqa_audit.datasets.hub import HubRef, parse_hub_ref
from iqa_audit.datasets.registry import dataset_record
from iqa_audit.store.store import Store
from tests.conftest import textured_image
from tests.datasets.test_layouts import NOTICED
from tests.fake_hub import FakeHub

ROOT = Path(__file__).resolve().parents[2]
REPO = "kenantang/Banana100"
pytestmark = pytest.mark.network


def _files(steps=(0, 1, 5), seeds=("grid", "haze")) -> dict[str, bytes]:
    """A small dataset in the Banana100 preset's layout, with reasoning and repo clutter."""
    files = {"README.md": b"# Banana100 (test copy)", ".gitattributes": b"*.png filter=lfs"}
    for n, sd in enumerate(seeds):
        for run in (0, 1):
            for k in steps:
                files[f"replicate/{sd}/run{run}/step{k}.png"] = textured_image(40, 30, seed=100 * n + 10 * run + k).data()
                if k == max(steps):  # every image its own bytes: the hub cache stores equal files once
                    files[f"replicate/{sd}/run{run}/step{k}.txt"] = f"{NOTICED} ({sd}, run {run})".encode()
    return files


def _import(*args, env=None, timeout=240):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "generate_fixtures.py"), "import", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


def test_hub_references_parse_or_say_what_is_expected():
    assert parse_hub_ref("hf://kenantang/Banana100") == HubRef(REPO, None)
    assert parse_hub_ref("hf://kenantang/Banana100@v1.0") == HubRef(REPO, "v1.0")
    assert str(HubRef(REPO, "abc")) == "hf://kenantang/Banana100@abc"
    for bad in ("hf://banana", "hf://a/b/c", "hf://../x", "hf://a/b@", "hf://a/b@x y"):
        with pytest.raises(ConfigError, match="hf://OWNER/NAME"):
            parse_hub_ref(bad)


def _hub_cache(cache: Path, files: dict[str, bytes], commit: str = "a" * 40) -> str:
    """A folder laid out like huggingface_hub's cache after a download of REPO at `commit`."""
    repo_dir = cache / ("datasets--" + REPO.replace("/", "--"))
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    for path, data in files.items():
        p = repo_dir / "snapshots" / commit / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return commit


@pytest.mark.slow
def test_offline_a_cached_snapshot_imports_with_the_preset_and_its_commit_is_pinned(tmp_path):
    commit = _hub_cache(tmp_path / "hf", _files())
    out = _import(f"hf://{REPO}", "--hf-cache", str(tmp_path / "hf"), "--store", str(tmp_path / "s"))
    assert out.returncode == 0, out.stderr
    assert "preset banana100" in out.stderr and "could not be checked" in out.stderr  # said every time it is used
    assert f"imported dataset 'banana100' at revision {commit}: 4 chains, 12 images added" in out.stdout
    record = dataset_record(Store(tmp_path / "s"), "banana100")
    assert record.source == f"hf://{REPO}@{commit}" and record.revision == commit
    last = Store(tmp_path / "s").steps(record.chains[0].key)[-1]
    assert last.reasoning.startswith(NOTICED)
    # A user correcting the preset's layout on the command line: files no longer match.
    wrong = _import(
        f"hf://{REPO}",
        "--hf-cache",
        str(tmp_path / "hf"),
        "--store",
        str(tmp_path / "s2"),
        "--layout",
        "{setting}/{seed}/step{step}.png",
    )
    assert wrong.returncode == 2 and "does not match the layout" in wrong.stderr and "nothing was imported" in wrong.stderr


def test_offline_a_snapshot_not_in_the_cache_is_a_clear_error(tmp_path):
    out = _import(f"hf://{REPO}", "--hf-cache", str(tmp_path / "empty"), "--store", str(tmp_path / "s"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "HF_HUB_OFFLINE=1 forbids downloading" in out.stderr and f"hf://{REPO}" in out.stderr


@pytest.mark.slow
def test_download_from_a_local_hub_is_cached_and_pinned(tmp_path):
    files = _files()
    with FakeHub(REPO) as hub:
        first = hub.commit(files)
        env = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_TELEMETRY": "1"}
        args = ["--hf-cache", str(tmp_path / "hf"), "--store", str(tmp_path / "s")]
        out = _import(f"hf://{REPO}", *args, env=env)
        assert out.returncode == 0, out.stderr
        assert f"at revision {first}: 4 chains, 12 images added" in out.stdout
        assert hub.gets("replicate/grid/run0/step5.png") == 1 and hub.gets("README.md") == 1
        # main moves on; an import without @REVISION keeps the commit pinned in the store,
        # and every file comes from the cache.
        hub.commit({**files, "replicate/grid/run0/step9.png": textured_image(40, 30, seed=99).data()})
        again = _import(f"hf://{REPO}", *args, env=env)
        assert again.returncode == 0, again.stderr
        assert (
            f"using the revision pinned in the store, {first}" in again.stdout
            and "0 images added, 12 already stored" in again.stdout
        )
        assert hub.gets("replicate/grid/run0/step5.png") == 1 and hub.gets("step9.png") == 0
        moved = _import(f"hf://{REPO}@main", *args, env=env)
        assert moved.returncode == 0, moved.stderr
        assert "1 images added, 12 already stored" in moved.stdout and hub.gets("step9.png") == 1
        assert dataset_record(Store(tmp_path / "s"), "banana100").revision == hub.branches["main"]


@pytest.mark.slow
def test_a_killed_download_resumes_fetching_only_what_it_lacks(tmp_path):
    files = _files()
    images = [p for p in files if p.endswith(".png")]
    with FakeHub(REPO) as hub:
        hub.commit(files)
        hub.hang_once.add(images[-1])
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "HF_HUB_OFFLINE": "0",
            "HF_ENDPOINT": hub.endpoint,
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }
        args = ["import", f"hf://{REPO}", "--hf-cache", str(tmp_path / "hf"), "--store", str(tmp_path / "s")]
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "generate_fixtures.py"), *args],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        blobs = tmp_path / "hf" / ("datasets--" + REPO.replace("/", "--")) / "blobs"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = [b for b in blobs.glob("*") if not b.name.endswith(".incomplete")] if blobs.is_dir() else []
            if hub.hanging.is_set() and len(done) == len(files) - 1:
                break
            time.sleep(0.05)
        assert hub.hanging.is_set() and proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert dataset_record(Store(tmp_path / "s"), "banana100") is None
        out = _import(*args[1:], env=env)
        assert out.returncode == 0, out.stderr
        assert "12 images added" in out.stdout
        assert hub.gets(images[-1]) == 2  # the file cut off is fetched again ...
        assert all(hub.gets(p) == 1 for p in files if p != images[-1])  # ... and only that file
