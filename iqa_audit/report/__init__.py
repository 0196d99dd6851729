"""The run's reports, drawn from its typed results (results.writer.RunResults), never from
recomputed scores.

- `html.write_report(results, run_dir, compare=None)`: reports/<run>/index.html, self-contained;
- `compare.compare_results(old, new, gap_tolerance=1.0)`: what flipped or moved between two runs;
- `model`: the records shaped into what the page draws; `sentences`: what it says about them;
- audit.pytest_html: heatmaps and per-case thumbnails in pytest-html's report.
"""
