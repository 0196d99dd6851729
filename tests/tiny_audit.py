"""The plugin tests' tiny audit: the test file a user writes, and the arguments of a
seconds-long run (one user seed, the noise-tint chain, two runs of six steps, two metrics
that need no weights), shared so that every end-to-end test audits the same thing."""

from __future__ import annotations

from pathlib import Path

# What the README tells a user of another project to write (the pytest11 plugin does the rest).
GAP_TEST = "def test_gap(gap_cell, audit):\n    audit.gap(gap_cell)\n"


def tiny_audit_args(tmp_path: Path, seed_dir: Path, *extra: str) -> list[str]:
    """pytest arguments for the tiny audit, its store and reports under `tmp_path`."""
    return [
        "-p",
        "iqa_audit.pytest_plugin",
        "-p",
        "no:cacheprovider",
        "--seed",
        "tiny",
        "--seed-dir",
        str(seed_dir),
        "--editor",
        "sim-noise-tint",
        "--runs",
        "2",
        "--steps",
        "6",
        "--delta-steps",
        "3,6",
        "--long-side",
        "0",
        "--store",
        str(tmp_path / "store"),
        "--reports-dir",
        str(tmp_path / "reports"),
        "--metric",
        "iqa_audit:noise-sigma",
        "--metric",
        "tests.plugin_metric_example:sharpness",
        *extra,
    ]


# The chain shape of the small end-to-end audits: one run of 6 steps, judged at Δ3 and Δ6.
ONE_RUN_OF_SIX_STEPS = ("--runs", "1", "--steps", "6", "--delta-steps", "3,6")

# One small audit from an installed package: one metric, seed, setting and run, 6 steps at
# 96 px, raw verdicts (the entry-point and installed-wheel tests).
SMALL_AUDIT = (
    "--metric",
    "iqa_audit:noise-sigma",
    "--seed",
    "grid-perspective",
    "--editor",
    "sim-noise-tint",
    "--task",
    "replicate",
    *ONE_RUN_OF_SIX_STEPS,
    "--long-side",
    "96",
    "--baseline",
    "none",
)
