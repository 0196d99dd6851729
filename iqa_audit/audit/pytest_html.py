"""pytest-html support: the audit's heatmaps in the summary, each case's pictures as extras.

Registered by the iqa-audit plugin only when a pytest-html page is asked for (--html),
with the session's collected records:

    config.pluginmanager.register(HtmlExtras(config, lambda: list(audit.records.values())), "iqa_audit_html")

Every picture is embedded as a data URI inside an `extras.html` block, so a report written
with `--self-contained-html` shows it too (pytest-html only inlines its own image extras).

Where each part runs: `pytest_runtest_makereport` runs in the process that ran the test
(an xdist worker), which can read the store; the extras travel to the controller inside
the report. `pytest_html_results_summary` runs on the controller when pytest-html writes
its page at session finish, after the audit session has every record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from iqa_audit.audit.session import SESSION_KEY
from iqa_audit.audit.shipping import attached
from iqa_audit.report.figure_cache import FigureCache
from iqa_audit.report.gaps_html import heatmap_plots
from iqa_audit.report.markup import data_uri, e
from iqa_audit.report.model import StripImage, ends_of_chain, fmt, gap_pair
from iqa_audit.report.sentences import explain_gap
from iqa_audit.report.store_images import ImageSource, thumbnail
from iqa_audit.results.records import EditorRecord, GapRecord, Record, SanityRecord, StabilityRecord
from iqa_audit.store.store import default_store_root

THUMB_PX = 160

Records = Callable[[], Sequence[Record]]


class HtmlExtras:
    """pytest-html hooks. `records()` returns every cell record collected so far (the
    controller's audit session has them); `store_root` defaults to the run's store."""

    def __init__(self, config: pytest.Config, records: Records | None = None, *, store_root: str | Path | None = None):
        self.config = config
        self._records = records or (list)
        self._store_root = store_root
        self._images: ImageSource | None = None
        self._cache: FigureCache | None = None  # thumbnails on disk, under the store
        self._thumbs: dict[str, tuple[bytes, int, int] | None] = {}  # a chain's images recur in many cases

    # ----- per case ------------------------------------------------------------------------
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report = outcome.get_result()
        if report.when != "call":
            return
        record = attached(item)
        if record is None:
            return
        from pytest_html import extras

        report.extras = [*getattr(report, "extras", []), extras.html(self.case_html(record))]

    def case_html(self, record: Record) -> str:
        """Step 1 vs step Δ (gap cells) or first vs last step (editor and stability cells),
        with the finding; a sanity cell: its message."""
        if isinstance(record, GapRecord):
            pictures, finding = gap_pair(record), explain_gap(record)
        elif isinstance(record, (EditorRecord, StabilityRecord)):
            pictures = ends_of_chain(record.images)
            finding = f"{record.message or ''} (value {fmt(record.value, 4)}, tolerance {fmt(record.tolerance, 4)})"
        else:  # sanity, metric-status: no chain, no value
            message = record.message if isinstance(record, SanityRecord) else ""
            pictures, finding = (), f"{message or ''} (value {fmt(None, 4)}, tolerance {fmt(None, 4)})"
        figs = "".join(self._figure(p) for p in pictures) or "<em>no images recorded for this cell</em>"
        return (
            f'<div class="iqa-audit-case" style="margin:4px 0"><div>{figs}</div>'
            f'<p style="margin:4px 0"><code>{e(record.cell)}</code>: {e(finding)}</p></div>'
        )

    def _figure(self, item: StripImage) -> str:
        got = self._thumb(item.image)
        body = (
            _missing(item.image)
            if got is None
            else (f'<img src="{data_uri("image/jpeg", got[0])}" width="{got[1]}" height="{got[2]}" alt="step {item.step}">')
        )
        return (
            f'<figure style="display:inline-block;margin:0 10px 0 0;vertical-align:top">{body}'
            f'<figcaption style="text-align:center">step {item.step}</figcaption></figure>'
        )

    def _thumb(self, image: str) -> tuple[bytes, int, int] | None:
        if image not in self._thumbs:
            self._thumbs[image] = thumbnail(self._image_source(), self._figure_cache(), image, THUMB_PX)
        return self._thumbs[image]

    def _image_source(self) -> ImageSource:
        if self._images is None:
            self._images = ImageSource(self._store_root or run_store(self.config))
        return self._images

    def _figure_cache(self) -> FigureCache:
        # Made on first use, not in __init__: in a worker the store exists only once the
        # audit has opened it, and FigureCache never creates a store folder itself.
        if self._cache is None:
            self._cache = FigureCache(self._image_source().root)
        return self._cache

    # ----- summary -------------------------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list, summary: list, postfix: list) -> None:
        summary.append(summary_html(list(self._records()), report_path(self.config)))


def run_store(config: pytest.Config) -> Path:
    session = config.stash.get(SESSION_KEY, None)
    if session is None or not session.cfg.store:
        return default_store_root()
    return Path(session.cfg.store)


def report_path(config: pytest.Config) -> Path | None:
    """The iqa-audit page of this run, when the audit session has written it already."""
    session = config.stash.get(SESSION_KEY, None)
    return None if session is None else session.outputs.paths.get("report")


def summary_html(records: Sequence[Record], page: Path | None = None) -> str:
    """The page's heatmaps (inline SVG, styled by their own attributes: pytest-html's page
    has none of the report's CSS), with a link to the page."""
    plots = heatmap_plots(records)
    link = (
        f'<p>Full iqa-audit report (curves, image strips, editor audit): <a href="{e(Path(page).resolve().as_uri())}">'
        f"{e(page)}</a></p>"
        if page
        else ""
    )
    if not plots:
        return f'<div class="iqa-audit-summary"><h3>iqa-audit</h3><p>No metric gaps in this run.</p>{link}</div>'
    parts = [
        '<div class="iqa-audit-summary"><h3>iqa-audit: gap heatmaps</h3>',
        (
            "<p>Gap = mean normalised score at step Δ − at step 1; blue (&lt; 0): the metric noticed the damage; "
            "red: it did not; hatched cells failed.</p>"
        ),
        link,
    ]
    parts.append("<div>")
    parts.extend(
        f'<div style="display:inline-block;max-width:100%;margin:0 12px 8px 0;vertical-align:top">{p.html(alt)}</div>'
        for _, alt, p in plots
    )
    parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)


def _missing(image: str) -> str:
    return (
        f'<div style="width:{THUMB_PX}px;height:90px;background:#eee;color:#777;font-size:11px;display:flex;'
        f'align-items:center;justify-content:center" title="{e(image)}">image not in the store</div>'
    )
