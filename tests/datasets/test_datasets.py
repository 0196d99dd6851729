"""Importing someone else's chains (e.g. Banana100) from manifest.csv."""

from __future__ import annotations

import pytest

from iqa_audit.core.errors import ConfigError
from iqa_audit.datasets.importer import import_manifest, read_manifest
from iqa_audit.datasets.registry import imported_chain_key
from tests.conftest import textured_image


def _dataset(tmp_path, steps=(0, 1, 5), runs=(0, 1)):
    d = tmp_path / "banana"
    (d / "img").mkdir(parents=True)
    lines = ["seed,setting,run,step,path"]
    for run in runs:
        for k in steps:
            name = f"img/r{run}_s{k}.png"
            (d / name).write_bytes(textured_image(48, 32, seed=run * 100 + k).data())
            lines.append(f"building,nano banana pro 2K,{run},{k},{name}")
    (d / "manifest.csv").write_text("\n".join(lines) + "\n")
    return d / "manifest.csv"


def test_import_is_complete_and_idempotent(store, tmp_path):
    csv = _dataset(tmp_path)
    first = import_manifest(store, csv)
    assert first.dataset == "banana" and first.images_added == 6 and len(first.chains) == 2
    assert first.chains[0].setting == "nano-banana-pro-2k"
    again = import_manifest(store, csv)
    assert again.images_added == 0 and again.images_already_stored == 6
    key = imported_chain_key("banana", "nano-banana-pro-2k", "building", 1)
    steps = store.steps(key)
    assert [s.step for s in steps] == [0, 1, 5]
    assert store.read_bytes(steps[1].image_hash, steps[1].ext) == (csv.parent / "img/r1_s1.png").read_bytes()


def test_every_problem_is_listed_and_nothing_is_written(store, tmp_path):
    csv = _dataset(tmp_path)
    (csv.parent / "img/r0_s1.png").write_bytes(b"not an image")
    (csv.parent / "img/r1_s5.png").unlink()
    text = csv.read_text() + "building,other,x,1,img/r0_s0.png\n"
    csv.write_text(text)
    with pytest.raises(ConfigError) as e:
        import_manifest(store, csv)
    msg = str(e.value)
    assert "r0_s1.png" in msg and "no image decoder" in msg
    assert "r1_s5.png does not exist" in msg
    assert "line 8: run must be a plain non-negative integer" in msg
    assert "nothing was imported" in msg
    assert store.chains() == []


def test_missing_columns_and_missing_seed_step(store, tmp_path):
    bad = tmp_path / "m.csv"
    bad.write_text("seed,run,path\nx,0,a.png\n")
    with pytest.raises(ConfigError, match="columns seed,setting,run,step,path.*missing columns: setting,step"):
        read_manifest(bad)
    csv = _dataset(tmp_path, steps=(1, 5), runs=(0,))
    with pytest.raises(ConfigError, match="no step 0"):
        import_manifest(store, csv)
    with pytest.raises(ConfigError, match="no such file"):
        read_manifest(tmp_path / "absent.csv")


def test_a_different_image_for_a_stored_step_is_refused_not_overwritten(store, tmp_path):
    csv = _dataset(tmp_path, runs=(0,))
    import_manifest(store, csv)
    before = store.steps(imported_chain_key("banana", "nano-banana-pro-2k", "building", 0))
    (csv.parent / "img/r0_s1.png").write_bytes(textured_image(48, 32, seed=999).data())
    with pytest.raises(ConfigError, match="already stored with a different image"):
        import_manifest(store, csv)
    assert store.steps(before[0].chain_key) == before


# ----- a manifest written with another separator --------------------------------------------------------


@pytest.mark.parametrize(
    "sep, name", [(";", "';' (semicolons)"), ("\t", "tabs"), ("|", "'|' (pipes)")], ids=["semicolon", "tab", "pipe"]
)
def test_a_manifest_with_another_separator_is_diagnosed_as_such(tmp_path, sep, name):
    csv = _dataset(tmp_path, runs=(0,))
    csv.write_text(csv.read_text().replace(",", sep))
    with pytest.raises(ConfigError) as e:
        read_manifest(csv)
    text = str(e.value)
    assert str(csv) in text and f"a header separated by {name}" in text and "comma-separated" in text
    assert "Add the missing columns" not in text


def test_a_manifest_really_missing_columns_still_says_which(tmp_path):
    bad = tmp_path / "m.csv"
    bad.write_text("seed;run;path\nx;0;a.png\n")  # ';' but not the columns either way
    with pytest.raises(ConfigError, match="Add the missing columns: seed,setting,run,step,path"):
        read_manifest(bad)


# ----- paths in another Unicode normalisation -------------------------------------------------------------


def _nfd_dataset(tmp_path, manifest_form: str, disk_form: str):
    import unicodedata

    d = tmp_path / "ds"
    folder = d / unicodedata.normalize(disk_form, "café")
    folder.mkdir(parents=True)
    (folder / unicodedata.normalize(disk_form, "étape0.png")).write_bytes(textured_image(48, 32).data())
    rel = unicodedata.normalize(manifest_form, "café/étape0.png")
    (d / "manifest.csv").write_text(f"seed,setting,run,step,path\ncafé,mine,0,0,{rel}\n", encoding="utf-8")
    return d / "manifest.csv"


@pytest.mark.parametrize("manifest_form, disk_form", [("NFC", "NFD"), ("NFD", "NFC")])
def test_a_manifest_path_finds_the_file_in_another_unicode_normalisation(store, tmp_path, manifest_form, disk_form):
    csv = _nfd_dataset(tmp_path, manifest_form, disk_form)
    summary = import_manifest(store, csv)
    assert summary.images_added == 1


def test_a_path_still_missing_names_the_part_that_is_not_there(store, tmp_path):
    csv = _nfd_dataset(tmp_path, "NFC", "NFD")
    csv.write_text(csv.read_text(encoding="utf-8").replace("étape0", "étape9"), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        import_manifest(store, csv)
    text = str(e.value)
    assert "has no entry named 'étape9.png'" in text and "NFC and NFD" in text


def test_two_entries_equal_but_for_normalisation_are_ambiguous(store, tmp_path):
    """'ệ' decomposes to e + dot below + circumflex; the marks in the other order are a
    second spelling of the same text. A manifest naming 'ệ' (NFC) cannot pick one."""
    d = tmp_path / "ds"
    for spelling in ("e\u0323\u0302", "e\u0302\u0323"):
        (d / spelling).mkdir(parents=True)
        (d / spelling / "s0.png").write_bytes(textured_image(48, 32).data())
    (d / "manifest.csv").write_text("seed,setting,run,step,path\nx,mine,0,0,\u1ec7/s0.png\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        import_manifest(store, d / "manifest.csv")
    assert "holds 2 entries that are all 'ệ' in different Unicode normalisations" in str(e.value)
