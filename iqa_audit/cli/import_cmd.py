"""`iqa-audit import SOURCE`: the import subcommand, self-contained (its options
and its handler), so the CLI only registers it.

    import PATH/manifest.csv                     columns seed,setting,run,step,path
    import DIR --layout "{setting}/{seed}/run{run}/step{step}.png" [--name NAME]
    import DIR --table meta.jsonl --columns path=file_name,seed=image,step=turn --set setting=mine,run=0
    import hf://OWNER/NAME[@REVISION] [--preset banana100|FILE.toml]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MB = 1024 * 1024


def add_import_parser(sub) -> argparse.ArgumentParser:
    i = sub.add_parser(
        "import",
        help="import chains: a manifest.csv, a folder by --layout/--table, or hf://OWNER/NAME",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    i.add_argument("manifest", metavar="SOURCE", help="PATH/manifest.csv, a folder, or hf://OWNER/NAME[@REVISION]")
    i.add_argument("--name", help="dataset name, used as --dataset NAME (default: the folder's or repository's name)")
    i.add_argument("--store")
    i.add_argument(
        "--layout", help="path pattern of each image under the folder, e.g. '{setting}/{seed}/run{run}/step{step}.png'"
    )
    i.add_argument("--table", help="side table (.csv, .jsonl, .parquet) giving fields per image, relative to the folder")
    i.add_argument(
        "--columns",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="which table column holds a field: path, seed, setting, run, step, reasoning, prompt, meta (repeatable)",
    )
    i.add_argument(
        "--set",
        action="append",
        default=[],
        dest="values",
        metavar="FIELD=VALUE",
        help="a field for every image, e.g. setting=my-editor or run=0 (repeatable)",
    )
    i.add_argument(
        "--ignore", action="append", default=[], metavar="GLOB", help="files under the folder that are not images of the dataset"
    )
    i.add_argument("--preset", help="an import recipe: a built-in name (banana100) or a .toml file of the same shape")
    i.add_argument(
        "--include", action="append", default=None, metavar="GLOB", help="hf:// only: download just these repository files"
    )
    i.add_argument("--hf-cache", help="hf:// only: the hub cache folder (default: huggingface_hub's, HF_HUB_CACHE)")
    i.add_argument(
        "--allow-outside",
        action="store_true",
        help="read image files outside the dataset's folder too (regular files only; default: refuse them)",
    )
    i.add_argument("--max-file-mb", type=int, default=512, help="refuse image files larger than this (default 512)")
    i.add_argument("--quiet", action="store_true", help="no progress bar")
    return i


def run_import(args) -> int:
    from iqa_audit.datasets.importer import import_manifest, import_rows
    from iqa_audit.core.errors import ConfigError, explain
    from iqa_audit.datasets.hub import is_hub_ref
    from iqa_audit.datasets.safe_files import ReadPolicy
    from iqa_audit.store.store import Store

    store = Store(args.store)
    source = str(args.manifest)
    max_bytes = max(1, args.max_file_mb) * MB
    revision = None
    if is_hub_ref(source):
        spec, name, source, revision, manifest = _hub_spec(args, store)
        # The hub cache links snapshots/<commit>/FILE to blobs/<hash>: files may resolve
        # anywhere in the repository's cache folder, and nowhere else.
        read_root = spec.root.parent.parent
    else:
        path = Path(source)
        if path.is_file() or path.suffix.lower() == ".csv":
            _refuse_folder_options(args, path)
            summary = import_manifest(store, path, name=args.name, allow_outside=args.allow_outside, max_file_bytes=max_bytes)
            return _report(summary, store)
        if not path.is_dir():
            raise ConfigError(
                explain(
                    f"import source {source}",
                    expected="a manifest.csv, a folder or hf://OWNER/NAME",
                    got="no such file or folder",
                    fix="Check the path.",
                )
            )
        spec, manifest = _local_spec(args, path), None
        name = args.name or path.resolve().name
        source = str(path.resolve())
        read_root = spec.root
    if manifest is not None:
        summary = import_manifest(
            store,
            manifest,
            name=name,
            allow_outside=args.allow_outside,
            max_file_bytes=max_bytes,
            read_root=read_root,
            source=source,
            revision=revision,
        )
        return _report(summary, store)
    from iqa_audit.datasets.layouts import rows_from_folder

    policy = ReadPolicy.inside(read_root, allow_outside=args.allow_outside, max_bytes=max_bytes)
    rows, problems = rows_from_folder(spec, policy)
    with _progress(2 * len(rows), args.quiet) as bar:
        summary = import_rows(
            store,
            rows,
            name=name,
            source=source,
            policy=policy,
            where=spec.describe(),
            revision=revision,
            progress=bar.update,
            problems=problems,
        )
    return _report(summary, store)


def _local_spec(args, root: Path):
    from iqa_audit.datasets.layouts import ImportSpec
    from iqa_audit.datasets.presets import load_preset

    base = load_preset(args.preset).spec(root) if args.preset else ImportSpec(root)
    return _with_options(base, args, root)


def _with_options(base, args, root: Path):
    from iqa_audit.datasets.presets import override, parse_pairs

    table = None
    if args.table:
        table = Path(args.table) if Path(args.table).is_absolute() else root / args.table
    return override(
        base,
        layout=args.layout,
        table=table,
        columns=parse_pairs(args.columns, "--columns"),
        values=parse_pairs(args.values, "--set"),
        ignore=args.ignore,
    )


def _hub_spec(args, store):
    """(spec, dataset name, source with the commit, commit, manifest path or None) of an hf:// import."""
    from iqa_audit.datasets.registry import dataset_record, import_in_progress
    from iqa_audit.datasets.hub import HubRef, fetch_snapshot, parse_hub_ref
    from iqa_audit.datasets.layouts import ImportSpec
    from iqa_audit.datasets.presets import load_preset, preset_for_repo
    from iqa_audit.core.names import slug

    ref = parse_hub_ref(args.manifest)
    name = args.name or ref.repo.split("/", 1)[1]
    if ref.revision is None:  # pinned: a dataset imported (or begun) from this repository keeps its commit
        for known in (dataset_record(store, slug(name)), import_in_progress(store, slug(name))):
            src = (known.source if hasattr(known, "source") else known.get("source")) if known else None
            if src and src.startswith(f"hf://{ref.repo}@"):
                ref = HubRef(ref.repo, src.rsplit("@", 1)[1])
                print(f"{ref.repo}: using the revision pinned in the store, {ref.revision} (pass @REVISION to import another)")
                break
    preset = load_preset(args.preset) if args.preset else preset_for_repo(ref.repo)
    if preset is not None and not preset.checked:
        print(f"preset {preset.name} ({preset.source}): {preset.note or 'not checked against the real files'}", file=sys.stderr)
    include = args.include or (preset.include if preset else None)
    snap = fetch_snapshot(ref, cache_dir=args.hf_cache, include=include)
    source = f"hf://{ref.repo}@{snap.commit}"
    base = preset.spec(snap.folder) if preset else ImportSpec(snap.folder)
    spec = _with_options(base, args, snap.folder)
    manifest = snap.folder / "manifest.csv"
    use_manifest = spec.layout is None and spec.table is None and manifest.is_file()
    return spec, name, source, snap.commit, manifest if use_manifest else None


def _refuse_folder_options(args, path: Path) -> None:
    from iqa_audit.core.errors import ConfigError, explain

    given = [
        o
        for o, v in (
            ("--layout", args.layout),
            ("--table", args.table),
            ("--preset", args.preset),
            ("--columns", args.columns),
            ("--set", args.values),
        )
        if v
    ]
    if given:
        raise ConfigError(
            explain(
                f"import {path}",
                expected="a folder (or hf://...) with " + ", ".join(given),
                got="a manifest file, which names its own columns",
                fix="Pass the folder holding the images instead of the CSV, or drop " + ", ".join(given) + ".",
            )
        )


def _progress(total: int, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="checking and storing images", unit="img", disable=quiet or not sys.stderr.isatty())


def _report(summary, store) -> int:
    pinned = f" at revision {summary.revision}" if summary.revision else ""
    print(
        f"imported dataset '{summary.dataset}'{pinned}: {len(summary.chains)} chains, {summary.images_added} images added, "
        f"{summary.images_already_stored} already stored, into {store.root}"
    )
    from iqa_audit.core.console import pytest_command

    print(
        f"audit it: {pytest_command('tests_metrics', 'tests_editors', '--dataset', summary.dataset, '--store', str(store.root))}"
    )
    return 0
