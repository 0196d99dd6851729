"""`iqa-audit`: run the audit, and build and cache chains (and scores) ahead of it.

The console script pip installs ([project.scripts] in pyproject.toml); also
`python -m iqa_audit` and, from a source tree, `python generate_fixtures.py`. Every option
comes from the one table in `options.py`, shared with the pytest plugin, and the resolved
config is checked by `validate.check_config` before any work: a mistake is one
`error: ...` line and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Sequence

from iqa_audit.audit.validate import check_config
from iqa_audit.chains.build import announce_paid, build_all, pending, stopped_chains
from iqa_audit.chains.paid import PaidBudget
from iqa_audit.chains.plan import chain_specs
from iqa_audit.cli.audit_cmd import add_audit_parser, cmd_audit
from iqa_audit.cli.history_cmd import run_history
from iqa_audit.cli.import_cmd import add_import_parser, run_import
from iqa_audit.config.audit_config import find_pyproject, resolve_config
from iqa_audit.config.options import add_options, overrides, switches
from iqa_audit.config.value_lists import split_csv
from iqa_audit.core.console import cli_prefix
from iqa_audit.core.errors import AuditError, ConfigError, explain
from iqa_audit.core.urls import redact_text
from iqa_audit.distributed.building import build_chains_ray
from iqa_audit.distributed.scoring import score_chains_ray
from iqa_audit.editors import editor_entry, editor_names
from iqa_audit.metrics.fetch import weights_main
from iqa_audit.metrics.registry import list_metric_names
from iqa_audit.scoring.cached import score_chains
from iqa_audit.seeds import builtin_seeds
from iqa_audit.store.store import Store
from iqa_audit.tasks.table import TASKS

# (arguments, comment) of the examples --help prints, after the command as it runs here.
EXAMPLES = (
    ("audit -n auto", "audit the default metrics and editors; ends on the report's path"),
    ("audit --metrics-only --metric mypkg.metrics:sharpness --baseline none", "audit your metric"),
    ("", "build the quick profile's chains"),
    ("build --profile paper --jobs 2", ""),
    ("build --editor codec-jpeg --seed grid-perspective --runs 1 --steps 30", ""),
    ("import PATH/manifest.csv --name banana100", ""),
    ('import DIR --layout "{setting}/{seed}/run{run}/step{step}.png" --name mine', ""),
    ("import hf://kenantang/Banana100", "needs network"),
    ("score --metric pyiqa:piqe", "pre-compute the score cache"),
    ("weights --metric pyiqa:musiq", "fetch weights (needs network)"),
    ("list", "seeds, editors, tasks, metrics"),
    ("history --metric pyiqa:piqe", "a metric's robustness card over its versions"),
)


def examples(prog: str) -> str:
    lines = [f"{prog} {a}".rstrip() for a, _ in EXAMPLES]
    width = max(len(x) for x, (_, c) in zip(lines, EXAMPLES) if c) + 2
    return "examples:\n" + "\n".join(f"  {x.ljust(width)}# {c}" if c else f"  {x}" for x, (_, c) in zip(lines, EXAMPLES)) + "\n"


# (command, help) in the order --help lists them; each takes its options from the table.
COMMAND_HELP = (
    ("audit", "run the metric and editor audits through pytest (every pytest option works too)"),
    ("build", "build (or resume) every chain of a profile"),
    ("import", "import chains: a manifest.csv, a folder by --layout/--table, or hf://OWNER/NAME"),
    ("score", "compute and cache the profile's metric scores"),
    ("weights", "download metric weights into $TORCH_HOME (needs network)"),
    ("list", "list seeds, editors, tasks and metrics"),
    ("forget", "delete a chain's steps from a step on (e.g. after a corrupt paid file)"),
    ("history", "the stored robustness cards of a metric (--metric) or an editor (--editor) over its versions"),
)


def parser() -> argparse.ArgumentParser:
    prog = cli_prefix()
    ap = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.split("\n\n")[0].split(": ", 1)[1],
        epilog=examples(prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="command", parser_class=CommandParser)
    for name, help_text in COMMAND_HELP:
        if name == "audit":
            add_audit_parser(sub, prog)  # cli/audit_cmd.py: its own switches; everything else goes to pytest
            continue
        if name == "import":
            add_import_parser(sub)  # cli/import_cmd.py: the import subcommand (its options are rows of the options table)
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_options(p.add_argument, name)
    return ap


class CommandParser(argparse.ArgumentParser):
    """A subcommand's parser; `passthrough(parser, args, namespace)`, when given, replaces
    argparse's parsing (`audit` hands what it does not know to pytest, unread)."""

    def __init__(self, *args, passthrough=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.passthrough = passthrough

    def parse_known_args(self, args=None, namespace=None):
        if self.passthrough is None:
            return super().parse_known_args(args, namespace)
        return self.passthrough(self, args, namespace)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["build", *argv]
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except AuditError as e:
        print(f"error: {redact_text(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: every finished step is stored; run the same command again to resume.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`iqa-audit list | head`): not an error of ours. Point stdout
        # at /dev/null so Python's flush at exit does not raise a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _switches(args) -> dict[str, Any]:
    return switches(lambda dest: getattr(args, dest, None), args.command)


def _config(args, *, skip: Sequence[str] = ()):
    """The AuditConfig of this command's options, checked like the pytest plugin checks it."""

    over = overrides(lambda dest: getattr(args, dest, None), args.command)
    # The project the user runs it in (the nearest pyproject.toml from the current folder up),
    # as pytest finds its configuration: not the folder iqa-audit happens to be installed in.
    cfg = resolve_config(over, pyproject=find_pyproject())
    check_config(cfg, args.command, skip=skip)
    return cfg


def _store(path):

    return Store(path)


def _budget(cfg):
    """The run's one paid-step budget (--max-paid-steps, default 0; --resend-unknown)."""

    return PaidBudget(cfg.max_paid_steps, resend_unknown=cfg.resend_unknown)


def cmd_build(args) -> int:

    cfg = _config(args)
    sw = _switches(args)
    store = _store(cfg.store)
    specs = chain_specs(cfg)
    budget = _budget(cfg)
    t0 = time.perf_counter()
    todo = pending(store, specs, cfg.seed_dirs, budget=budget)
    if not todo:
        print(
            f"all {len(specs)} chains of profile '{cfg.profile}' are cached in {store.root} "
            f"(checked in {time.perf_counter() - t0:.1f} s); nothing to build."
        )
        return _report_stopped(stopped_chains(store, specs, cfg.seed_dirs))
    if sw["engine"] == "ray":  # free editors only; one Ray task per chain, stored here step by step
        outcomes = build_chains_ray(cfg, store, todo, address=sw["address"], budget=budget)
        return _report_built(outcomes, t0, store, stopped_chains(store, todo, cfg.seed_dirs))
    _check_no_address(sw)
    announce_paid(store, todo, cfg.seed_dirs, budget, say=_say)
    print(
        f"building {len(todo)} of {len(specs)} chains ({cfg.steps} steps, long side {cfg.long_side}) into {store.root}",
        flush=True,
    )
    outcomes = build_all(store, todo, jobs=sw["jobs"], seed_dirs=cfg.seed_dirs, budget=budget, show_progress=not sw["quiet"])
    return _report_built(outcomes, t0, store, stopped_chains(store, todo, cfg.seed_dirs))


def _say(line: str) -> None:
    print(redact_text(line))


def _report_built(outcomes, t0: float, store, stopped) -> int:
    failed = [o for o in outcomes if o.error]
    unknown = _report_stopped(stopped)
    for o in failed:
        print(redact_text(f"FAILED: {o.label}: {o.error}"), file=sys.stderr)
    print(f"built {len(outcomes) - len(failed)} chains in {time.perf_counter() - t0:.1f} s; store: {store.root}")
    return 1 if failed or unknown else 0


def _report_stopped(stopped) -> int:
    """Say which chains a step other than 'ok' ended. Returns 1 when one of them has an
    unknown outcome (the user must decide: --resend-unknown or forget), else 0."""
    for label, step, status, reason in stopped:
        print(redact_text(f"stopped: {label} at step {step}: {reason}"))
    return 1 if any(status == "unknown" for _, _, status, _ in stopped) else 0


def _check_no_address(sw: dict[str, Any]) -> None:
    if sw["address"]:
        raise ConfigError(
            explain(
                "--address",
                expected="--engine ray with it",
                got=f"--address {sw['address']} with --engine local",
                fix="Add --engine ray, or drop --address.",
            )
        )


def cmd_import(args) -> int:

    return run_import(args)


def cmd_score(args) -> int:

    cfg = _config(args)
    sw = _switches(args)
    store = _store(cfg.store)
    budget = _budget(cfg)
    if sw["engine"] != "ray":
        _check_no_address(sw)
    # score builds the chains it scores: the same budget and cost estimate as build, first.
    announce_paid(store, chain_specs(cfg), cfg.seed_dirs, budget, say=_say)
    if sw["engine"] == "ray":
        return score_chains_ray(cfg, store, address=sw["address"], budget=budget)

    return score_chains(cfg, store, budget=budget)


def cmd_weights(args) -> int:

    metrics = list(split_csv(args.metrics))
    if not metrics:
        raise ConfigError(
            explain("weights", expected="--metric NAME (repeatable)", got="no metric", fix="Pass e.g. --metric pyiqa:musiq.")
        )
    return weights_main(metrics, from_package=bool(_switches(args)["from_package"]))


def cmd_list(args) -> int:

    print("seeds:")
    for s in builtin_seeds():
        print(f"  {s.name:28s} {s.kind:10s} {s.challenge}")
    print("editors:")
    for n in editor_names():
        e = editor_entry(n)
        print(f"  {n:28s} {e.summary}")
    print("tasks:")
    for t in TASKS.values():
        print(f"  {t.name:28s} {t.summary}")
    print("metrics:")
    for m in list_metric_names():
        print(f"  {m}")
    return 0


def cmd_forget(args) -> int:

    sw = _switches(args)
    if not sw["chain"] or sw["from_step"] is None:
        raise ConfigError(
            explain(
                "forget",
                expected="--chain KEY --from-step N",
                got="a missing option",
                fix="Copy the chain key from the error that named the file.",
            )
        )
    store = _store(args.store)
    n = store.drop_steps_from(sw["chain"], sw["from_step"])
    print(f"forgot {n} steps of chain {sw['chain']} from step {sw['from_step']}")
    return 0


COMMANDS = {
    "audit": cmd_audit,
    "build": cmd_build,
    "import": cmd_import,
    "score": cmd_score,
    "weights": cmd_weights,
    "list": cmd_list,
    "forget": cmd_forget,
    "history": run_history,
}
