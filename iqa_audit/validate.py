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

import difflib
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from .config import AuditConfig
from .console import cli_command
from .errors import ConfigError, explain
from .options import options_for


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    return ("Did you mean " + ", ".join(close) + "? ") if close else ""


# ----- one lookup per kind of name --------------------------------------------------------
def check_metrics(cfg: AuditConfig, flag: str = "--metric") -> None:
    from .metrics.registry import check_metric

    for name in cfg.metrics:
        check_metric(name)


def check_editor(spec: str, flag: str = "--editor") -> None:
    """The editor exists and takes the spec's parameters; nothing is created (a paid
    editor's client would want its API key)."""
    from .editors import editor_entry, editor_names
    from .editors.base import parse_spec

    name, params = parse_spec(spec)
    names = editor_names()
    if name not in names:
        raise ConfigError(
            explain(
                f"{flag} {spec}",
                expected="an editor name",
                got="no such editor",
                fix=_suggest(name, names) + f"Run `{cli_command('list')}` to see every editor.",
            )
        )
    entry = editor_entry(name)
    unknown = sorted(set(params) - set(entry.defaults))
    if unknown:
        raise ConfigError(
            explain(
                f"{flag} {spec}",
                expected="parameters among " + (", ".join(sorted(entry.defaults)) or "(none)"),
                got=", ".join(unknown),
                fix=_suggest(unknown[0], entry.defaults) + "Drop or rename them.",
            )
        )


def check_editors(cfg: AuditConfig, flag: str = "--editor") -> None:
    for spec in cfg.editors:
        check_editor(spec, flag)


def check_task(name: str, flag: str = "--task") -> None:
    from .tasks import task_names

    names = task_names()
    if name not in names:
        raise ConfigError(
            explain(
                f"{flag} {name}",
                expected="one of " + ", ".join(names),
                got="no such task",
                fix=_suggest(name, names) + "Use one of the listed task names.",
            )
        )


def check_tasks(cfg: AuditConfig, flag: str = "--task") -> None:
    for name in cfg.tasks:
        check_task(name, flag)


def check_seed_dirs(cfg: AuditConfig, flag: str = "--seed-dir") -> None:
    from .seeds import resolve_seeds, seeds_from_dir

    for d in cfg.seed_dirs:
        seeds_from_dir(d)  # exists, is a folder, holds images that decode
    if cfg.seed_dirs:
        resolve_seeds(None, extra_dirs=cfg.seed_dirs)  # no file named like another seed


def check_seeds(cfg: AuditConfig, flag: str = "--seed") -> None:
    from .plan import SEED_GROUPS
    from .seeds import builtin_seeds, seeds_from_dir

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
                    f"{flag} {name}",
                    expected="a seed name or a group (all, all-procedural, all-photos)",
                    got="no such seed",
                    fix=_suggest(name, known) + f"Run `{cli_command('list')}` to see "
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


def check_store(cfg: AuditConfig, flag: str = "--store") -> None:
    """The store can be used, without creating anything (a refused command leaves no trace):
    an existing manifest opens and reads (a read-only store opens read-only); a new store's
    folder exists or can be created (its nearest existing parent is a writable folder).
    Otherwise one ConfigError line naming the folder, instead of a traceback from the first
    test that needs the store."""
    import os
    import tempfile

    from .errors import StoreError
    from .store import Store, default_store_root

    root = Path(cfg.store) if cfg.store else default_store_root()
    if (root / "manifest.sqlite").is_file():
        try:
            Store(root).close()
        except StoreError as e:
            raise ConfigError(f"{flag}: {e}") from None
        return
    parent = root
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent == root and not root.is_dir():
        raise ConfigError(explain(f"{flag} {root}", expected="a folder", got="a file", fix="Pass another --store folder."))
    try:  # a real probe: permission bits say nothing for root, or on /proc and read-only mounts
        os.rmdir(tempfile.mkdtemp(prefix=".iqa-audit-probe-", dir=parent))
    except OSError as e:
        raise ConfigError(
            explain(
                f"{flag} {root}",
                expected="a writable folder (or one that can be created)",
                got=f"a place where no folder can be created: {parent} refuses it ({e.strerror or e})",
                fix="Pass --store with a folder you can write, or set IQA_AUDIT_STORE.",
            )
        ) from None


def check_dataset(cfg: AuditConfig, flag: str = "--dataset") -> None:
    """The dataset is there to audit: a manifest is imported now (datasets.ensure_imported:
    every row's file allowed, readable and an image, or one error listing every problem and
    nothing imported), a name is a finished import. Found here, once, instead of as the same
    error at the setup of every test."""
    if cfg.dataset:
        from .datasets import ensure_imported
        from .store import Store

        ensure_imported(Store(cfg.store), cfg.dataset)


def check_baseline(cfg: AuditConfig, flag: str = "--baseline") -> None:
    """A named baseline exists and parses, unless this run writes it (--update-baseline)."""
    if not cfg.baseline or cfg.baseline.lower() == "none":
        return
    from . import baseline

    if not Path(cfg.baseline).is_file():
        if cfg.update_baseline:
            return
        raise ConfigError(
            explain(
                f"{flag} {cfg.baseline}",
                expected="an existing baseline file",
                got="no such file",
                fix=f"Write it with {flag} {cfg.baseline} --update-baseline, or pass {flag} none for raw verdicts.",
            )
        )
    baseline.load(cfg.baseline)


def check_compare(cfg: AuditConfig, flag: str = "--compare") -> None:
    if cfg.compare:
        from .results import load_results

        load_results(cfg.compare)


def check_audit_settings(cfg: AuditConfig) -> None:
    """The editor audit's own settings (pyproject.toml / profiles only): its editors and
    its task:seed cases."""
    from .seeds import builtin_seeds

    where = "audit_editors in [tool.iqa_audit]"
    for spec in cfg.audit_editors:
        check_editor(spec, where)
    seeds = [s.name for s in builtin_seeds()]
    for case in cfg.audit_cases:
        task, sep, seed = case.partition(":")
        if not sep:
            raise ConfigError(
                explain(
                    f"audit_cases in [tool.iqa_audit]: {case!r}",
                    expected="task:seed",
                    got=repr(case),
                    fix='Write e.g. "replicate:grid-perspective".',
                )
            )
        check_task(task, "audit_cases in [tool.iqa_audit]")
        if seed not in seeds:
            raise ConfigError(
                explain(
                    f"audit_cases in [tool.iqa_audit]: {case!r}",
                    expected="a built-in seed",
                    got=repr(seed),
                    fix=_suggest(seed, seeds) + "Fix the seed name.",
                )
            )


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
    "results": check_compare,
}


# Commands that build chains: an editor's input-size limit (an encoder's) is checked for
# every (editor, seed) they would build, before anything runs.
BUILDING_COMMANDS = ("pytest", "build", "score")


def check_config(cfg: AuditConfig, command: str, *, skip: Sequence[str] = ()) -> None:
    """Run the lookups of every option `command` offers (see options.options_for), then,
    for the pytest audit, the editor audit's settings, and for a command that builds
    chains, the editors' input-size limits (plan.check_input_sizes: the seed, its size,
    the limit and the fix). Raises the first ConfigError.
    `skip`: lookup kinds a caller does not need (e.g. 'metric' for a build)."""
    for opt in options_for(command):
        check = LOOKUPS.get(opt.lookup) if opt.lookup and opt.lookup not in skip else None
        if check is not None:
            check(cfg, opt.flag)
    if command == "pytest" and not cfg.dataset:
        check_audit_settings(cfg)
    if command in BUILDING_COMMANDS and not cfg.dataset:
        from .plan import check_input_sizes  # plan imports chains and seeds: only when a command builds

        check_input_sizes(cfg, editor_audit=command == "pytest")  # the CLI builds the metric audit's chains
