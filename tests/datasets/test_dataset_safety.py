"""An import reads only what the dataset holds, accepts only plain numbers, keeps different
names apart, and shows audits nothing until it completes (issues 11.5, 11.9, 12.3)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from iqa_audit.chains.chain import setting_label
from iqa_audit.chains.plan import ChainRequest, Setting
from iqa_audit.core.errors import ConfigError
from iqa_audit.core.names import distinct_ids, slug
from iqa_audit.datasets import importer as datasets
from iqa_audit.datasets.imported_chains import ImportedChains
from iqa_audit.datasets.importer import dataset_pairs, import_manifest
from iqa_audit.datasets.registry import DatasetRecord, dataset_record, imported_chain_key
from iqa_audit.datasets.rows import parse_count
from iqa_audit.seeds import seeds_from_dir
from iqa_audit.store.store import Store
from tests.conftest import textured_image

SECRET = "SECRET-TOKEN-3f9a"


def _folder(tmp_path, rows, name="ds"):
    """A dataset folder: rows are (seed, setting, run, step, path or None); None writes a
    fresh textured PNG at img/<run>_<step>_<n>.png."""
    d = tmp_path / name
    (d / "img").mkdir(parents=True, exist_ok=True)
    lines = ["seed,setting,run,step,path"]
    for n, (seed, setting, run, step, path) in enumerate(rows):
        if path is None:
            path = f"img/{n}.png"
            (d / path).write_bytes(textured_image(40, 30, seed=n).data())
        lines.append(f"{seed},{setting},{run},{step},{path}")
    (d / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return d / "manifest.csv"


def _one_chain(extra_path, tmp_path):
    return _folder(tmp_path, [("s", "edit", 0, 0, None), ("s", "edit", 0, 1, extra_path)])


def _import_error(store, csv, **kw) -> str:
    with pytest.raises(ConfigError) as e:
        import_manifest(store, csv, **kw)
    assert "nothing was imported" in str(e.value)
    return str(e.value)


# ----- issue 11.5: only regular files inside the dataset's folder, capped, never echoed -----


def test_a_row_naming_a_file_outside_the_folder_is_refused_without_echoing_it(store, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    for path in ("../secret.txt", str(secret)):
        msg = _import_error(store, _one_chain(path, tmp_path))
        assert "outside the dataset folder" in msg and "--allow-outside" in msg and SECRET not in msg
    # Allowed explicitly, the file is read but still not echoed: it is not an image.
    msg = _import_error(store, _one_chain(str(secret), tmp_path), allow_outside=True)
    assert "no image decoder recognises" in msg and SECRET not in msg and "SECRET" not in msg
    assert store.chains() == []


def test_a_symlink_out_of_the_folder_is_resolved_and_refused(store, tmp_path):
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(textured_image(40, 30, seed=9).data())
    csv = _one_chain("img/link.png", tmp_path)
    (csv.parent / "img/link.png").symlink_to(outside)
    msg = _import_error(store, csv)
    assert "img/link.png (a symlink to" in msg and "outside the dataset folder" in msg
    assert import_manifest(store, csv, allow_outside=True).images_added == 2  # the explicit option reads it


def test_devices_fifos_and_folders_are_never_read_even_when_allowed(store, tmp_path):
    csv = _one_chain("img/pipe.png", tmp_path)
    os.mkfifo(csv.parent / "img/pipe.png")
    (csv.parent / "img/zero.png").symlink_to("/dev/zero")
    (csv.parent / "img/dir.png").mkdir()
    text = csv.read_text()
    csv.write_text(text + "s,edit,0,2,/dev/zero\ns,edit,0,3,img/zero.png\ns,edit,0,4,img/dir.png\n")
    signal.signal(signal.SIGALRM, lambda *a: pytest.fail("the import blocked on a FIFO or an endless device"))
    signal.alarm(20)
    try:
        started = time.monotonic()
        msg = _import_error(store, csv, allow_outside=True)
    finally:
        signal.alarm(0)
    assert time.monotonic() - started < 10
    assert "img/pipe.png is a FIFO (named pipe), not a regular file" in msg
    assert "line 4: /dev/zero is a character device" in msg and "img/zero.png is a character device" in msg
    assert "img/dir.png is a folder" in msg


def test_the_size_cap_is_checked_before_reading(store, tmp_path):
    csv = _one_chain("img/huge.png", tmp_path)
    with open(csv.parent / "img/huge.png", "wb") as f:
        f.truncate(64 * 1024**3)  # sparse: 64 GiB that would take minutes and all memory to read
    started = time.monotonic()
    msg = _import_error(store, csv)
    assert time.monotonic() - started < 5
    assert f"img/huge.png is {64 * 1024**3} bytes, over the {512 * 1024**2}-byte cap per file" in msg
    small = _import_error(store, _folder(tmp_path, [("s", "edit", 0, 0, None)], name="small"), max_file_bytes=100)
    assert "over the 100-byte cap" in small


# ----- issue 11.9: counts are plain ASCII integers; interrupted imports stay invisible ------


@pytest.mark.parametrize(
    "text,value",
    [
        ("0", 0),
        ("17", 17),
        ("007", 7),
        ("+4", None),
        ("1_0", None),
        ("٣", None),
        ("４", None),
        ("-1", None),
        ("4.0", None),
        ("1e3", None),
        ("", None),
        ("1234567890", None),
        (True, None),
        (5, 5),
    ],
)
def test_run_and_step_are_plain_non_negative_ascii_integers(text, value):
    assert parse_count(text) == value


def test_a_manifest_with_odd_step_numbers_names_each_row_and_the_file(store, tmp_path):
    csv = _folder(
        tmp_path,
        [("s", "edit", 0, 0, None), ("s", "edit", 0, "+4", None), ("s", "edit", 0, "1_0", None), ("s", "edit", "٣", 2, None)],
    )
    msg = _import_error(store, csv)
    assert str(csv) in msg
    assert "line 3: step must be a plain non-negative integer (ASCII digits 0-9, at most 9), got '+4'" in msg
    assert "line 4: step must be a plain non-negative integer" in msg and "got '1_0'" in msg
    assert "line 5: run must be a plain non-negative integer" in msg and "got '٣'" in msg


def _interrupt_after(store, monkeypatch, writes: int):
    real, done = store.add_step, []

    def add_step(rec):
        if len(done) >= writes:
            raise KeyboardInterrupt  # a kill between two stored steps
        done.append(rec.step)
        real(rec)

    monkeypatch.setattr(store, "add_step", add_step)
    return lambda: monkeypatch.setattr(store, "add_step", real)


def test_an_interrupted_import_is_invisible_to_audits_until_it_completes(store, tmp_path, monkeypatch):
    csv = _folder(tmp_path, [("s", "edit", r, k, None) for r in (0, 1) for k in (0, 1, 5)], name="banana")
    restore = _interrupt_after(store, monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        import_manifest(store, csv)
    restore()
    assert len(store.steps(imported_chain_key("banana", "edit", "s", 0))) == 2  # written, but not registered
    assert dataset_record(store, "banana") is None
    with pytest.raises(ConfigError, match="an import of it from .* that has not finished"):
        dataset_pairs("banana", store.root)
    with pytest.raises(ConfigError, match="has not finished"):
        ImportedChains(store, "banana").id
    done = import_manifest(store, csv)  # resumes: the two stored steps are kept
    assert (done.images_added, done.images_already_stored) == (4, 2)
    assert dataset_pairs("banana", store.root) == [("edit", "s")]


def test_steps_an_unfinished_reimport_added_stay_unseen(store, tmp_path, monkeypatch):
    rows = [("s", "edit", 0, k, None) for k in (0, 1)]
    csv = _folder(tmp_path, rows, name="banana")
    import_manifest(store, csv)
    csv = _folder(tmp_path, rows + [("s", "edit", 0, 5, None)], name="banana")
    with monkeypatch.context() as m:  # killed after writing step 5, before registering
        m.setattr(datasets, "_register", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            import_manifest(store, csv)
    key = imported_chain_key("banana", "edit", "s", 0)
    assert [s.step for s in store.steps(key)] == [0, 1, 5]
    imported = ImportedChains(store, "banana")
    [chain] = imported.chains(ChainRequest(Setting("edit", "imported", "imported"), "s", -1, 0, None))
    assert [s.step for s in chain.steps] == [0, 1]  # the registered import, not the half-done one
    import_manifest(store, csv)
    assert dataset_record(store, "banana").chains[0].steps == (0, 1, 5)


# ----- issue 12.3: different names stay different ids ---------------------------------------


def test_names_of_any_script_stay_distinct_ids():
    assert slug("café") == "café" != slug("caf") == "caf"
    assert slug("猫") == "猫" != slug("犬") == "犬"
    assert slug("Cafe\u0301") == slug("café")  # one name typed two ways is one id
    assert slug("🍌") != slug("🍎") and slug("🍌").startswith("x-") and slug("🍌") == slug("🍌")
    assert slug("../../etc") == "etc" and slug("..").startswith("x-")  # an id is never a path
    # ASCII names keep the ids they always had (test ids and baseline keys are stable).
    assert slug("nano banana pro 2K") == "nano-banana-pro-2k"
    assert setting_label("codec-jpeg:quality=50", "replicate") == "codec-jpeg-quality50-replicate"
    assert setting_label("sim-noise-tint:sigma=1.5", "replicate") == "sim-noise-tint-sigma1.5-replicate"


def test_a_real_collision_is_refused_naming_both_originals():
    with pytest.raises(ConfigError) as e:
        distinct_ids(["Café", "x", "café"], what="seed", where="here")
    assert "'Café' and 'café' both become seed id 'café'" in str(e.value)


def test_seeds_that_used_to_collapse_are_imported_as_different_seeds(store, tmp_path):
    csv = _folder(
        tmp_path,
        [
            ("猫", "edit", 0, 0, None),
            ("猫", "edit", 0, 1, None),
            ("犬", "edit", 1, 0, None),
            ("犬", "edit", 1, 1, None),
            ("café", "edit", 0, 0, None),
            ("caf", "edit", 0, 0, None),
        ],
    )
    summary = import_manifest(store, csv)
    assert sorted((c.seed, c.run) for c in summary.chains) == [("caf", 0), ("café", 0), ("犬", 1), ("猫", 0)]
    assert dataset_pairs(str(csv), None) == [("edit", "caf"), ("edit", "café"), ("edit", "犬"), ("edit", "猫")]


def test_seeds_whose_names_collide_are_refused_naming_both(store, tmp_path):
    csv = _folder(tmp_path, [("Café", "edit", 0, 0, None), ("café", "edit", 0, 0, None)])
    msg = _import_error(store, csv)
    assert "'Café' and 'café' both become seed id 'café'" in msg and "duplicate" not in msg
    csv = _folder(tmp_path, [("s", "Edit A", 0, 0, None), ("s", "edit-a", 1, 0, None)], name="settings")
    assert "'Edit A' and 'edit-a' both become setting id 'edit-a'" in _import_error(store, csv)


def test_seed_folders_keep_unicode_names_apart(tmp_path):
    for name in ("猫", "犬", "café", "caf"):
        (tmp_path / f"{name}.png").write_bytes(textured_image(20, 20, seed=len(name)).data())
    assert [s.name for s in seeds_from_dir(tmp_path)] == ["caf", "café", "犬", "猫"]


def test_dataset_names_that_collide_are_refused(store, tmp_path):
    csv = _folder(tmp_path, [("s", "edit", 0, 0, None)])
    import_manifest(store, csv, name="Banana")
    assert "already used by the dataset 'Banana'" in _import_error(store, csv, name="banana")
    assert isinstance(dataset_record(store, "banana"), DatasetRecord)
    assert Store(store.root).get_memo("dataset", "banana") is not None
