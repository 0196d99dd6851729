"""The editor table: every built-in editor is listed explicitly, installed packages add
editors under the entry-point group `iqa_audit.editors`, and each row carries its cost."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from iqa_audit.core.errors import ConfigError
from iqa_audit.core.images import Image
from iqa_audit.editors import ENTRY_POINT_GROUP, EditorEntry, create_editor, editor_entry, editor_names, estimate_cost, gemini
from iqa_audit.editors.registry import BUILTIN

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "tests.plugin_editor_example"

# The built-in names before the table replaced the import-side-effect registry (issue 14),
# codec-reupload, the quick profile's degrading codec chain (issue 10), and the task-check
# simulators of issue 16 (sim-no-colour, sim-no-transform, sim-sepia), and vae-roundtrip (issue 25).
BUILTIN_NAMES = [
    "codec-jpeg",
    "codec-reupload",
    "codec-webp",
    "flux2-dev",
    "gemini",
    "identity",
    "nano-banana",
    "nano-banana-pro",
    "qwen-image-edit",
    "qwen-image-edit-plus",
    "sim-apples",
    "sim-crop",
    "sim-fruits-replace",
    "sim-grain-tint",
    "sim-no-colour",
    "sim-no-transform",
    "sim-noise-tint",
    "sim-palette",
    "sim-scatter",
    "sim-sepia",
    "sim-texture-loss",
    "sim-wrinkles",
    "vae-roundtrip",
]


def test_every_builtin_editor_is_in_the_table() -> None:
    assert sorted(BUILTIN) == BUILTIN_NAMES
    assert set(BUILTIN_NAMES) <= set(editor_names())
    for name in BUILTIN_NAMES:
        entry = editor_entry(name)
        assert isinstance(entry, EditorEntry) and entry.name == name and entry.summary
        with pytest.raises(TypeError):
            entry.defaults["x"] = 1  # type: ignore[index]


def test_the_table_needs_no_other_import() -> None:
    """A fresh process that imports only the table module sees every editor: nothing
    depends on some other module having been imported first."""
    code = "import iqa_audit.editors.registry as r; print(' '.join(sorted(r.BUILTIN)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.split() == BUILTIN_NAMES


def test_paid_editors_carry_a_cost_and_free_ones_none() -> None:
    assert estimate_cost("nano-banana-pro", 10) == pytest.approx(gemini.estimate_cost("gemini-3-pro-image-preview", "2K", 10))
    assert estimate_cost("gemini:model=gemini-2.5-flash-image,image_size=auto", 100) == pytest.approx(3.9)
    assert estimate_cost("nano-banana:image_size=auto", 3) == gemini.estimate_cost("gemini-2.5-flash-image", "auto", 3)
    for name in BUILTIN_NAMES:
        paid = name in ("gemini", "nano-banana", "nano-banana-pro")
        assert (editor_entry(name).cost is not None) == paid, name
    assert estimate_cost("codec-jpeg", 10) is None


# ----- plugins ---------------------------------------------------------------------------------


def _install(root: Path, lines: dict[str, str], monkeypatch) -> None:
    """A fake installed distribution whose entry points name `lines` (name -> target)."""
    dist = root / f"iqa_audit_fake_editors_{uuid.uuid4().hex[:8]}-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: iqa-audit-fake-editors\nVersion: 1.0\n")
    body = "".join(f"{k} = {v}\n" for k, v in lines.items())
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{body}")
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.syspath_prepend(str(ROOT))


def test_an_installed_package_adds_editors_by_entry_point(tmp_path, monkeypatch) -> None:
    _install(tmp_path, {"plugin-darken": f"{PLUGIN}:DARKEN", "plugin-brighten": f"{PLUGIN}:make_brighten"}, monkeypatch)
    assert {"plugin-darken", "plugin-brighten"} <= set(editor_names())
    brighten = editor_entry("plugin-brighten")
    assert dict(brighten.defaults) == {"amount": 5} and brighten.summary == "Brightens by `amount` grey levels per step."
    image = Image.from_array(np.full((8, 8, 3), 100, np.uint8))
    out = create_editor("plugin-brighten:amount=7").edit(image, "p", seed=0, step=1).image
    assert int(out.pixels[0, 0, 0]) == 107
    assert int(create_editor("plugin-darken").edit(image, "p", seed=0, step=1).image.pixels[0, 0, 0]) == 90
    assert estimate_cost("plugin-darken", 5) == pytest.approx(0.05)
    assert estimate_cost("plugin-brighten", 5) is None
    with pytest.raises(ConfigError, match="parameters among amount"):
        create_editor("plugin-brighten:colour=red")


@pytest.mark.parametrize(
    "name,target,match",
    [
        ("codec-jpeg", f"{PLUGIN}:DARKEN", "one editor per name"),
        ("plugin-renamed", f"{PLUGIN}:DARKEN", "an EditorEntry named 'plugin-renamed'"),
        ("plugin-number", f"{PLUGIN}:NOT_AN_EDITOR", "an EditorEntry or a callable"),
        ("plugin-strict", f"{PLUGIN}:make_needs_argument", "no default for amount"),
        ("plugin-missing", f"{PLUGIN}:no_such_factory", "importable object"),
        ("plugin-gone", "no_such_module_xyz:f", "importable object"),
    ],
)
def test_bad_editor_entry_points_are_refused_by_name(tmp_path, monkeypatch, name, target, match) -> None:
    _install(tmp_path, {name: target}, monkeypatch)
    with pytest.raises(ConfigError, match=match) as err:
        create_editor(name)
    assert name in str(err.value)


def test_an_unknown_editor_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="codec-jpeg") as err:
        create_editor("codec-jpg")
    from iqa_audit.core.console import cli_command

    assert cli_command("list") in str(err.value)
