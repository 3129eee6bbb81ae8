"""The package's shape, held by a test: imports only go down the layers, no cycles, no
module reaches into another's private names, and modules and functions stay readable.

Every import counts, the lazy ones inside functions too (they are how cycles hid before).
The layers, lowest first; a module may import its own layer's package and those below::

    goalmatch._version, goalmatch._paths, goalmatch._io, goalmatch.errors
    goalmatch.data → goalmatch.text → goalmatch.embed → goalmatch.persistence → goalmatch.model
    → goalmatch.batch | goalmatch.evaluation → goalmatch.web → goalmatch.cli

``goalmatch`` itself (``__init__``) is the public face: it may import anything, and
nothing inside the package imports it.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "goalmatch"

LAYERS: list[set[str]] = [
    {"goalmatch._version", "goalmatch._paths", "goalmatch._io", "goalmatch.errors"},
    {"goalmatch.data"},
    {"goalmatch.text"},
    {"goalmatch.embed"},
    {"goalmatch.persistence"},
    {"goalmatch.model"},
    {"goalmatch.batch", "goalmatch.evaluation"},
    {"goalmatch.web"},
    {"goalmatch.cli"},
]
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def _modules(package: Path = PACKAGE) -> dict[str, Path]:
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _unit(module: str) -> str:
    """The layer unit a module belongs to: its top-level subpackage or base module."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def _rank(module: str) -> int:
    unit = _unit(module)
    for rank, layer in enumerate(LAYERS):
        if unit in layer:
            return rank
    raise AssertionError(f"{module}: not in any layer of tests/test_layout.py; add its package to LAYERS")


def _imports(module: str) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """(line, imported goalmatch module, names taken from it) for every import in a module."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "goalmatch":
                    yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "goalmatch":
                continue
            names = tuple(a.name for a in node.names)
            submodules = [f"{base}.{n}" for n in names if f"{base}.{n}" in MODULES]
            if submodules:
                for sub in submodules:
                    yield node.lineno, sub, ()
                rest = tuple(n for n in names if f"{base}.{n}" not in MODULES)
                if rest:
                    yield node.lineno, base, rest
            else:
                yield node.lineno, base, names


def _resolve(name: str) -> str:
    while name not in MODULES and "." in name:
        name = name.rpartition(".")[0]
    return name


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        if module != "goalmatch":
            _rank(module)


def test_imports_only_go_down() -> None:
    upward = []
    for module in MODULES:
        if module == "goalmatch":
            continue
        for line, target, _ in _imports(module):
            target = _resolve(target)
            if target == "goalmatch":
                upward.append(f"{MODULES[module]}:{line}: imports the package root 'goalmatch' (the public face)")
            elif _rank(target) > _rank(module) or (
                _rank(target) == _rank(module) and _unit(target) != _unit(module)
            ):
                upward.append(f"{MODULES[module]}:{line}: {module} imports {target}, which is above or beside it")
    assert not upward, "\n".join(upward)


def test_no_import_cycles() -> None:
    graph = {m: {_resolve(t) for _, t, _ in _imports(m)} - {m} for m in MODULES}
    # a package's __init__ re-exporting its own modules is not a cycle with them
    for module, targets in graph.items():
        graph[module] = {t for t in targets if not (MODULES[t].name == "__init__.py" and module.startswith(t + "."))}
    cycles, state = [], dict.fromkeys(graph, 0)

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state[nxt] == 1:
                cycles.append(" → ".join([*stack[stack.index(nxt):], nxt]))
            elif state[nxt] == 0:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for module in sorted(graph):
        if state[module] == 0:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_no_private_names_across_modules() -> None:
    leaks = []
    for module in MODULES:
        tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) or isinstance(node, ast.Import):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}" if isinstance(node, ast.ImportFrom) else alias.name
                    if full in MODULES:
                        aliases[alias.asname or alias.name.split(".")[0]] = full
        for line, target, names in _imports(module):
            for name in names:
                if name.startswith("_") and not name.startswith("__"):
                    leaks.append(f"{MODULES[module]}:{line}: imports {target}.{name}")
            if target.rpartition(".")[2].startswith("_") and _resolve(target) not in LAYERS[0]:
                leaks.append(f"{MODULES[module]}:{line}: imports the private module {target}")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")
                    and aliases[node.value.id] != module):
                leaks.append(f"{MODULES[module]}:{node.lineno}: uses {aliases[node.value.id]}.{node.attr}")
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_and_functions_stay_readable(module: str) -> None:
    path = MODULES[module]
    source = path.read_text(encoding="utf-8")
    problems = []
    lines = source.count("\n")
    if lines > MAX_MODULE_LINES:
        problems.append(f"{path}: {lines} lines (at most {MAX_MODULE_LINES}: two concepts share a room)")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                problems.append(f"{path}:{node.lineno}: {node.name} is {length} lines (at most {MAX_FUNCTION_LINES})")
    assert not problems, "\n".join(problems)


def test_the_checks_catch_what_they_are_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each check above fails on a small package that breaks its rule (so none passes vacuously)."""
    long_function = "def f():\n" + "    x = 1\n" * MAX_FUNCTION_LINES + "    return x\n"
    files = {
        "__init__.py": "",
        "errors.py": "import goalmatch\n",  # the public face, from inside
        "data/__init__.py": "",
        "data/a.py": "def late():\n    from goalmatch.model.m import X\n",  # upward, hidden in a function
        "model/__init__.py": "",
        "model/m.py": "from goalmatch.model.n import _hidden\nX = 1\n" + long_function,
        "model/n.py": "from goalmatch.model import m\n_hidden = m.X\n",  # a cycle with m
        "shop/__init__.py": "",  # in no layer
    }
    for name, source in files.items():
        (tmp_path / "goalmatch" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "goalmatch" / name).write_text(source, encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "MODULES", _modules(tmp_path / "goalmatch"))
    expected = [
        (test_every_module_is_in_a_layer, "goalmatch.shop: not in any layer"),
        (test_imports_only_go_down, "goalmatch.data.a imports goalmatch.model.m"),
        (test_imports_only_go_down, "imports the package root"),
        (test_no_import_cycles, "goalmatch.model.m → goalmatch.model.n → goalmatch.model.m"),
        (test_no_private_names_across_modules, "imports goalmatch.model.n._hidden"),
    ]
    for check, message in expected:
        with pytest.raises(AssertionError, match=message):
            check()
    with pytest.raises(AssertionError, match=f"f is {MAX_FUNCTION_LINES + 2} lines"):
        test_modules_and_functions_stay_readable("goalmatch.model.m")
