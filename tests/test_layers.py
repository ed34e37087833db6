"""DESIGN.md's never-rules, enforced on every module of ``src/segtrain`` (standard-library ``ast`` only).

The checker reads the sources, never imports them. Each rule failure names the file, the line
and the import, so a forbidden import fails the suite with the reason. The checker is tested
too: each rule is broken on purpose in a copy of the tree and must be reported.
"""

from __future__ import annotations

import ast
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "segtrain"

FOUNDATION = {"segtrain._version", "segtrain.errors", "segtrain._text"}
"""The bottom row of DESIGN.md's table: they import nothing of ours, and every layer may import them."""

ALLOWED: dict[str, set[str]] = {
    "foundation": set(),
    "config": set(),
    "runtime": {"config"},
    "data": {"config", "runtime"},
    "data.check": {"config", "runtime", "data"},
    "data.loaders": {"config", "runtime", "data"},
    "synthetic": {"config"},
    "models": {"config"},
    "losses": {"config"},
    "metrics": {"config"},
    "optim": {"config"},
    "diagnosis": set(),
    "planning": {"config", "runtime", "data", "models", "losses", "optim"},
    "inference": {"config", "runtime", "data", "models"},
    "evaluation": {"config", "runtime", "data", "metrics", "inference"},
    "engine": {"config", "runtime", "data", "data.loaders", "models", "losses", "metrics", "optim", "diagnosis",
               "inference", "evaluation", "planning.plan"},
    "reporting": {"config", "runtime", "data", "metrics", "diagnosis", "inference"},
    "exporting": {"config", "runtime", "data", "models", "inference"},
    "pipeline": {"config", "runtime", "data", "data.check", "data.loaders", "synthetic", "models", "losses", "metrics",
                 "optim", "diagnosis", "planning", "inference", "evaluation", "engine", "reporting"},
    "api": {"config", "runtime", "data", "data.check", "data.loaders", "synthetic", "models", "losses", "metrics",
            "optim", "diagnosis", "planning", "inference", "evaluation", "engine", "reporting", "exporting",
            "pipeline"},
    "cli": {"api", "runtime.log"},
    "top": {"api"},
}
"""Which layers each layer may import (DESIGN.md, "Layout"). A dotted name below a layer (``planning.plan``,
``runtime.log``) allows that one module only: the engine reads the plan record, never the planner; the CLI
sets up the console, nothing else of the runtime."""

HEAVY = {"torch", "lightning", "matplotlib", "scipy", "tifffile", "monai", "torchmetrics"}
"""Third-party libraries slow enough to import that a lazy import of them is worth its cost (rule 7)."""

NO_TORCH = {"torch", "lightning", "torchmetrics", "monai"}
"""What ``data/`` outside ``data/loaders/`` never imports (rule 5): ``check`` stays light."""

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
LONG_ALLOWED: dict[str, str] = {}
"""``module`` or ``module:function`` -> why it may be longer than the limits (written in the closing note too)."""


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module of ours (resolved to a module that exists)
    line: int
    in_function: bool
    text: str


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def layer_of(module: str) -> str:
    if module == "segtrain":
        return "top"
    if module in FOUNDATION:
        return "foundation"
    parts = module.split(".")[1:]
    if parts[0] == "data" and len(parts) > 1 and parts[1] in ("check", "loaders"):
        return f"data.{parts[1]}"
    return parts[0]


def _resolve(base: str, names: list[str], known: dict[str, Path]) -> list[str]:
    """``from base import a, b``: the modules meant (``base.a`` when it is a module, else ``base``)."""
    found = [f"{base}.{n}" for n in names if f"{base}.{n}" in known]
    return found if len(found) == len(names) else sorted({base, *found})


def _package(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rsplit(".", 1)[0]


def imports_of(module: str, path: Path, known: dict[str, Path]) -> tuple[list[Import], list[tuple[str, int, bool, str]]]:
    """Our imports and the third-party top names ``(name, line, in_function, text)`` of one module."""
    source = path.read_text()
    tree = ast.parse(source, str(path))
    ours: list[Import] = []
    third: list[tuple[str, int, bool, str]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, [], child, in_function)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = _package(module, path).split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                add(target, [a.name for a in child.names], child, in_function)
            visit(child, inner)

    def add(target: str, names: list[str], node: ast.AST, in_function: bool) -> None:
        text = " ".join((ast.get_source_segment(source, node) or target).split())
        if target == "segtrain" or target.startswith("segtrain."):
            for resolved in _resolve(target, names, known) if names else [target]:
                ours.append(Import(module, resolved, node.lineno, in_function, text))
        else:
            third.append((target.split(".")[0], node.lineno, in_function, text))

    visit(tree, False)
    return ours, third


def _parents(module: str) -> list[str]:
    """Importing ``a.b.c`` runs ``a/__init__``, ``a/b/__init__`` first: the packages above a module."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _allowed(source: str, target: str) -> bool:
    src, dst = layer_of(source), layer_of(target)
    if dst == "foundation" or src == dst:
        return True
    if target == "segtrain":
        return False
    for allowed in ALLOWED[src]:
        if allowed in ALLOWED:  # a whole layer
            if dst == allowed:
                return True
        elif target == f"segtrain.{allowed}" or target.startswith(f"segtrain.{allowed}."):  # one module
            return True
    return False


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return found


def _heavy_at_import(known: dict[str, Path], tops: dict[str, list[Import]], third: dict[str, list]) -> set[str]:
    """Modules whose import (at module level, through our modules and their packages) loads a heavy library."""
    heavy = {m for m, names in third.items() if any(n in HEAVY and not f for n, _, f, _ in names)}
    changed = True
    while changed:
        changed = False
        for m in known:
            if m in heavy:
                continue
            deps = {i.target for i in tops[m] if not i.in_function}
            deps |= {p for d in deps for p in _parents(d)}
            if deps & heavy:
                heavy.add(m)
                changed = True
    return heavy


def violations(root: Path = SRC) -> list[str]:
    """Every break of DESIGN.md's never-rules 1-7 in the package at ``root``, one line each."""
    known = modules(root)
    ours: dict[str, list[Import]] = {}
    third: dict[str, list] = {}
    for m, p in known.items():
        ours[m], third[m] = imports_of(m, p, known)
    heavy = _heavy_at_import(known, ours, third)
    where = {m: p.relative_to(root.parent) for m, p in known.items()}
    lines: list[str] = []
    for m in known:
        for i in ours[m]:
            at = f"{where[m]}:{i.line}: {i.text}"
            if i.target not in known:
                lines.append(f"{at}: imports {i.target}, which is no module of segtrain")
                continue
            if i.target == "segtrain" or i.target == "segtrain.api":
                if layer_of(m) not in ("cli", "top") and not (i.target == "segtrain.api" and m == "segtrain.api"):
                    lines.append(f"{at}: only cli/ and the top package import "
                                 f"{'api' if i.target.endswith('api') else 'the top package'} (rule 6)")
                    continue
            if not _allowed(m, i.target):
                lines.append(f"{at}: {layer_of(m)} may not import {layer_of(i.target)} ({i.target}); "
                             "the layers run one way (rules 1-4)")
            if i.in_function and m == "segtrain" and i.target == "segtrain.api":
                continue  # PEP 562: every submodule import runs the top package first, so it loads api on first use
            if i.in_function and not (i.target in heavy and m not in heavy):
                why = "the importing module loads the heavy libraries anyway" if m in heavy else \
                    f"{i.target} imports no heavy library"
                lines.append(f"{at}: an import inside a function that guards nothing ({why}); "
                             "move it to the top of the module (rule 7)")
        if layer_of(m) == "data":
            for name, line, _, text in third[m]:
                if name in NO_TORCH:
                    lines.append(f"{where[m]}:{line}: {text}: data/ outside data/loaders/ imports {name} (rule 5)")
    edges = {m: {i.target for i in ours[m] if i.target in known} for m in known}
    for cycle in _cycles(edges):
        lines.append("import circle: " + " -> ".join(cycle) + " (rule 1)")
    return lines


def long_pieces(root: Path = SRC) -> list[str]:
    """Modules over ``MAX_MODULE_LINES`` lines and functions over ``MAX_FUNCTION_LINES``, unless allowed with a reason."""
    found = []
    for m, p in modules(root).items():
        text = p.read_text()
        n = len(text.splitlines())
        if n > MAX_MODULE_LINES and m not in LONG_ALLOWED:
            found.append(f"{p.relative_to(root.parent)}: {n} lines (at most {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES and f"{m}:{node.name}" not in LONG_ALLOWED:
                    found.append(f"{p.relative_to(root.parent)}:{node.lineno}: {node.name} has {length} lines "
                                 f"(at most {MAX_FUNCTION_LINES})")
    return found


def test_the_never_rules_hold():
    found = violations()
    assert not found, "\n".join(found)


def test_modules_and_functions_are_short():
    found = long_pieces()
    assert not found, "\n".join(found)


def test_every_module_has_a_layer():
    assert {layer_of(m) for m in modules(SRC)} <= set(ALLOWED)


# -- the checker itself must fail when a rule is broken ------------------------------------------------------


@pytest.fixture
def tree(tmp_path):
    copy = tmp_path / "segtrain"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _append(tree: Path, relative: str, text: str) -> None:
    path = tree / relative
    path.write_text(path.read_text() + "\n" + text + "\n")


@pytest.mark.parametrize("relative, line, expected", [
    ("planning/plan.py", "from segtrain.engine.fit import fit", "planning may not import engine"),
    ("config/schema.py", "from segtrain.runtime.env import detect_machine", "config may not import runtime"),
    ("engine/trainer.py", "from segtrain.planning.planner import plan_training", "engine may not import planning"),
    ("diagnosis/findings.py", "from segtrain.config import load_config", "diagnosis may not import config"),
    ("inference/writers.py", "from segtrain.evaluation.split import evaluate_run", "inference may not import evaluation"),
    ("engine/fit.py", "from segtrain.pipeline.run import finish", "engine may not import pipeline"),
    ("reporting/plots.py", "import segtrain.api", "only cli/ and the top package import api"),
    ("engine/fit.py", "from segtrain import __version__", "only cli/ and the top package import the top package"),
    ("cli/summary.py", "from segtrain.runtime.rundir import RunDir", "cli may not import runtime"),
    ("data/readers.py", "import torch", "data/ outside data/loaders/ imports torch"),
])
def test_a_forbidden_import_is_named(tree, relative, line, expected):
    _append(tree, relative, line)
    found = violations(tree)
    assert any(relative in f and line in f and expected in f for f in found), found


def test_a_light_import_inside_a_function_is_named(tree):
    _append(tree, "runtime/env.py", "def later():\n    from segtrain.config.schema import SegtrainConfig\n")
    found = violations(tree)
    assert any("runtime/env.py" in f and "guards nothing" in f for f in found), found


def test_a_lazy_import_of_a_heavy_module_from_a_light_one_is_allowed(tree):
    # api stays light (the CLI imports it for --help); training imports torch when a verb runs
    _append(tree, "api.py", "def later():\n    from segtrain.pipeline.run import finish\n")
    found = violations(tree)
    assert not any("segtrain/api.py" in f for f in found), found


def test_a_circle_hidden_in_a_function_is_named(tree):
    # data/classes.py imports data/readers.py at its top: a lazy import back closes a circle
    _append(tree, "data/readers.py", "def later():\n    from segtrain.data.classes import CLASSES_FILE\n")
    found = violations(tree)
    assert any(f.startswith("import circle:") and "segtrain.data.readers" in f and "segtrain.data.classes" in f
               for f in found), found


def test_a_long_module_is_named(tree):
    _append(tree, "_text.py", "\n" * (MAX_MODULE_LINES + 1))
    assert any("_text.py" in f and "lines" in f for f in long_pieces(tree))
