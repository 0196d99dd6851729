"""The package's import graph: data flows one way (DESIGN.md), so no module imports one that
imports it back, and nothing outside the editor table imports an editor implementation.

Imports are read from the source (function-level imports included: a cycle broken only by
an import inside a function is still a cycle of design)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "iqa_audit"
EDITORS = {
    "iqa_audit.editors.codec",
    "iqa_audit.editors.simulators",
    "iqa_audit.editors.gemini",
    "iqa_audit.editors.diffusers_editor",
    "iqa_audit.editors.vae_roundtrip",
}
# metrics.pyiqa_adapter <-> metrics.weights is issue 15's to break; drop it from here then.
KNOWN_CYCLES = [{"iqa_audit.metrics.pyiqa_adapter", "iqa_audit.metrics.weights"}]


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
    # a submodule importing its own package (the package __init__) is not an edge back
    return {m for m in found if m in modules and m != name and not name.startswith(m + ".")}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


def test_no_import_cycles() -> None:
    unexpected = [c for c in _cycles(_graph()) if c not in KNOWN_CYCLES]
    assert not unexpected, unexpected


@pytest.mark.parametrize(
    "module",
    [
        "iqa_audit.vlm.counting",
        "iqa_audit.vlm.self_eval",
        "iqa_audit.vlm.client",
        "iqa_audit.editors.diffusers_editor",
        "iqa_audit.editors.base",
        "iqa_audit.cli.main",
        "iqa_audit.chains.chain",
    ],
)
def test_nothing_below_the_editor_table_imports_an_editor(module) -> None:
    """Counting, the LLM judge and the diffusers editor use the GenAI client (or the seed
    policy), not the Gemini editor; the rest goes through the table (editors.registry)."""
    assert not (_graph()[module] & EDITORS)


def test_only_the_table_imports_the_editor_modules() -> None:
    importers = {name for name, deps in _graph().items() if deps & EDITORS} - EDITORS
    assert importers == {"iqa_audit.editors.registry"}
