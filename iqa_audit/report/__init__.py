"""The run's reports, drawn from results.json (never from recomputed scores).

- `write_report(results, run_dir, compare=None)`: reports/<run>/index.html, self-contained.
- `compare_results(old, new, gap_tolerance=1.0)`: what flipped or moved between two runs.
- `pytest_html_support.HtmlExtras`: heatmaps and per-case thumbnails in pytest-html's report.
"""

from iqa_audit.report.compare import Change, Changes, compare_results
from iqa_audit.report.html import render_report, write_report

__all__ = ["Change", "Changes", "compare_results", "render_report", "write_report"]
