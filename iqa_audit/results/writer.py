"""The run's machine-readable truth: reports/<run-name>/results.json (+ baseline update).

Written once, complete, by the xdist controller (or the single process of `-n 0`) from
the records every test attached to its report (records.py: typed, one class per audit
kind; its module doc is the schema of the `cells` entries). `write_results` returns the
typed `RunResults` it wrote, from which the audit session then draws the HTML report
(report.html); `load_results` reads another run's file into the same type (--compare).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from iqa_audit import __version__
from iqa_audit.analysis import band
from iqa_audit.analysis.evidence import THRESHOLD_SOURCE
from iqa_audit.chains.plan import audit_settings
from iqa_audit.config.audit_config import AuditConfig
from iqa_audit.core.errors import AuditError, ConfigError, RecordError, explain
from iqa_audit.core.files import write_file_atomic
from iqa_audit.core.keys import code_digest, digest
from iqa_audit.core.urls import redact_urls
from iqa_audit.metrics import packaged_weights
from iqa_audit.metrics.base import MetricUnavailable
from iqa_audit.metrics.identity import fingerprint, torch_hub_dir
from iqa_audit.metrics.registry import metric_id
from iqa_audit.metrics.weights import pyiqa_name, weight_sources
from iqa_audit.results import baseline as baseline_mod
from iqa_audit.results import schema
from iqa_audit.results.cards import card_section
from iqa_audit.results.records import (
    GATED,
    RESULTS_FIX,
    EditorRecord,
    GapRecord,
    MetricStatusRecord,
    ProfileRecord,
    Record,
    SanityRecord,
    StabilityRecord,
    parse_all,
    verdict_or_sign,
)
from iqa_audit.results.schema import FORMAT, FORMAT_VERSION
from iqa_audit.store.store import Store, default_store_root
from iqa_audit.tasks.table import get_task


@dataclass(frozen=True)
class RunResults:
    """One run's results.json, typed: `cells`, its cell records (records.py), `profiles`,
    the chains' artifact profiles (records.ProfileRecord, the file's `profiles` list), and
    `summary`, everything else the file holds (format, run, metrics, weights, editors,
    detection_delays, excluded_settings, cards: JSON values, shaped as `build_results` writes
    them). URLs in all are redacted (urls.redact_urls)."""

    summary: Mapping[str, Any]
    cells: tuple[Record, ...]
    profiles: tuple[ProfileRecord, ...] = ()

    @property
    def cards(self) -> Mapping[str, Any]:
        """results.json's `cards`: {metrics, editors, history} (results/cards.py; {} in an older file)."""
        return self.summary.get("cards", {}) or {}

    @property
    def run(self) -> Mapping[str, Any]:
        """results.json's `run`: name, profile, config, outcomes, machine, ..."""
        return self.summary.get("run", {}) or {}

    def to_json(self) -> dict[str, Any]:
        """The JSON object results.json holds."""
        return {**self.summary, "cells": [r.to_dict() for r in self.cells], "profiles": [p.to_dict() for p in self.profiles]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunResults:
        """The results a results.json object holds, URLs redacted (one written elsewhere, or
        an older one to compare with, may hold some). Raises RecordError for a malformed
        cell record (records.parse_all; the previous release's are read)."""
        data = redact_urls(data)
        profiles = tuple(parse_all(data.get("profiles", []) or []))  # absent in files written before profiles
        wrong = [p.cell for p in profiles if not isinstance(p, ProfileRecord)]
        if wrong:
            raise RecordError(
                explain("results.json's profiles", expected='records of kind "profile"', got=", ".join(wrong), fix=RESULTS_FIX)
            )
        summary = {k: v for k, v in data.items() if k not in ("cells", "profiles")}
        return cls(summary, tuple(parse_all(data.get("cells", []) or [])), profiles)  # type: ignore[arg-type]


def machine(device: str = "cpu") -> dict[str, Any]:
    """Where the run happened. Importing torch costs seconds, more than a whole warm run,
    so its version comes from the package metadata and torch is imported only to name the
    GPU of a --device cuda run."""
    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        info["torch"] = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:  # torch is optional for reading results
        pass
    info["device"] = device
    if device.startswith("cuda"):
        try:
            import torch

            info["cuda"] = torch.cuda.get_device_name(torch.device(device)) if torch.cuda.is_available() else None
        except Exception as e:  # a description of the machine must not fail the run it describes
            info["cuda"] = f"unknown ({type(e).__name__}: {e})"
    return info


def cell_records(records: Sequence[Record]) -> list[Record]:
    """The audit's cells (gap, stability, editor and sanity records), without the metric-status records."""
    return [r for r in records if not isinstance(r, MetricStatusRecord)]


def metric_statuses(cfg: AuditConfig, records: Sequence[Record]) -> dict[str, dict[str, Any]]:
    """{metric id: {name, status, why, version, range}} for every metric the run asked for
    (and any other that recorded a cell). status: 'audited' (a cell of it, gap, stability
    or sanity, reached a verdict), 'error' (its cells ran and each ended in an error: `why`
    quotes the first), 'unavailable' (it could not run here: `why` says why and how to fix
    it) or 'not run' (no cell of it ran: deselected, or no cells in this configuration)."""
    out: dict[str, dict[str, Any]] = {}
    for name in cfg.metrics:
        out.setdefault(metric_id(name), {"name": name, "status": "not run", "why": None, "version": None, "range": None})
    for r in sorted(metric_cells(records), key=lambda r: (r.error is None, r.cell)):  # verdicts last: they win
        entry = out.setdefault(r.metric_id, {"name": r.metric, "version": None, "range": None})
        status = "audited" if r.error is None else "error"
        if entry.get("status") == "audited" or (status == "error" and entry.get("status") == "error"):
            continue
        entry.update(name=r.metric, status=status, why=r.error, version=getattr(r, "version", None) or entry.get("version"))
        if isinstance(r, GapRecord) and r.range is not None:
            entry["range"] = r.range
    for r in records:
        if isinstance(r, MetricStatusRecord):
            entry = out.setdefault(metric_id(r.metric), {"name": r.metric, "version": None, "range": None})
            if entry.get("status") != "audited":
                entry.update(status="unavailable", why=r.why)
    return out


def weights_used(cfg: AuditConfig) -> dict[str, list[dict[str, str]]]:
    """{metric id: [{file, source}]} for every requested metric that loads weight files:
    where each came from (pyiqa's download, or converted from an installed package)."""

    out: dict[str, list[dict[str, str]]] = {}
    for name in cfg.metrics:
        if pyiqa_name(name.partition("@")[0]) is None:
            continue
        try:
            sources = _remembered_weight_sources(cfg, name.partition("@")[0])
        except (ConfigError, MetricUnavailable) as e:  # its status row already says why it could not run
            sources = [{"file": "?", "source": f"unknown: {e}"}]
        if sources:
            out[metric_id(name)] = sources
    return out


def _remembered_weight_sources(cfg: AuditConfig, name: str) -> list[dict[str, str]]:
    """weights.weight_sources(name), kept in the store under the metric's identity
    fingerprint (pyiqa's version and source, the weight caches' listing, the code that
    predicts the files) and the code that names their sources: working them out imports
    pyiqa and torch (~3.5 s), which a warm run must not. Raises as weight_sources does."""

    fp = fingerprint(name)
    if fp is None:
        return weight_sources(name)
    key, store = digest([fp, str(torch_hub_dir()), code_digest(packaged_weights)]), Store(cfg.store)
    try:
        memo = store.get_memo("weight-sources", key)
        if memo is not None:
            return json.loads(memo)
        sources = weight_sources(name)
        store.put_memo("weight-sources", key, json.dumps(sources))
        return sources
    finally:
        store.close()


def metric_cells(records: Sequence[Record]) -> list[GapRecord | StabilityRecord | SanityRecord]:
    """The records of cells that judge a metric: gap, stability and sanity."""
    return [r for r in records if isinstance(r, (GapRecord, StabilityRecord, SanityRecord))]


def unavailable_metrics(cfg: AuditConfig, records: Sequence[Record]) -> dict[str, str]:
    """{metric name: why} of the requested metrics that could not run."""
    return {m["name"]: str(m["why"]) for m in metric_statuses(cfg, records).values() if m["status"] == "unavailable"}


def verdict_counts(records: Sequence[Record]) -> dict[str, int]:
    """{'pass': n, 'fail': n, 'inconclusive': n} over the gap cells (noticed / missed / nothing to notice)."""
    counts = {"pass": 0, "fail": 0, "inconclusive": 0}
    for r in records:
        if isinstance(r, GapRecord) and r.error is None:  # an errored cell (non-finite score) has no verdict
            v = verdict_or_sign(r.verdict, r.passed)
            counts[v] = counts.get(v, 0) + 1
    return counts


def build_results(
    cfg: AuditConfig,
    records: Sequence[Record],
    *,
    started: float,
    finished: float,
    outcomes: Mapping[str, int] | None = None,
    interrupted: bool = False,
    collected: int | None = None,
    stopped: str | None = None,
    profiles: Sequence[ProfileRecord] = (),
) -> RunResults:
    """The run's results from its records (metric-status records go to `metrics`, the
    others to `cells`), every URL redacted. `outcomes`: pytest's own counts for the
    session (what its summary line says); by default the records' outcomes. `interrupted`: the session was stopped (Ctrl-C, however
    many, wherever they landed) before every collected case (`collected`) ran, so the file
    holds only the cases that did. `stopped`: pytest's reason when it stopped early without
    an interrupt ("stopping after 1 failures": -x, --maxfail); the cells that ran are all here.
    `profiles`: the chains' artifact profiles (audit.profiles), kept apart from the cells."""

    cells = cell_records(records)
    counts: dict[str, int] = {}
    for r in cells:
        counts[r.outcome or "?"] = counts.get(r.outcome or "?", 0) + 1
    if outcomes is not None:
        counts = dict(outcomes)
    editors = {}
    for r in cells:
        if isinstance(r, EditorRecord):
            editors[r.setting] = {"editor": r.editor, "version": r.version, "task": r.task}
    # Editor specs (config, cells) may hold an endpoint with credentials: none reach the file.
    summary = redact_urls(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "run": {
                "name": cfg.run_name,
                "profile": cfg.profile,
                "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
                "duration_s": round(finished - started, 2),
                "iqa_audit": __version__,
                "machine": machine(cfg.device),
                "config": _config_dict(cfg),
                "outcomes": counts,
                "interrupted": bool(interrupted),
                "stopped": stopped,
                "collected": collected,
                "verdicts": verdict_counts(cells),
                "evidence_threshold": THRESHOLD_SOURCE,
                "noise_band": band.describe(),
                "store": str(Path(cfg.store).resolve()) if cfg.store else str(default_store_root().resolve()),
            },
            "metrics": metric_statuses(cfg, records),
            "weights": weights_used(cfg),
            "editors": editors,
            "detection_delays": detection_delays(cells),
            "excluded_settings": excluded_settings(cfg),
            "cards": _cards(cfg, cells),
        }
    )
    return RunResults(summary, tuple(redacted(r) for r in cells), tuple(redacted(p) for p in profiles))


def _cards(cfg: AuditConfig, cells: Sequence[Record]) -> dict[str, Any]:
    """The run's robustness cards and their stored history (results/cards.py)."""
    store = Store(cfg.store)
    try:
        return card_section(cfg, cells, store)
    finally:
        store.close()


def redacted(rec: Record) -> Record:
    """The record with every URL in its strings made safe (urls.redact_urls: no user info,
    query or fragment), as results.json and the report show it; the record itself when it
    holds no URL."""
    changed = {}
    for f in fields(rec):
        value = getattr(rec, f.name)
        if isinstance(value, (str, Mapping, tuple)) and "://" in repr(value):
            changed[f.name] = redact_urls(value)
    return replace(rec, **changed) if changed else rec


def detection_delays(records: Sequence[Record]) -> dict[str, list[dict[str, Any]]]:
    """The metrics' detection delays (one per metric, setting and seed, from its gap cells)
    beside the editors' self-evaluation delays (one per editor setting and seed whose editor
    returns reasoning, from its editor cells): when each noticed the damage, in steps, mean ±
    sd over runs."""
    metrics: dict[tuple, dict[str, Any]] = {}
    editors: dict[tuple, dict[str, Any]] = {}
    for r in records:
        if isinstance(r, GapRecord) and r.detection_delay:
            key = (r.metric_id, r.setting, r.seed)
            metrics.setdefault(key, {"metric_id": r.metric_id, "setting": r.setting, "seed": r.seed, **r.detection_delay})
        elif isinstance(r, EditorRecord) and r.self_evaluation.get("available"):
            key = (r.setting, r.seed)
            editors.setdefault(
                key, {"setting": r.setting, "editor": r.editor, "task": r.task, "seed": r.seed, **r.self_evaluation}
            )
    return {"metrics": [metrics[k] for k in sorted(metrics)], "editors": [editors[k] for k in sorted(editors)]}


def excluded_settings(cfg: AuditConfig) -> list[dict[str, str]]:
    """Chain settings of tasks the metric audit does not judge (reconstruction), and why."""

    if cfg.dataset:
        return []
    return [
        {
            "setting": s.label,
            "task": s.task,
            "why": "reconstruction changes the content on purpose; the study left these chains out of the metric verdicts",
        }
        for s in audit_settings(cfg)
        if not get_task(s.task).metric_verdicts
    ]


def _config_dict(cfg: AuditConfig) -> dict[str, Any]:
    # `origins` says where each value was read, for error messages; not part of what ran.
    return {k: v for k, v in json.loads(json.dumps(asdict(cfg), default=list)).items() if k != "origins"}


def write_json_atomic(path: Path, data: Any) -> Path:
    """Write `data` as JSON through a temporary file and a rename (files.write_file_atomic:
    no half file, no temporary file left behind on a full disk). Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_file_atomic(path, (json.dumps(data, indent=1, sort_keys=True, default=str) + "\n").encode("utf-8"))


def write_results(
    cfg: AuditConfig,
    run_dir: Path,
    records: Sequence[Record],
    *,
    started: float,
    finished: float,
    outcomes: Mapping[str, int] | None = None,
    interrupted: bool = False,
    collected: int | None = None,
    stopped: str | None = None,
    stop_requested: Callable[[], bool] = lambda: False,
    profiles: Sequence[ProfileRecord] = (),
) -> tuple[RunResults, dict[str, Path], bool]:
    """Write results.json and, with --update-baseline, the baseline; returns the results
    written, the files' paths and whether the results say the run was interrupted.

    An interrupted run writes no baseline: half a re-recording would mix two runs' verdicts.
    `stop_requested()`: whether a Ctrl-C came while these files were written; one that
    came before the baseline is written makes the run interrupted (results.json is written
    again, marked, and no baseline), one that came after changes nothing (every output is
    complete by then). `stopped`: why pytest stopped early without an interrupt (-x,
    --maxfail, session.shouldstop), for results.json. `profiles`: the chains' artifact
    profiles, results.json's `profiles`. Raises ReportError (unwritable) when
    a file cannot be written, e.g. on a full disk; no temporary file is left behind."""

    def results_for(interrupted: bool) -> RunResults:
        return build_results(
            cfg,
            records,
            started=started,
            finished=finished,
            outcomes=outcomes,
            interrupted=interrupted,
            collected=collected,
            stopped=stopped,
            profiles=profiles,
        )

    results = results_for(interrupted)
    paths: dict[str, Path] = {}
    target = run_dir / "results.json"
    try:
        paths["results"] = write_json_atomic(target, check_schema(target, results.to_json()))
        if not interrupted and stop_requested():  # Ctrl-C while writing: the outputs must say so
            interrupted = True
            results = results_for(True)
            paths["results"] = write_json_atomic(target, check_schema(target, results.to_json()))
        if cfg.update_baseline and not interrupted:
            target = baseline_mod.baseline_path(cfg)
            paths["baseline"], backup = update_baseline(cfg, records)
            if backup is not None:
                paths["baseline_backup"] = backup
    except OSError as e:
        raise unwritable(target, e) from None
    return results, paths, interrupted


CHECK_SCHEMA = "IQA_AUDIT_CHECK_SCHEMA"  # "1": validate results.json before writing it (the tests set it)


def check_schema(target: Path, data: dict[str, Any]) -> dict[str, Any]:
    """`data`, unchanged, after validating it against the shipped results.schema.json when
    the environment variable IQA_AUDIT_CHECK_SCHEMA is "1" (iqa-audit's own tests, or a CI
    that wants every results.json it keeps checked). Raises ReportError naming the file and
    the first problems when it does not conform: a bug in what the writer or a record writes."""
    if os.environ.get(CHECK_SCHEMA) != "1":
        return data
    found = schema.problems(data)
    if found:
        raise ReportError(
            explain(
                f"writing {target}",
                expected=f"a results.json that validates against iqa_audit/results/{schema.SCHEMA_FILE} "
                f"(format {schema.FORMAT} version {schema.FORMAT_VERSION})",
                got=f"{len(found)} problem(s): " + "; ".join(found[:3]),
                fix="This is a bug in iqa-audit: the writer and the schema disagree. Report it with these lines; "
                f"unset {CHECK_SCHEMA} to write the file anyway.",
            )
        )
    return data


def unwritable(target: Path, e: OSError) -> ReportError:
    """The ReportError for an output of the run (results.json, the baseline, the report)
    that could not be written: the file, the system's reason and the fix."""
    return ReportError(
        explain(
            f"writing {target}",
            expected="room to write the run's outputs",
            got=f"{e.strerror or e} (errno {e.errno})",
            fix="Free disk space (or pass --reports-dir on another disk) and run again: every score "
            "and chain is in the store, so the re-run only writes the report.",
        )
    )


class ReportError(AuditError):
    """The run's outputs (results.json, the report, the baseline) could not be written."""


def load_results(path: str | Path) -> RunResults:
    """Read another run's results.json (for --compare), with a clear error (ConfigError)
    when it is not one: not JSON, another format, or a cell record records.parse refuses
    (one written by the previous release, with its alias keys, is read)."""

    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(
            explain(
                f"--compare {p}",
                expected="a results.json written by iqa-audit",
                got=str(e),
                fix="Point at reports/<run-name>/results.json of an earlier run.",
            )
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = repr(data.get("format")) if isinstance(data, dict) else type(data).__name__
        raise ConfigError(
            explain(
                f"--compare {p}",
                expected=f"format {FORMAT}",
                got=got,
                fix="Point at reports/<run-name>/results.json of an earlier run.",
            )
        )
    try:
        return RunResults.from_json(data)  # refused here, before any test runs
    except RecordError as e:
        raise ConfigError(f"--compare {p}: {e}") from None


def update_baseline(cfg: AuditConfig, records: Sequence[Record]) -> tuple[Path, Path | None]:
    """Merge this run's cells into the baseline; cells not in this run keep their entry
    (with --replace-baseline: this run's cells alone, the old file kept as .bak; see
    baseline.write_update). A row is (cell, passed, value, version[, verdict, stderr]):
    the record's fields of those names. Returns (the baseline, the replaced file's backup
    or None)."""
    entries: dict[str, tuple] = {}
    versions: dict[str, str | None] = {}
    for r in records:
        if not isinstance(r, GATED):
            continue
        # A skipped or errored cell has no verdict to expect next time: its old entry stays.
        # An inconclusive gap is skipped with a verdict: there was nothing to notice.
        done = r.outcome not in ("skipped", "error")
        if isinstance(r, GapRecord):
            if (done or r.verdict == "inconclusive") and r.error is None:
                entries[r.cell] = (r.cell, r.passed, r.value, r.version, r.verdict, r.gap_stderr)
                versions[r.metric] = r.version
        elif isinstance(r, (EditorRecord, StabilityRecord)) and done:
            entries[r.cell] = (r.cell, r.passed, r.value, r.version)
    return baseline_mod.write_update(cfg, entries, versions)
