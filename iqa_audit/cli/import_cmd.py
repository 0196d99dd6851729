"""`iqa-audit import SOURCE`: chains built elsewhere, into the store, audited by name (--dataset NAME).

SOURCE is a manifest, a folder read by a layout or a side table, or a Hugging Face dataset:

    import PATH/manifest.csv                     columns seed,setting,run,step,path
    import DIR --layout "{setting}/{seed}/run{run}/step{step}.png" [--name NAME]
    import DIR --table meta.jsonl --columns path=file_name,seed=image,step=turn --set setting=mine,run=0
    import hf://OWNER/NAME[@REVISION] [--preset banana100|FILE.toml]
"""

# The subcommand's options are rows of the one options table (config/switches.py, and
# --store in config/options.py), added and read back like every other subcommand's; this
# module adds the SOURCE argument and handles the command.

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Mapping

from tqdm import tqdm

from iqa_audit.config.option_definition import IMPORT
from iqa_audit.config.options import add_options, switches
from iqa_audit.core.console import cli_command
from iqa_audit.core.errors import ConfigError, explain
from iqa_audit.core.names import slug
from iqa_audit.datasets.hub import HubRef, fetch_snapshot, is_hub_ref, parse_hub_ref
from iqa_audit.datasets.importer import import_manifest, import_rows
from iqa_audit.datasets.layouts import ImportSpec, rows_from_folder
from iqa_audit.datasets.presets import load_preset, override, parse_pairs, preset_for_repo
from iqa_audit.datasets.registry import dataset_record, import_in_progress
from iqa_audit.datasets.safe_files import ReadPolicy
from iqa_audit.store.store import Store

MB = 1024 * 1024


def add_import_parser(sub) -> argparse.ArgumentParser:
    i = sub.add_parser(
        "import",
        help="import chains: a manifest.csv, a folder by --layout/--table, or hf://OWNER/NAME",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    i.add_argument("manifest", metavar="SOURCE", help="PATH/manifest.csv, a folder, or hf://OWNER/NAME[@REVISION]")
    add_options(i.add_argument, IMPORT)
    return i


def run_import(args) -> int:

    opts = switches(lambda dest: getattr(args, dest, None), IMPORT)  # parsed and checked, defaults filled in
    store = Store(args.store)
    source = str(args.manifest)
    max_bytes = max(1, opts["max_file_mb"]) * MB
    revision = None
    if is_hub_ref(source):
        spec, name, source, revision, manifest = _hub_spec(source, opts, store)
        # The hub cache links snapshots/<commit>/FILE to blobs/<hash>: files may resolve
        # anywhere in the repository's cache folder, and nowhere else.
        read_root = spec.root.parent.parent
    else:
        path = Path(source)
        if path.is_file() or path.suffix.lower() == ".csv":
            _refuse_folder_options(opts, path)
            summary = import_manifest(
                store, path, name=opts["name"], allow_outside=opts["allow_outside"], max_file_bytes=max_bytes
            )
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
        spec, manifest = _local_spec(opts, path), None
        name = opts["name"] or path.resolve().name
        source = str(path.resolve())
        read_root = spec.root
    if manifest is not None:
        summary = import_manifest(
            store,
            manifest,
            name=name,
            allow_outside=opts["allow_outside"],
            max_file_bytes=max_bytes,
            read_root=read_root,
            source=source,
            revision=revision,
        )
        return _report(summary, store)

    policy = ReadPolicy.inside(read_root, allow_outside=opts["allow_outside"], max_bytes=max_bytes)
    rows, problems = rows_from_folder(spec, policy)
    with _progress(2 * len(rows), bool(opts["quiet"])) as bar:
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


def _local_spec(opts: Mapping[str, Any], root: Path):

    base = load_preset(opts["preset"]).spec(root) if opts["preset"] else ImportSpec(root)
    return _with_options(base, opts, root)


def _with_options(base, opts: Mapping[str, Any], root: Path):

    table = None
    if opts["table"]:
        table = Path(opts["table"]) if Path(opts["table"]).is_absolute() else root / opts["table"]
    return override(
        base,
        layout=opts["layout"],
        table=table,
        columns=parse_pairs(opts["columns"], "--columns"),
        values=parse_pairs(opts["values"], "--set"),
        ignore=opts["ignore"],
    )


def _hub_spec(source: str, opts: Mapping[str, Any], store):
    """(spec, dataset name, source with the commit, commit, manifest path or None) of an hf:// import."""

    ref = parse_hub_ref(source)
    name = opts["name"] or ref.repo.split("/", 1)[1]
    if ref.revision is None:  # pinned: a dataset imported (or begun) from this repository keeps its commit
        for known in (dataset_record(store, slug(name)), import_in_progress(store, slug(name))):
            src = (known.source if hasattr(known, "source") else known.get("source")) if known else None
            if src and src.startswith(f"hf://{ref.repo}@"):
                ref = HubRef(ref.repo, src.rsplit("@", 1)[1])
                print(f"{ref.repo}: using the revision pinned in the store, {ref.revision} (pass @REVISION to import another)")
                break
    preset = load_preset(opts["preset"]) if opts["preset"] else preset_for_repo(ref.repo)
    if preset is not None and not preset.checked:
        print(f"preset {preset.name} ({preset.source}): {preset.note or 'not checked against the real files'}", file=sys.stderr)
    include = opts["include"] or (preset.include if preset else None)
    snap = fetch_snapshot(ref, cache_dir=opts["hf_cache"], include=include)
    source = f"hf://{ref.repo}@{snap.commit}"
    base = preset.spec(snap.folder) if preset else ImportSpec(snap.folder)
    spec = _with_options(base, opts, snap.folder)
    manifest = snap.folder / "manifest.csv"
    use_manifest = spec.layout is None and spec.table is None and manifest.is_file()
    return spec, name, source, snap.commit, manifest if use_manifest else None


def _refuse_folder_options(opts: Mapping[str, Any], path: Path) -> None:

    given = [
        o
        for o, v in (
            ("--layout", opts["layout"]),
            ("--table", opts["table"]),
            ("--preset", opts["preset"]),
            ("--columns", opts["columns"]),
            ("--set", opts["values"]),
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

    return tqdm(total=total, desc="checking and storing images", unit="img", disable=quiet or not sys.stderr.isatty())


def _report(summary, store) -> int:
    pinned = f" at revision {summary.revision}" if summary.revision else ""
    print(
        f"imported dataset '{summary.dataset}'{pinned}: {len(summary.chains)} chains, {summary.images_added} images added, "
        f"{summary.images_already_stored} already stored, into {store.root}"
    )

    print(f"audit it: {cli_command('audit', '--dataset', summary.dataset, '--store', str(store.root))}")
    return 0
