"""The package's import graph: data flows one way (DESIGN.md), so each module imports only
from its own stage or an earlier one, no module imports one that imports it back, and
nothing outside the editor table imports an editor implementation; and no module grows
past what one reader holds in their head.

Imports are read from the source (function-level imports included: a cycle or a
backwards import hidden inside a function is still one of design)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "iqa_audit"
ROOT = PACKAGE.parent
# The pipeline's stages, in import order: a module may import only from its own stage or an
# earlier one (iqa_audit/<stage>/ is a subpackage; the last two are top-level modules).
STAGES = (
    "core",  # shared building blocks with no pipeline knowledge: errors, images, keys, files, names, URLs
    "store",  # the content-addressed store on disk: images plus a SQLite manifest of chains, scores, runs
    "vlm",  # vision-language model services: the Gemini client, object counting, self-evaluation
    "seeds",  # the seed catalogue: the images every chain starts from
    "tasks",  # the study's tasks: the prompt sent at every step and what a faithful editor returns
    "editors",  # the Editor protocol, the table of editor names and the built-in editors
    "metrics",  # the Metric protocol, the pyiqa adapter, classic measures, user metrics, weights
    "config",  # what to audit: the options table, profiles from pyproject.toml, the resolved AuditConfig
    "chains",  # degradation chains: planned from a config, built (free and paid), cached
    "datasets",  # chains someone else built: manifests, folder layouts, Hugging Face sources
    "scoring",  # metric scores of chain images, each computed once through the store
    "distributed",  # scoring and free-chain building spread over a Ray cluster (--engine ray)
    "fidelity",  # editor fidelity checks: did the editor keep what it was asked to keep?
    "analysis",  # pure functions on score series: gaps, evidence, noise band, stability, sanity
    "results",  # the run's machine-readable truth: typed records, results.json, the baseline
    "report",  # the run's HTML reports, drawn from results.json
    "audit",  # the pytest audit: one session per run, its cells, each turned into a record and outcome
    "suite",  # the audit's test modules, shipped: pytest --pyargs iqa_audit.suite.metrics / .editors
    "cli",  # the iqa-audit command: audit, build, import, score, weights, list, forget
    "pytest_plugin",  # the pytest11 entry point: options, parametrization, hooks
    "__main__",  # python -m iqa_audit: the iqa-audit command without the console script
)
# iqa_audit/__init__.py holds only the version: anything may import it.
ANYONE_MAY_IMPORT = {"iqa_audit"}
MAX_LINES = 500
EDITORS = {
    "iqa_audit.editors.codec",
    "iqa_audit.editors.simulators",
    "iqa_audit.editors.gemini",
    "iqa_audit.editors.diffusers_editor",
    "iqa_audit.editors.vae_roundtrip",
    "iqa_audit.editors.vae_loading",
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _import_lines(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported package module, line) for every import in the module, at any depth."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            found += [(base, node.lineno)] + [(f"{base}.{a.name}", node.lineno) for a in node.names]
    # a submodule importing its own package (the package __init__) is not an edge back
    return sorted((m, line) for m, line in set(found) if m in modules and m != name and not name.startswith(m + "."))


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {m for m, _ in _import_lines(name, path, modules)} for name, path in modules.items()}


def _stage(module: str) -> str:
    """'iqa_audit.results.writer' -> 'results'; 'iqa_audit.pytest_plugin' -> 'pytest_plugin'."""
    return module.split(".")[1] if "." in module else "version"


def _ranked(module: str) -> int | None:
    """The module's place in STAGES (1 = core); 0 for the version module (anything may import
    it, so it may import nothing of the stages); None for a module in no stage."""
    if module in ANYONE_MAY_IMPORT:
        return 0
    return STAGES.index(_stage(module)) + 1 if _stage(module) in STAGES else None


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
    cycles = _cycles(_graph())
    assert not cycles, cycles


def test_no_module_imports_from_a_later_stage() -> None:
    modules = _modules()
    strays = [f"{m}: in no stage (add its stage to STAGES, in import order)" for m in sorted(modules) if _ranked(m) is None]
    backwards = []
    for name, path in sorted(modules.items()):
        found = _import_lines(name, path, modules)
        for target, line in found:
            if any(t.startswith(target + ".") and n == line for t, n in found):
                continue  # `from iqa_audit.audit import cells`: name iqa_audit.audit.cells alone
            here, there = _ranked(name), _ranked(target)
            if here is not None and there is not None and there > here:
                backwards.append(
                    f"{path.relative_to(ROOT)}:{line}: {name} imports {target}: "
                    f"stage {_stage(name)!r} may not import from the later stage {_stage(target)!r}"
                )
    problems = strays + backwards
    assert not problems, "imports against the stage order (core first, __main__ last):\n" + "\n".join(problems)


def test_no_module_is_over_500_lines() -> None:
    lines = {path: len(path.read_text(encoding="utf-8").splitlines()) for path in _modules().values()}
    long = [f"{path.relative_to(ROOT)}: {n} lines" for path, n in sorted(lines.items(), key=lambda kv: -kv[1]) if n > MAX_LINES]
    assert not long, f"modules over {MAX_LINES} lines (split them by what they do):\n" + "\n".join(long)


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


def _function_level_imports(path: Path) -> list[tuple[str, int]]:
    """(top-level package, line) of every import inside a function of the file at `path`."""
    found = []
    for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Import):
                found += [(a.name.split(".")[0], node.lineno) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                found.append(("iqa_audit" if node.level else (node.module or "").split(".")[0], node.lineno))
    return found


def test_imports_inside_functions_are_only_the_documented_heavy_libraries() -> None:
    from iqa_audit.core.lazy import HEAVY

    lazy = [
        f"{path.relative_to(ROOT)}:{line} imports {top} inside a function"
        for path in sorted(PACKAGE.rglob("*.py"))
        for top, line in _function_level_imports(path)
        if top not in HEAVY
    ]
    assert not lazy, (
        "imports go at module top, except the heavy libraries listed (with their cost) in "
        "iqa_audit/core/lazy.py HEAVY:\n" + "\n".join(lazy)
    )


def test_the_readme_layout_lists_every_stage_in_import_order() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout") :]
    listed = re.findall(r"^iqa_audit/(\w+)/", layout, flags=re.M)
    folders = [s for s in STAGES if (PACKAGE / s).is_dir()]
    assert listed == folders, f"README.md's Layout section lists {listed}; the stages (STAGES) are {folders}"
