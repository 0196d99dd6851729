"""Importing chains with no manifest: layout patterns, side tables (CSV, JSON lines,
Parquet), side files, presets, and auditing them by name (issue 17, items 1 and 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iqa_audit.core.errors import ConfigError
from iqa_audit.datasets.importer import dataset_pairs, import_rows
from iqa_audit.datasets.layouts import ImportSpec, compile_layout, match_layout, rows_from_folder
from iqa_audit.datasets.presets import load_preset, preset_for_repo
from iqa_audit.datasets.registry import dataset_record, imported_chain_key
from iqa_audit.datasets.safe_files import ReadPolicy
from iqa_audit.datasets.tables import read_table
from tests.conftest import textured_image

LAYOUT = "{setting}/{seed}/run{run}/step{step}.png"
ROOT = Path(__file__).resolve().parents[2]
NOTICED = "The input image has visible noise and grain artifacts."


def make_tree(
    root: Path, *, settings=("nano banana",), seeds=("grid", "猫"), runs=(0, 1), steps=(0, 1, 5), side_files=True
) -> Path:
    """A folder of chains laid out as LAYOUT, with a reasoning .txt and a metadata .json
    beside the later steps."""
    for st in settings:
        for sd in seeds:
            for run in runs:
                for k in steps:
                    p = root / st / sd / f"run{run}" / f"step{k}.png"
                    p.parent.mkdir(parents=True, exist_ok=True)
                    p.write_bytes(textured_image(40, 30, seed=100 * run + k).data())
                    if side_files and k >= 1:
                        p.with_suffix(".txt").write_text(NOTICED if k == max(steps) else "A faithful replica.")
                        p.with_suffix(".json").write_text(json.dumps({"prompt": "Produce an exact replica", "temperature": 0.4}))
    return root


def _import(store, spec: ImportSpec, name="tree", **kw):
    policy = ReadPolicy.inside(spec.root)
    rows, problems = rows_from_folder(spec, policy)
    return import_rows(
        store, rows, name=name, source=str(spec.root), policy=policy, where=spec.describe(), problems=problems, **kw
    )


def _problems(spec: ImportSpec) -> list[str]:
    return rows_from_folder(spec, ReadPolicy.inside(spec.root))[1]


def test_layout_patterns_match_and_say_why_not():
    layout = compile_layout("{setting}/{seed}/run{run}_{_}/{seed}-step{step}.{_ext}")
    assert layout.fields == ("setting", "seed", "run", "step")
    assert match_layout(layout, "a/b/run3_x/b-step07.png") == {"setting": "a", "seed": "b", "run": "3", "step": "07"}
    assert (
        match_layout(layout, "a/b/run3_x")
        == "has 3 path part(s), the layout '{setting}/{seed}/run{run}_{_}/{seed}-step{step}.{_ext}' has 4"
    )
    assert match_layout(layout, "a/b/trial3/b-step1.png") == "'trial3' does not match 'run{run}_{_}'"
    assert match_layout(layout, "a/b/run3_x/c-step1.png") == "{seed} is 'b' in one part and 'c' in another"
    for bad in ("", "/abs/{seed}", "{seed}{step}.png", "a/../{seed}", "{se ed}", "{seed"):
        with pytest.raises(ConfigError, match="--layout"):
            compile_layout(bad)


def test_a_folder_tree_imports_by_layout_with_its_side_files(store, tmp_path):
    root = make_tree(tmp_path / "tree")
    summary = _import(store, ImportSpec(root, LAYOUT))
    assert summary.images_added == 12 and len(summary.chains) == 4
    assert dataset_pairs("tree", store.root) == [("nano-banana", "grid"), ("nano-banana", "猫")]
    steps = store.steps(imported_chain_key("tree", "nano-banana", "猫", 1))
    assert [s.step for s in steps] == [0, 1, 5]
    assert steps[0].reasoning is None and steps[1].reasoning == "A faithful replica." and steps[2].reasoning == NOTICED
    assert steps[2].prompt == "Produce an exact replica" and steps[2].meta["editor"]["temperature"] == 0.4
    assert steps[2].meta["source"].endswith("run1/step5.png")


def test_files_that_match_nothing_are_listed_with_the_reason_and_nothing_is_imported(store, tmp_path):
    root = make_tree(tmp_path / "tree")
    (root / "README.md").write_text("about")
    (root / "nano banana" / "grid" / "trial2").mkdir()
    (root / "nano banana" / "grid" / "trial2" / "step0.png").write_bytes(textured_image(40, 30).data())
    (root / "nano banana" / "grid" / "run0" / "step+4.png").write_bytes(textured_image(40, 30).data())
    (root / ".cache").mkdir()
    (root / ".cache" / "anything").write_text("hidden folders are not part of the dataset")
    with pytest.raises(ConfigError) as e:
        _import(store, ImportSpec(root, LAYOUT))
    msg = str(e.value)
    assert "3 problem(s), nothing was imported" in msg
    assert "README.md: does not match the layout: has 1 path part(s)" in msg
    assert "nano banana/grid/trial2/step0.png: does not match the layout: 'trial2' does not match 'run{run}'" in msg
    assert "nano banana/grid/run0/step+4.png: step must be a plain non-negative integer" in msg
    assert store.chains() == [] and dataset_record(store, "tree") is None
    (root / "nano banana" / "grid" / "run0" / "step+4.png").unlink()
    spec = ImportSpec(root, LAYOUT, ignore=("README.md", "*/trial*/*"))
    assert _import(store, spec).images_added == 12


def _table_rows(root: Path) -> list[dict]:
    rows = []
    for p in sorted(root.rglob("*.png")):
        st, sd, run, step = p.relative_to(root).with_suffix("").parts
        rows.append(
            {
                "file_name": p.relative_to(root).as_posix(),
                "model": st,
                "image": sd,
                "trial": int(run[3:]),
                "turn": int(step[4:]),
                "thoughts": NOTICED if step == "step5" else None,
            }
        )
    return rows


def _write_table(path: Path, rows: list[dict], kind: str) -> Path:
    if kind == "csv":
        import csv

        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    elif kind == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


COLUMNS = {"path": "file_name", "setting": "model", "seed": "image", "run": "trial", "step": "turn", "reasoning": "thoughts"}


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_a_side_table_with_user_named_columns_gives_the_fields(store, tmp_path, kind):
    root = make_tree(tmp_path / "flat", side_files=False)
    table = _write_table(root / f"meta.{kind}", _table_rows(root), kind)
    summary = _import(store, ImportSpec(root, table=table, columns=COLUMNS))
    assert summary.images_added == 12
    last = store.steps(imported_chain_key("tree", "nano-banana", "grid", 1))[-1]
    assert (last.step, last.reasoning) == (5, NOTICED)


def test_a_table_joins_a_layout_by_path_and_disagreements_are_listed(store, tmp_path):
    root = make_tree(tmp_path / "tree", side_files=False)
    rows = [{"file_name": r["file_name"], "trial": r["trial"], "thoughts": r["thoughts"]} for r in _table_rows(root)]
    table = _write_table(root / "runs.jsonl", rows, "jsonl")
    spec = ImportSpec(
        root, "{setting}/{seed}/{_}/step{step}.png", table, {"path": "file_name", "run": "trial", "reasoning": "thoughts"}
    )
    assert _import(store, spec).images_added == 12
    rows[0]["file_name"] = "nano banana/grid/run0/missing.png"
    rows[1]["step"] = 9
    _write_table(root / "runs.jsonl", rows, "jsonl")
    problems = _problems(ImportSpec(root, LAYOUT, table, {"path": "file_name", "reasoning": "thoughts"}))
    assert "runs.jsonl row 1: names nano banana/grid/run0/missing.png, which is not a file the layout matched" in problems
    assert any("step is '1' by the layout but '9' in runs.jsonl row 2" in p for p in problems)


def test_fields_may_be_given_once_for_every_image(store, tmp_path):
    root = tmp_path / "one"
    root.mkdir()
    for k in (0, 1, 5):
        (root / f"{k:03d}.png").write_bytes(textured_image(40, 30, seed=k).data())
    spec = ImportSpec(root, "{step}.png", values={"setting": "my editor", "seed": "kitchen", "run": "0"})
    assert _import(store, spec).chains[0].steps == (0, 1, 5)
    assert "no seed, run (give it by the layout" in _problems(ImportSpec(root, "{step}.png", values={"setting": "x"}))[0]


def test_a_table_naming_missing_columns_says_which_exist(tmp_path):
    root = make_tree(tmp_path / "t", side_files=False)
    table = _write_table(root / "m.csv", _table_rows(root), "csv")
    with pytest.raises(ConfigError, match=r"the columns seed=img.*got columns file_name, image, model"):
        rows_from_folder(ImportSpec(root, table=table, columns={**COLUMNS, "seed": "img"}), ReadPolicy.inside(root))


def test_the_banana100_preset_is_data_the_user_can_correct(tmp_path):
    preset = load_preset("banana100")
    assert preset.repo == "kenantang/Banana100" and preset.license == "CC BY-NC-SA 4.0"
    assert preset.checked is False and "could not be checked" in preset.note
    assert preset_for_repo("KenanTang/banana100") == preset
    fixed = tmp_path / "mine.toml"
    fixed.write_text(
        (ROOT / "iqa_audit/datasets/presets/banana100.toml").read_text().replace(LAYOUT, "{seed}/{setting}/{run}/{step}.png")
    )
    assert load_preset(str(fixed)).layout == "{seed}/{setting}/{run}/{step}.png"
    with pytest.raises(ConfigError, match="banana100"):
        load_preset("no-such-preset")


# ----- side tables: separators and Unicode normalisation ---------------------------------------------------


def test_a_side_table_with_another_separator_is_diagnosed(tmp_path):
    table = tmp_path / "table.csv"
    table.write_text("file;seed;run;step\na.png;x;0;0\n")
    with pytest.raises(ConfigError, match=r"side table .*table\.csv: expected a comma-separated file.*semicolons"):
        read_table(table)


@pytest.mark.parametrize("table_form, disk_form", [("NFC", "NFD"), ("NFD", "NFC")])
@pytest.mark.parametrize("layout", [None, "{seed}/{_}.png"], ids=["table-only", "table-and-layout"])
def test_a_side_table_finds_files_named_in_another_unicode_normalisation(store, tmp_path, layout, table_form, disk_form):
    import unicodedata

    root = tmp_path / "ds"
    folder = root / unicodedata.normalize(disk_form, "café")
    folder.mkdir(parents=True)
    (folder / "s0.png").write_bytes(textured_image(48, 32).data())
    table = root / "table.csv"
    name = unicodedata.normalize(table_form, "café")
    table.write_text(f"path,seed,setting,run,step\n{name}/s0.png,{name},mine,0,0\n", encoding="utf-8")
    spec = ImportSpec(root, layout=layout, table=table)
    rows, problems = rows_from_folder(spec, ReadPolicy.inside(root))
    assert problems == [] and len(rows) == 1 and rows[0].path.exists()
