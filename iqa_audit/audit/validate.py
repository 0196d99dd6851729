"""Check a resolved AuditConfig against the world once, before anything runs.

Every name (metric, editor, task, seed, profile) is looked up in its registry, every file
and folder is opened, and a CUDA device is asked for, once per pytest session (on the
controller; xdist workers inherit the verdict) or CLI command. No model is loaded: a
pyiqa name is checked against pyiqa's config table, a user metric by importing its module.
A mistake is one `ConfigError` line with did-you-mean suggestions, which the pytest plugin
turns into a usage error (exit code 4) and the CLI into `error: ...` (exit code 2), instead
of the same failure repeated in every test.

Which lookups run is the options table's `lookup` column (`options.OPTIONS`) for the
options the command offers.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from iqa_audit.chains.plan import SEED_GROUPS, check_input_sizes
from iqa_audit.config.audit_config import AuditConfig
from iqa_audit.config.options import options_for
from iqa_audit.core.console import cli_command
from iqa_audit.core.errors import ConfigError, StoreError, did_you_mean, explain
from iqa_audit.datasets.importer import ensure_imported
from iqa_audit.editors import editor_entry, editor_names
from iqa_audit.editors.base import parse_spec
from iqa_audit.metrics.registry import check_metric
from iqa_audit.results import baseline
from iqa_audit.results.writer import load_results
from iqa_audit.seeds import builtin_seeds, resolve_seeds, seeds_from_dir
from iqa_audit.store.store import Store, default_store_root
from iqa_audit.tasks.table import get_task, task_names


def _named(flag: str, name: str) -> str:
    """'--editor codec-jpgg' for a flag; "stability_editor in [tool.iqa_audit] of
    /x/pyproject.toml: 'codec-jpgg'" for a key (AuditConfig.label)."""
    return f"{flag} {name}" if flag.startswith("--") else f"{flag}: {name!r}"


# ----- one lookup per kind of name --------------------------------------------------------
def check_metrics(cfg: AuditConfig, flag: str = "--metric") -> None:

    for name in cfg.metrics:
        try:
            check_metric(name)
        except ConfigError as e:  # worded for --metric: say which pyproject key held the name
            if flag.startswith("--"):
                raise
            raise ConfigError(f"{flag}: {e}") from None


def check_editor(spec: str, flag: str = "--editor") -> None:
    """The editor exists and takes the spec's parameters; nothing is created (a paid
    editor's client would want its API key)."""

    name, params = parse_spec(spec)
    names = editor_names()
    if name not in names:
        raise ConfigError(
            explain(
                _named(flag, spec),
                expected="an editor name",
                got="no such editor",
                fix=did_you_mean(name, names) + f"Run `{cli_command('list')}` to see every editor.",
            )
        )
    entry = editor_entry(name)
    unknown = sorted(set(params) - set(entry.defaults))
    if unknown:
        raise ConfigError(
            explain(
                _named(flag, spec),
                expected="parameters among " + (", ".join(sorted(entry.defaults)) or "(none)"),
                got=", ".join(unknown),
                fix=did_you_mean(unknown[0], entry.defaults) + "Drop or rename them.",
            )
        )


def check_editors(cfg: AuditConfig, flag: str = "--editor") -> None:
    for spec in cfg.editors:
        check_editor(spec, flag)


def check_task(name: str, flag: str = "--task") -> None:

    names = task_names()
    if name not in names:
        raise ConfigError(
            explain(
                _named(flag, name),
                expected="one of " + ", ".join(names),
                got="no such task",
                fix=did_you_mean(name, names) + "Use one of the listed task names.",
            )
        )


def check_tasks(cfg: AuditConfig, flag: str = "--task") -> None:
    for name in cfg.tasks:
        check_task(name, flag)


def check_seed_dirs(cfg: AuditConfig, flag: str = "--seed-dir") -> None:

    for d in cfg.seed_dirs:
        seeds_from_dir(d)  # exists, is a folder, holds images that decode
    if cfg.seed_dirs:
        resolve_seeds(None, extra_dirs=cfg.seed_dirs)  # no file named like another seed


def check_seeds(cfg: AuditConfig, flag: str = "--seed") -> None:

    names = [cfg.seeds] if isinstance(cfg.seeds, str) else list(cfg.seeds)
    if not names and not cfg.seed_dirs and not cfg.dataset:
        raise ConfigError(
            explain(
                flag,
                expected="a seed name, a group (all, all-procedural, all-photos) or --seed-dir",
                got="no seeds",
                fix="Pass --seed grid-perspective or --seed-dir DIR.",
            )
        )
    known = [*SEED_GROUPS, *(s.name for s in builtin_seeds()), *(s.name for d in cfg.seed_dirs for s in seeds_from_dir(d))]
    for name in names:
        if name not in known:
            raise ConfigError(
                explain(
                    _named(flag, name),
                    expected="a seed name or a group (all, all-procedural, all-photos)",
                    got="no such seed",
                    fix=did_you_mean(name, known) + f"Run `{cli_command('list')}` to see "
                    "every seed, or add the folder holding your image with --seed-dir.",
                )
            )


def check_device(cfg: AuditConfig, flag: str = "--device") -> None:
    """cuda / cuda:N needs a GPU torch can use here, whether or not any score is still to
    compute: a warm run must not pass on CPU scores when a GPU was asked for."""
    if cfg.device == "cpu":
        return  # no torch import: a warm CPU run never loads it
    import torch

    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build"
        raise ConfigError(
            explain(
                f"{flag} {cfg.device}",
                expected="a CUDA GPU that torch can use",
                got=f"none (torch {torch.__version__}, {build})",
                fix=f"Pass {flag} cpu, or run on a machine with an NVIDIA GPU and a CUDA build of torch.",
            )
        )
    index = cfg.device.partition(":")[2]
    if index and int(index) >= torch.cuda.device_count():
        raise ConfigError(
            explain(
                f"{flag} {cfg.device}",
                expected=f"a GPU index below {torch.cuda.device_count()}",
                got=index,
                fix=f"Pass {flag} cuda:0.",
            )
        )


def _unwritable(root: Path) -> tuple[Path, str] | None:
    """None when a folder can be made in `root` (or `root` itself created); else (the
    nearest existing parent, why not). Creates nothing that stays. A real probe: permission
    bits say nothing for root, on /proc or on a read-only mount."""

    parent = root
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return parent, "it is a file, not a folder"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".iqa-audit-probe-", dir=parent))
    except OSError as e:
        return parent, e.strerror or str(e)
    return None


def check_reports_dir(root: Path, label: str | None = None) -> None:
    """The reports folder (each run's results.json, report and figures go under it) can be
    written: refused at configure, not found after every test ran. `label`: where the
    folder was set (None: the default, reports/ beside pyproject.toml)."""
    problem = _unwritable(root)
    if problem is not None:
        parent, why = problem
        raise ConfigError(
            explain(
                _named(label, str(root)) if label else f"the reports folder {root} (the default)",
                expected="a folder where a run folder can be written",
                got=f"{parent} refuses it ({why})",
                fix="Pass --reports-dir with a folder you can write (or set reports_dir in [tool.iqa_audit]), "
                "or make this one writable.",
            )
        )


def check_store(cfg: AuditConfig, flag: str = "--store") -> None:
    """The store can be used, without creating anything (a refused command leaves no trace):
    an existing manifest opens and reads (a read-only store opens read-only); a new store's
    folder exists or can be created (its nearest existing parent is a writable folder).
    Otherwise one ConfigError line naming the folder, instead of a traceback from the first
    test that needs the store."""

    root = Path(cfg.store) if cfg.store else default_store_root()
    if (root / "manifest.sqlite").is_file():
        try:
            Store(root).close()
        except StoreError as e:
            raise ConfigError(f"{flag}: {e}") from None
        return
    if root.exists() and not root.is_dir():
        raise ConfigError(explain(f"{flag} {root}", expected="a folder", got="a file", fix="Pass another --store folder."))
    problem = _unwritable(root)
    if problem is not None:
        parent, why = problem
        raise ConfigError(
            explain(
                f"{flag} {root}",
                expected="a writable folder (or one that can be created)",
                got=f"a place where no folder can be created: {parent} refuses it ({why})",
                fix="Pass --store with a folder you can write, or set IQA_AUDIT_STORE.",
            )
        )


def check_dataset(cfg: AuditConfig, flag: str = "--dataset") -> None:
    """The dataset is there to audit: a manifest is imported now (datasets.ensure_imported:
    every row's file allowed, readable and an image, or one error listing every problem and
    nothing imported), a name is a finished import. Found here, once, instead of as the same
    error at the setup of every test."""
    if cfg.dataset:
        ensure_imported(Store(cfg.store), cfg.dataset)


def check_baseline(cfg: AuditConfig, flag: str = "--baseline") -> None:
    """A named baseline exists and matches the schema (baseline.read), unless this run
    writes it (--update-baseline: check_baseline_update decides what it may write)."""
    if not cfg.baseline or cfg.baseline.lower() == "none" or cfg.update_baseline:
        return

    if not Path(cfg.baseline).is_file():
        raise ConfigError(
            explain(
                _named(flag, cfg.baseline),
                expected="an existing baseline file",
                got="no such file",
                fix=f"Write it with --baseline {cfg.baseline} --update-baseline, or pass --baseline none for raw verdicts.",
            )
        )
    baseline.read(cfg.baseline)


def check_compare(cfg: AuditConfig, flag: str = "--compare") -> None:
    if cfg.compare:
        load_results(cfg.compare)


def check_compare_editors(cfg: AuditConfig, flag: str) -> None:
    for spec in cfg.compare_editors:
        check_editor(spec, flag)


def check_audit_editors(cfg: AuditConfig, flag: str) -> None:
    if not cfg.dataset:  # imported chains: the editor audit builds nothing
        for spec in cfg.audit_editors:
            check_editor(spec, flag)


def _check_cases(cases: Iterable[str], flag: str, cfg: AuditConfig, *, adds: bool) -> None:
    """Each 'task:seed' names a task (an add task with `adds`) and a seed, built in or in a
    --seed-dir folder (the value check made sure of the colon)."""

    seeds = [*(s.name for s in builtin_seeds()), *(s.name for d in cfg.seed_dirs for s in seeds_from_dir(d))]
    for case in cases:
        task, _, seed = case.partition(":")
        check_task(task, flag)
        if adds and not get_task(task).adds_objects:
            raise ConfigError(
                explain(
                    _named(flag, case),
                    expected="an add task (add-apples, add-fruits) before the colon",
                    got=repr(task),
                    fix='Write e.g. "add-apples:empty-table": stability is measured while objects are added.',
                )
            )
        if seed not in seeds:
            raise ConfigError(
                explain(
                    _named(flag, case),
                    expected="a seed after the colon",
                    got=repr(seed),
                    fix=did_you_mean(seed, seeds) + "Fix the seed name.",
                )
            )


def check_audit_cases(cfg: AuditConfig, flag: str) -> None:
    if not cfg.dataset:
        _check_cases(cfg.audit_cases, flag, cfg, adds=False)


def check_stability_cases(cfg: AuditConfig, flag: str) -> None:
    if not cfg.dataset:
        _check_cases(cfg.stability_cases, flag, cfg, adds=True)


def check_stability_editor(cfg: AuditConfig, flag: str) -> None:
    if not cfg.dataset:
        check_editor(cfg.stability_editor, flag)


def check_baseline_update(cfg: AuditConfig, flag: str = "--update-baseline") -> None:
    """--update-baseline can do what it says, before anything runs (baseline.check_update:
    a file to write, of this run's shape or replaced on purpose)."""
    if cfg.update_baseline or cfg.replace_baseline:
        baseline.check_update(cfg)


# The options table's `lookup` column names one of these.
LOOKUPS: Mapping[str, Callable[[AuditConfig, str], None] | None] = {
    "profile": None,  # config.profile_values refuses an unknown profile while resolving
    "metric": check_metrics,
    "editor": check_editors,
    "seed-dir": check_seed_dirs,
    "seed": check_seeds,
    "task": check_tasks,
    "device": check_device,
    "store": check_store,
    "dataset": check_dataset,
    "baseline": check_baseline,
    "baseline-update": check_baseline_update,
    "results": check_compare,
    # pyproject.toml-only settings (options.SETTING)
    "compare-editors": check_compare_editors,
    "audit-editors": check_audit_editors,
    "audit-cases": check_audit_cases,
    "stability-editor": check_stability_editor,
    "stability-cases": check_stability_cases,
}


# Commands that build chains: an editor's input-size limit (an encoder's) is checked for
# every (editor, seed) they would build, before anything runs.
BUILDING_COMMANDS = ("pytest", "build", "score")


def check_config(cfg: AuditConfig, command: str, *, skip: Sequence[str] = ()) -> None:
    """Run the lookups of every option `command` offers (see options.options_for) and, for
    the pytest audit, of the pyproject.toml-only settings (the editor audit's and the
    stability chains'), each error naming where the value came from (AuditConfig.label);
    then, for a command that builds chains, the editors' input-size limits
    (plan.check_input_sizes: the seed, its size, the limit and the fix). Raises the first
    ConfigError. `skip`: lookup kinds a caller does not need (e.g. 'metric' for a build)."""
    offered = options_for(command) + (options_for("setting") if command == "pytest" else ())
    for opt in offered:
        check = LOOKUPS.get(opt.lookup) if opt.lookup and opt.lookup not in skip else None
        if check is not None:
            check(cfg, cfg.label(opt.dest))
    if command in BUILDING_COMMANDS and not cfg.dataset:
        check_input_sizes(cfg, editor_audit=command == "pytest")  # the CLI builds the metric audit's chains
