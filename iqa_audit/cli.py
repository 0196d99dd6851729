"""`generate_fixtures.py`: build and cache chains (and scores) ahead of a test run.

    python generate_fixtures.py                      # build the quick profile's chains
    python generate_fixtures.py build --profile paper --jobs 2
    python generate_fixtures.py build --editor codec-jpeg --seed grid-perspective --runs 1 --steps 30
    python generate_fixtures.py import PATH/manifest.csv [--name banana100]
    python generate_fixtures.py import DIR --layout "{setting}/{seed}/run{run}/step{step}.png" --name mine
    python generate_fixtures.py import hf://kenantang/Banana100[@REVISION]
    python generate_fixtures.py score [--metric pyiqa:piqe]     # pre-compute the score cache
    python generate_fixtures.py weights --metric pyiqa:musiq    # fetch weights (needs network)
    python generate_fixtures.py list                             # seeds, editors, tasks, metrics
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

from .errors import AuditError
from .import_cli import add_import_parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", help="named profile (quick, paper, or [tool.iqa_audit.profiles.NAME])")
    p.add_argument("--store", help="chain/score store folder (default: fixtures/cache or $IQA_AUDIT_STORE)")
    p.add_argument("--seed", action="append", dest="seeds", help="seed name (repeatable; default: the profile's)")
    p.add_argument("--seed-dir", action="append", dest="seed_dirs", help="folder of your own seed images (repeatable)")
    p.add_argument("--editor", action="append", dest="editors", help="editor spec, e.g. codec-jpeg:quality=50 (repeatable)")
    p.add_argument("--task", action="append", dest="tasks", help="task name (repeatable)")
    p.add_argument("--runs", type=int)
    p.add_argument("--steps", type=int)
    p.add_argument("--long-side", type=int, dest="long_side", help="render seeds at this long side in px (0: native size)")


def _engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local (default): this machine; ray: spread the work over a Ray cluster (pip install ray)")
    p.add_argument("--address", help="with --engine ray: the cluster's HOST:PORT (default: start a local Ray instance)")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="generate_fixtures.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command")
    b = sub.add_parser("build", help="build (or resume) every chain of a profile")
    _common(b)
    b.add_argument("--jobs", type=int, default=1, help="parallel build processes")
    b.add_argument("--max-paid-steps", type=int, default=0,
                   help="cap on new paid editor requests this run (default 0: paid editors need an explicit budget)")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    _engine_options(b)
    add_import_parser(sub)  # import_cli.py: its options and handler in one place
    s = sub.add_parser("score", help="compute and cache the profile's metric scores")
    _common(s)
    s.add_argument("--metric", action="append", dest="metrics")
    s.add_argument("--device", default=None)
    _engine_options(s)
    w = sub.add_parser("weights", help="download metric weights into $TORCH_HOME (needs network)")
    w.add_argument("--metric", action="append", dest="metrics", required=True)
    sub.add_parser("list", help="list seeds, editors, tasks and metrics")
    f = sub.add_parser("forget", help="delete a chain's steps from a step on (e.g. after a corrupt paid file)")
    f.add_argument("--chain", required=True, help="chain key (shown in the error)")
    f.add_argument("--from-step", type=int, required=True)
    f.add_argument("--store")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["build", *argv]
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except AuditError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: every finished step is stored; run the same command again to resume.", file=sys.stderr)
        return 130


def _config(args):
    from .config import find_pyproject, resolve_config, split_csv

    over = {
        "profile": args.profile,
        "seeds": split_csv(args.seeds) or None,
        "seed_dirs": split_csv(args.seed_dirs),
        "editors": split_csv(args.editors),
        "tasks": split_csv(args.tasks),
        "runs": args.runs,
        "steps": args.steps,
        "long_side": args.long_side,
        "store": args.store,
    }
    if getattr(args, "metrics", None):
        over["metrics"] = split_csv(args.metrics)
    if getattr(args, "device", None):
        over["device"] = args.device
    cfg = resolve_config(over, pyproject=find_pyproject(Path(__file__).resolve().parent.parent))
    return cfg


def _store(path):
    from .store import Store

    return Store(path)


def cmd_build(args) -> int:
    from .build import build_all, paid_steps_needed, pending
    from .plan import chain_specs

    cfg = _config(args)
    store = _store(cfg.store)
    specs = chain_specs(cfg)
    t0 = time.perf_counter()
    todo = pending(store, specs, cfg.seed_dirs)
    if not todo:
        print(f"all {len(specs)} chains of profile '{cfg.profile}' are cached in {store.root} "
              f"(checked in {time.perf_counter() - t0:.1f} s); nothing to build.")
        return 0
    if args.engine == "ray":  # free editors only; one Ray task per chain, stored here step by step
        from .distributed import build_chains_ray

        outcomes = build_chains_ray(cfg, store, todo, address=args.address)
        return _report_built(outcomes, t0, store)
    _check_no_address(args)
    paid = paid_steps_needed(store, todo, cfg.seed_dirs)
    if paid:
        from .chains import setting_label
        from .editors import create_editor, estimate_cost

        total = 0.0
        for spec_str, n in paid.items():
            ed = create_editor(spec_str)
            cost = estimate_cost(spec_str, n)
            if cost is None:  # a paid plugin editor that declares no price
                print(f"paid editor {ed.id} ({setting_label(spec_str, '')}): {n} new requests, no price known")
                continue
            total += cost
            print(f"paid editor {ed.id} ({setting_label(spec_str, '')}): {n} new requests, estimated ${cost:.2f}")
        print(f"estimated total ${total:.2f}; --max-paid-steps={args.max_paid_steps} caps this run.")
    print(f"building {len(todo)} of {len(specs)} chains ({cfg.steps} steps, long side {cfg.long_side}) into {store.root}")
    outcomes = build_all(store, todo, jobs=args.jobs, seed_dirs=cfg.seed_dirs,
                         max_paid_steps=args.max_paid_steps if paid else None, show_progress=not args.quiet)
    return _report_built(outcomes, t0, store)


def _report_built(outcomes, t0: float, store) -> int:
    failed = [o for o in outcomes if o.error]
    stopped = [o for o in outcomes if o.stopped_reason]
    for o in stopped:
        print(f"stopped: {o.label} at step {o.steps_stored}: {o.stopped_reason}")
    for o in failed:
        print(f"FAILED: {o.label}: {o.error}", file=sys.stderr)
    print(f"built {len(outcomes) - len(failed)} chains in {time.perf_counter() - t0:.1f} s; store: {store.root}")
    return 1 if failed else 0


def _check_no_address(args) -> None:
    if args.address:
        from .errors import ConfigError, explain

        raise ConfigError(explain("--address", expected="--engine ray with it", got=f"--address {args.address} with --engine local",
                                  fix="Add --engine ray, or drop --address."))


def cmd_import(args) -> int:
    from .import_cli import run_import

    return run_import(args)


def cmd_score(args) -> int:
    cfg = _config(args)
    if args.engine == "ray":
        from .distributed import score_chains_ray

        return score_chains_ray(cfg, _store(cfg.store), address=args.address)
    _check_no_address(args)
    from .scoring import score_chains

    return score_chains(cfg, _store(cfg.store))


def cmd_weights(args) -> int:
    from .config import split_csv
    from .metrics.weights import weights_main

    return weights_main(list(split_csv(args.metrics)))


def cmd_list(args) -> int:
    from .editors import editor_entry, editor_names
    from .metrics.registry import list_metric_names
    from .seeds import builtin_seeds
    from .tasks import TASKS

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
    store = _store(args.store)
    n = store.drop_steps_from(args.chain, args.from_step)
    print(f"forgot {n} steps of chain {args.chain} from step {args.from_step}")
    return 0


COMMANDS = {"build": cmd_build, "import": cmd_import, "score": cmd_score, "weights": cmd_weights, "list": cmd_list,
            "forget": cmd_forget}
