"""The import rules of docs/architecture.md, checked on the source so that they cannot erode unnoticed.

* No import cycles between fpgaq's modules, counting imports made inside
  functions too: a function-level import is how a cycle hides, not how it is
  solved.
* No module imports another module's private names (``from fpgaq.x import
  _name``). A private helper module of a package (``quantizers/_common.py``)
  is for the modules of that package only.
* ``fpgaq.rtl`` does not import ``fpgaq.converters``: the RTL netlist is below
  the back ends that write projects from it.

The check reads the files with ``ast`` (nothing is imported), so it is fast
and sees every import statement wherever it stands.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "fpgaq"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(module: str, current: str, level: int, is_package: bool) -> str:
    if level == 0:
        return module
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _imports(name: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import statement of ``name``."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((alias.name, [], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node.module or "", name, node.level, path.name == "__init__.py")
            out.append((target, [alias.name for alias in node.names], node.lineno))
    return [entry for entry in out if entry[0] == "fpgaq" or entry[0].startswith("fpgaq.")]


def _edges(name: str) -> set[str]:
    """The fpgaq modules ``name`` depends on; ``from pkg import sub`` depends on the submodule, not the package."""
    targets = set()
    for module, names, _ in _imports(name):
        subs = [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES]
        if subs and len(subs) == len(names):
            targets.update(subs)
        elif module in MODULES:
            targets.add(module)
    targets.discard(name)
    return targets


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    graph = {m: _edges(m) for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
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

    for m in MODULES:
        if m not in index:
            visit(m)
    return found


def test_no_import_cycles() -> None:
    cycles = _cycles()
    assert not cycles, "import cycles (function-level imports count):\n" + "\n".join(" <-> ".join(c) for c in cycles)


def _inside(name: str, package: str) -> bool:
    """Whether module ``name`` is ``package`` itself or one of its modules."""
    return name == package or name.startswith(package + ".")


def test_no_private_names_of_other_modules() -> None:
    offenders = []
    for name in MODULES:
        where = MODULES[name].relative_to(ROOT.parent)
        for module, names, line in _imports(name):
            for imported in names:
                # ``from pkg import _helpers`` names a private module: allowed inside pkg only
                if _is_private(imported) and not (f"{module}.{imported}" in MODULES and _inside(name, module)):
                    offenders.append(f"{where}:{line}: {imported} from {module}")
            parent, _, last = module.rpartition(".")
            if _is_private(last) and not _inside(name, parent):
                offenders.append(f"{where}:{line}: private module {module}")
    assert not offenders, "imports of another module's private names:\n" + "\n".join(offenders)


#: docs/architecture.md's layers, bottom to top: a module imports from its own layer or those below.
#: A name matches the module itself or a package and everything in it; the longest match decides.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "numbers",
        (
            "fpgaq.errors",
            "fpgaq.fixed",
            "fpgaq.hwtypes",
            "fpgaq.devices",
            "fpgaq.templating",
            "fpgaq.output_dirs",
            "fpgaq.figures",
            "fpgaq._keras_registration",
        ),
    ),
    ("keras side", ("fpgaq.quantizers", "fpgaq.layers", "fpgaq.larq_layers", "fpgaq.keras_walk")),
    (
        "model files",
        ("fpgaq.keras2_format", "fpgaq.qkeras_import", "fpgaq.larq_import", "fpgaq.qkeras_v3_import", "fpgaq.model_io"),
    ),
    ("IR", ("fpgaq.ir", "fpgaq.reference", "fpgaq.config")),
    ("back ends", ("fpgaq.rtl", "fpgaq.converters", "fpgaq.resource_model")),
    (
        "tools",
        (
            "fpgaq.sim",
            "fpgaq.design",
            "fpgaq.calibrate",
            "fpgaq.calibrate_pnr",
            "fpgaq.qstats",
            "fpgaq.qtools",
            "fpgaq.qreport",
            "fpgaq.quantize_model",
            "fpgaq.ptq",
            "fpgaq.sweep",
            "fpgaq.autoq",
            "fpgaq.learned",
            "fpgaq.train",
            "fpgaq.datasets",
            "fpgaq.zoo",
            "fpgaq.testing",
        ),
    ),
    ("front", ("fpgaq.project", "fpgaq.demo", "fpgaq.report", "fpgaq.cli", "fpgaq.__main__")),
)


def _layer(module: str) -> int | None:
    matches = [
        (len(prefix), rank)
        for rank, (_, prefixes) in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    return max(matches)[1] if matches else None


def test_every_module_has_a_layer() -> None:
    """The package's own ``__init__`` (lazy names for users) is the only module above the layers."""
    assert [m for m in MODULES if _layer(m) is None] == ["fpgaq"]


def test_no_module_imports_upward() -> None:
    offenders = [
        f"{name} ({LAYERS[_layer(name)][0]}) imports {target} ({LAYERS[_layer(target)][0]})"
        for name in MODULES
        if _layer(name) is not None
        for target in sorted(_edges(name))
        if _layer(target) is not None and _layer(target) > _layer(name)
    ]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("lower, upper", [("fpgaq.rtl", "fpgaq.converters"), ("fpgaq.fixed", "fpgaq.ir")])
def test_layering(lower: str, upper: str) -> None:
    offenders = [
        f"{name} imports {target}"
        for name in MODULES
        if name == lower or name.startswith(lower + ".")
        for target in _edges(name)
        if target == upper or target.startswith(upper + ".")
    ]
    assert not offenders, "\n".join(offenders)


def test_the_checker_sees_a_cycle(tmp_path: Path) -> None:
    """The graph walk itself: two modules importing each other inside functions form a component."""
    graph_before = dict(MODULES)
    try:
        a, b = tmp_path / "a.py", tmp_path / "b.py"
        a.write_text("def f():\n    from fpgaq.zz_b import g\n")
        b.write_text("def g():\n    import fpgaq.zz_a\n")
        MODULES["fpgaq.zz_a"], MODULES["fpgaq.zz_b"] = a, b
        assert ["fpgaq.zz_a", "fpgaq.zz_b"] in _cycles()
    finally:
        MODULES.clear()
        MODULES.update(graph_before)
