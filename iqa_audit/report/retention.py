"""Keep the reports folder bounded: the newest N run folders stay, older ones go.

A default audit's run folder is ~6 MB (measured: 132 MB after 21 runs), so without a bound
`reports/` grows with every `bin/audit`. After each run the controller keeps the newest
`keep` run folders (`--keep-reports N`, or `keep_reports = N` in [tool.iqa_audit];
default `options.DEFAULT_KEEP_REPORTS`; 0 keeps everything).

Only folders that hold an iqa-audit `results.json` count as runs, so anything else a
user keeps in the folder is never touched; the run just written is always kept.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def run_folders(root: Path) -> list[Path]:
    """Run folders under `root` (those holding results.json), newest first by the time
    their results.json was written."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and (p / "results.json").is_file()]
    return sorted(runs, key=lambda p: ((p / "results.json").stat().st_mtime_ns, p.name), reverse=True)


def prune_runs(root: Path, *, keep: int, current: Path | None = None) -> list[Path]:
    """Delete all but the newest `keep` run folders under `root` (never `current`);
    return the deleted folders. `keep` 0 deletes nothing."""
    if keep <= 0:
        return []
    runs = run_folders(root)
    if current is not None:
        current = Path(current).resolve()
        runs = [p for p in runs if p.resolve() != current]
        keep -= 1  # the current run is one of the kept ones
    removed = []
    for old in runs[max(keep, 0) :]:
        shutil.rmtree(old, ignore_errors=True)
        if not old.exists():
            removed.append(old)
    return removed
