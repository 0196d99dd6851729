"""Editor cells: a fidelity check on an editor's chains, as an EditorRecord.

For one `EditorCell` (setting, seed, check, steps, runs): the check's table entry
(`fidelity.table`) run on each run's chain at the judged step, with what the entry
`needs` prepared (the faithful output of the task, every step, an object count), each
run's finding memoised in the store, the runs combined by the entry, the editor's own
reasoning read by the self-evaluation judge (the keyword judge, or the LLM `--judge`),
and the typed record results.json and the report read (`records.EditorRecord`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Mapping

from iqa_audit import fidelity, tasks
from iqa_audit.audit.cells import EditorCell
from iqa_audit.chains.chain import Chain
from iqa_audit.chains.service import image_names, reasonings, step_image
from iqa_audit.config.audit_config import AuditConfig
from iqa_audit.core.images import Image
from iqa_audit.core.keys import code_digest
from iqa_audit.core.tracebacks import ErrorFields
from iqa_audit.editors import create_editor
from iqa_audit.fidelity.finding import Finding
from iqa_audit.fidelity.table import CheckInput, get_check
from iqa_audit.results.records import EditorRecord
from iqa_audit.store.memo import memo_key, memoised
from iqa_audit.store.rows import jsonable
from iqa_audit.store.store import StepRecord, Store
from iqa_audit.tasks.table import get_task
from iqa_audit.vlm import counting
from iqa_audit.vlm.cached_counter import CachedCounter
from iqa_audit.vlm.counting import BlobCounter, VLMCounter
from iqa_audit.vlm.self_eval import LLMJudge, StoredJudge, first_noticed_step, keyword_judge, summarise_delays


# The code behind each memoised finding: editing any of it makes every memo of that kind
# stale (a different key), so a check's verdict is never read back from older code.
# Imported when first needed: collection imports no check.
def fidelity_sources() -> tuple[ModuleType, ...]:
    """The modules whose source keys every 'fidelity' memo: fidelity, tasks, counting and
    this one (keys.code_digest over them)."""

    return (fidelity, tasks, counting, sys.modules[__name__])


@dataclass(frozen=True)
class EditorFinding:
    """A fidelity finding of one editor cell, over its runs, combined by the check's table
    entry (by default the worst run, passing only when every run does; a rate pools runs).

    value and tolerance: in the check's own units (fidelity.finding.Finding). details:
    {"runs": [each run's details with its passed and value]}. editor_version: of run 0's
    chain."""

    passed: bool
    value: float
    tolerance: float
    message: str
    details: Mapping[str, Any]
    editor_version: str


class EditorCells:
    """Editor cells of one process: their findings and records."""

    def __init__(self, cfg: AuditConfig, store: Store, chains):
        self.cfg = cfg
        self.store = store
        self.chains = chains  # chains.service.ChainService, or datasets.imported_chains.ImportedChains

    def _chains(self, cell: EditorCell) -> list[Chain]:
        return self.chains.chains(cell.chain_requests(self.cfg)[0])

    def finding(self, cell: EditorCell) -> EditorFinding:
        """The cell's fidelity finding: check cell.check on each of max(cell.runs, 1) chains
        built to cell.steps (every imported run with --dataset), judged at step cell.steps,
        or at the chain's last ok step when it stopped earlier or cell.steps < 0, combined
        by the check's combine_runs. Each run's finding is memoised in the store
        ('fidelity'). Raises as ChainService.chains does, CorruptObject or BadImageError for
        an image that cannot be read, ConfigError for an unknown check or --counter."""
        chains = self._chains(cell)
        findings = []
        for chain in chains:
            last = chain.ok_steps[-1] if cell.steps < 0 else _step_or_last(chain, cell.steps)
            findings.append(self._check(cell, chain, last))
        combined = get_check(cell.check).combine_runs(findings)
        return EditorFinding(
            passed=combined.passed,
            value=float(combined.value),
            tolerance=float(combined.tolerance),
            message=combined.message,
            details={"runs": [dict(jsonable(f.details), passed=f.passed, value=f.value) for f in findings]},
            editor_version=chains[0].record.editor_version,
        )

    def _check(self, cell: EditorCell, chain: Chain, last: StepRecord) -> Finding:
        """One run's finding, memoised under its inputs' hashes (seed, output, task, step,
        counter) and the checks' source, so a warm run decodes no image."""
        check = get_check(cell.check)
        task = None if cell.dataset is not None else cell.setting.task
        counter = self.counter_id(task) if "count" in check.needs else None
        parts = [cell.check, task, chain.step(0).image_hash, last.image_hash, last.step, counter]
        if "steps" in check.needs:  # a check over the whole chain depends on every step's image
            parts.append([s.image_hash for s in _steps_upto(chain, last.step)])
        key = memo_key("fidelity", *parts, code_digest(*fidelity_sources()))
        return memoised(
            self.store,
            "fidelity",
            key,
            lambda: self._run_check(cell, chain, last),
            dump=Finding.to_dict,
            load=lambda d: Finding(**d),
        )

    def _run_check(self, cell: EditorCell, chain: Chain, last: StepRecord) -> Finding:
        """Prepare what the check's table entry needs, and run it."""
        check = get_check(cell.check)
        task = None if cell.dataset is not None else get_task(cell.setting.task)
        seed_img = step_image(self.store, chain.step(0))
        extra: dict[str, Any] = {}
        if "reference" in check.needs:
            extra["reference"] = faithful_output(task, seed_img, last.step) if task else seed_img
        if "steps" in check.needs:
            extra["steps"] = tuple((s.step, step_image(self.store, s)) for s in _steps_upto(chain, last.step))
        if "count" in check.needs:
            counter = extra["counter"] = self.counter(task)
            extra["expected_count"] = task.expected_count(counter.count(seed_img), last.step)
        return check.run(CheckInput(task, seed_img, step_image(self.store, last), last.step, **extra))

    def counter(self, task) -> CachedCounter:
        """The object counter for `task` (a tasks.Task; it counts task.count_noun): with
        --counter vlm:MODEL a VLMCounter asking MODEL (one request per image not yet
        counted), else the offline BlobCounter, behind a CachedCounter keeping counts in the
        store. Raises ConfigError for a malformed --counter."""

        noun = task.count_noun
        model = self.cfg.counter_model()
        return CachedCounter(self.store, VLMCounter(model, noun=noun) if model else BlobCounter(), noun)

    def counter_id(self, task_name: str | None) -> str:
        """The counter's part of a 'fidelity' memo key: 'vlm:<model>:<task>' with --counter
        vlm:MODEL, else 'blobs:<task>'. Raises ConfigError for a malformed --counter."""
        model = self.cfg.counter_model()
        return f"vlm:{model}:{task_name}" if model else f"blobs:{task_name}"

    def judge(self):
        """The self-evaluation judge of the editor's reasoning: keyword_judge, or with --judge
        llm:MODEL an LLM judge whose answers are kept in the store (each question is asked
        once across cells, workers and runs)."""

        model = self.cfg.judge_model()
        return StoredJudge(self.store, LLMJudge(model=model)) if model else keyword_judge

    def record(self, cell: EditorCell, f: EditorFinding) -> EditorRecord:
        """The cell's record, from its finding (`finding(cell)`)."""
        chains = self._chains(cell)
        return EditorRecord(
            cell=cell.key,
            check=cell.check,
            setting=cell.setting.label,
            editor=cell.setting.editor,
            version=f.editor_version,
            task=cell.setting.task,
            seed=cell.seed,
            passed=f.passed,
            value=f.value,
            tolerance=f.tolerance,
            message=f.message,
            details=jsonable(f.details),
            images=image_names(chains),
            self_evaluation=self_evaluation(reasonings(chains), self.judge()),
        )

    def error_record(self, cell: EditorCell, error: ErrorFields) -> EditorRecord:
        """The record of a cell that reached no verdict: its own fields, `passed` false,
        `value` null, baseline "error" and the error's fields; the editor's version, ""
        when the editor cannot be made."""
        return EditorRecord(
            cell=cell.key,
            check=cell.check,
            setting=cell.setting.label,
            editor=cell.setting.editor,
            task=cell.setting.task,
            seed=cell.seed,
            version=_editor_version(cell.setting.editor),
            passed=False,
            value=None,
            baseline="error",
            **error.as_record_fields(),
        )


def self_evaluation(reasonings: Mapping[str, list], judge) -> dict[str, Any]:
    """The study's self-evaluation delay: per run, the first step whose reasoning says the
    input is noisy or has artifacts (keyword judge, or an LLM judge with --judge); mean ± sd."""

    have_text = any(r for steps in reasonings.values() for _, r in steps)
    if not have_text:
        return {"available": False, "why": "this editor returns no reasoning"}
    firsts = [first_noticed_step([(k, r) for k, r in steps], judge) for _, steps in sorted(reasonings.items())]
    summary = summarise_delays(firsts)
    return {
        "available": True,
        "per_run": firsts,
        "mean": summary.mean,
        "sd": summary.sd,
        "noticed_runs": summary.noticed_runs,
        "runs": summary.runs,
    }


def faithful_output(task, step0: Image, steps: int) -> Image:
    """What a perfect editor would have produced after `steps` steps: the task's ideal edit
    applied step by step (mirrored k times, k apples drawn, ...). Every check compares the
    editor's output with this, so an added apple is not mistaken for a red tint."""
    image = step0
    for k in range(1, steps + 1):
        image = task.ideal_edit(image, k)
    return image


def _editor_version(spec: str) -> str:
    """The editor's version for an error record, "" when the editor cannot be made."""

    try:
        return str(create_editor(spec).version)
    except Exception:  # a description must not fail the error it describes
        return ""


def _step_or_last(chain: Chain, step: int) -> StepRecord:
    ok = {s.step: s for s in chain.ok_steps}
    return ok.get(step) or chain.ok_steps[-1]


def _steps_upto(chain: Chain, step: int) -> list[StepRecord]:
    """The chain's stored steps 0..`step`, in order."""
    return [s for s in chain.ok_steps if s.step <= step]
