"""Benchmarks run apart from xdist: `pytest tests/benchmarks -n 0` (a plain `pytest` skips them).

IQA_AUDIT_BENCH=short (what CI uses) runs every benchmark once so none can rot; the
ratio targets are asserted only in a full run, where the timings mean something.
"""

import os

import pytest

SHORT = os.environ.get("IQA_AUDIT_BENCH", "full") == "short"
# The benchmarks time the audit as a user runs it: without the tests' schema validation.
os.environ.pop("IQA_AUDIT_CHECK_SCHEMA", None)


@pytest.fixture
def rounds():
    return 1 if SHORT else 5


def check_ratio(benchmark, name: str, ratio: float, *, at_most: float | None = None, at_least: float | None = None) -> None:
    benchmark.extra_info[name] = round(ratio, 4)
    print(
        f"\n{name} = {ratio:.3f}"
        + (f" (target <= {at_most})" if at_most else "")
        + (f" (target >= {at_least})" if at_least else "")
    )
    if SHORT:
        return
    if at_most is not None:
        assert ratio <= at_most, f"{name} = {ratio:.3f}, target <= {at_most}"
    if at_least is not None:
        assert ratio >= at_least, f"{name} = {ratio:.3f}, target >= {at_least}"
