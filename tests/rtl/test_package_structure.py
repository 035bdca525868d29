"""The RTL package's import structure: no cycles, no private names of other modules,
no function-level imports of fpgaq modules, and no dependence on the converters."""

from __future__ import annotations

import ast
from pathlib import Path

import fpgaq

PACKAGE = Path(fpgaq.__file__).parent
RTL = PACKAGE / "rtl"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.Module) -> list[tuple[ast.ImportFrom | ast.Import, bool]]:
    """Every import with whether it sits at module level."""
    top = {id(node) for node in tree.body}
    return [(n, id(n) in top) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def _targets(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]


def _rtl_sources() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(encoding="utf-8")) for p in sorted(RTL.rglob("*.py"))}


def test_no_private_names_function_level_imports_or_converters() -> None:
    problems = []
    for name, tree in _rtl_sources().items():
        for node, top in _imports(tree):
            targets = [t for t in _targets(node) if t.startswith("fpgaq")]
            if not targets:
                continue
            if not top:
                problems.append(f"{name}: function-level import of {targets[0]}")
            if any(t.startswith("fpgaq.converters") for t in targets):
                problems.append(f"{name}: imports {targets[0]}")
            if isinstance(node, ast.ImportFrom):
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private:
                    problems.append(f"{name}: imports private {private} from {node.module}")
    assert problems == []


def test_no_import_cycles_inside_rtl() -> None:
    sources = _rtl_sources()
    edges: dict[str, set[str]] = {name: set() for name in sources}
    for name, tree in sources.items():
        for node, _ in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:  # ``from package import module`` depends on the module, ``from module import name`` on the module
                targets = [
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in sources else node.module or ""
                    for a in node.names
                ]
            edges[name].update(t for t in targets if t in sources and t != name)
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert cycles == []
