"""iqa_audit.core.files.write_file_atomic: the one atomic write (store objects, figure cache,
results.json, baselines, the HTML report)."""

from __future__ import annotations

import os
import threading

import pytest

from iqa_audit.core.files import file_mode, write_file_atomic
from iqa_audit.report.html import write_report
from iqa_audit.results import baseline
from tests.conftest import textured_image


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_replaces_whole_files_and_leaves_nothing_else(tmp_path) -> None:
    path = tmp_path / "f.bin"
    assert write_file_atomic(path, b"old") == path
    write_file_atomic(path, b"new content", durable=True)
    assert path.read_bytes() == b"new content"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path) -> None:
    path = tmp_path / "f.bin"
    write_file_atomic(path, b"old")
    with pytest.raises(TypeError):
        write_file_atomic(path, "not bytes")  # type: ignore[arg-type]  # fails after the temp file exists
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_files_are_readable_as_the_umask_allows_not_owner_only(tmp_path, store) -> None:
    """mkstemp's 0600 made store objects unreadable in a cache shared between users."""
    assert file_mode() == 0o666 & ~_umask()
    written = [
        write_file_atomic(tmp_path / "plain.bin", b"x"),
        store.object_path(*store.put_image(textured_image())),
        baseline.write(tmp_path / "b.json", [("cell", True, 1.0, "v1")]),
    ]
    for path in written:
        assert path.stat().st_mode & 0o777 == file_mode(), path


def test_a_report_reader_never_sees_half_a_page(tmp_path, monkeypatch) -> None:
    """Two writers of one report folder: each rename is whole, and no temporary remains
    (the old writer used one fixed temporary name, which two writers shared)."""
    import iqa_audit.report.html as html

    monkeypatch.setattr(html, "render_report", lambda results, **kw: results["page"])
    pages = [("A" * 200_000), ("B" * 300_000)]
    errors = []

    def write(page: str) -> None:
        try:
            for _ in range(20):
                write_report({"page": page}, tmp_path / "run")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(p,)) for p in pages]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert (tmp_path / "run" / "index.html").read_text() in pages
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["index.html"]
