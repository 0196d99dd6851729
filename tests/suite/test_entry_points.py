"""This checkout's tests_metrics/ and tests_editors/ are the shipped audit (iqa_audit/suite),
not copies of it: each file there only collects the package module of the same name, so a
change to the audit is made once and runs in both places."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "iqa_audit" / "suite"
FOLDERS = {"metrics": ROOT / "tests_metrics", "editors": ROOT / "tests_editors"}
PAIRS = [(kind, path.name) for kind in FOLDERS for path in sorted((SUITE / kind).glob("test_*.py"))]


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"_entry_point_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tests(module) -> dict[str, object]:
    return {name: obj for name, obj in vars(module).items() if name.startswith("test") and callable(obj)}


def test_every_shipped_module_has_its_entry_point_and_no_other_test_file_is_there() -> None:
    assert len(PAIRS) == 5
    for kind, folder in FOLDERS.items():
        assert sorted(p.name for p in folder.glob("test_*.py")) == sorted(p.name for p in (SUITE / kind).glob("test_*.py"))


@pytest.mark.parametrize("kind,name", PAIRS, ids=[f"{k}-{n[:-3]}" for k, n in PAIRS])
def test_the_entry_point_collects_the_shipped_functions_themselves(kind, name) -> None:
    entry = FOLDERS[kind] / name
    tree = ast.parse(entry.read_text(encoding="utf-8"))
    code = [node for node in tree.body if not isinstance(node, ast.ImportFrom) and not _docstring(node)]
    assert code == [], f"{entry.relative_to(ROOT)} holds code of its own: tests belong in iqa_audit/suite/{kind}/{name}"
    shipped = _tests(importlib.import_module(f"iqa_audit.suite.{kind}.{name[:-3]}"))
    here = _tests(_load(entry))
    assert shipped and here.keys() == shipped.keys()
    assert all(here[n] is shipped[n] for n in shipped)


def _docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
