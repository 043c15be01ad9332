"""The package's shape, held: small modules, small classes, one-way imports, SQL in one room.

These are the layout's promises (README "How it works"); each fails with the offender's name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nxwa_onboarding"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 250


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def runtime_imports(path: Path) -> set[str]:
    """The package's own modules this module imports when it runs (``TYPE_CHECKING`` aside)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    known = {module_name(p) for p in MODULES}
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    skip = {id(n) for block in ast.walk(tree) if is_type_checking_block(block) for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in known else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {t for t in found if t in known and t != name}


def lazy_imports(path: Path) -> list[str]:
    """Imports of the package's own modules inside functions (hidden edges of the graph)."""
    lazy = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.level:
                    lazy.append(f"{module_name(path)}:{inner.lineno}")
    return lazy


def test_no_module_is_over_about_400_lines() -> None:
    long = {module_name(p): n for p in MODULES if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_no_class_is_over_about_250_lines() -> None:
    long = {}
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                size = node.end_lineno - node.lineno + 1
                if size > MAX_CLASS_LINES:
                    long[f"{module_name(path)}.{node.name}"] = size
    assert long == {}


def test_the_package_has_no_import_cycle() -> None:
    graph = {module_name(p): runtime_imports(p) for p in MODULES}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        for target in sorted(graph.get(node, ())):
            if target in trail:
                cycles.append([*trail[trail.index(target) :], target])
            elif len(trail) < len(graph):
                visit(target, [*trail, target])

    for start in graph:
        visit(start, [start])
    assert cycles == []


def test_leaf_modules_import_no_models() -> None:
    for leaf in ("choices", "codes", "addresses", "texts", "phone", "signing", "exceptions", "conf"):
        assert "nxwa_onboarding.models" not in runtime_imports(PACKAGE / f"{leaf}.py"), leaf


def test_the_sandbox_never_imports_our_models() -> None:
    for path in (PACKAGE / "sandbox").rglob("*.py"):
        assert "nxwa_onboarding.models" not in runtime_imports(path), path.name


def test_no_lazy_import_of_our_own_modules_but_the_ones_that_need_it() -> None:
    """``sandbox/engine.py`` is imported by the pytest plugin before Django is configured and
    takes nothing of Django at module level; ``ops/metrics.py`` is imported by a host's own
    metrics module, which may run before Django is set up; ``apps.py`` connects a receiver in
    ``ready()``, before which no model may load; nothing else defers an import of ours."""
    lazy = [where for p in MODULES for where in lazy_imports(p)]
    assert sorted({where.split(":")[0] for where in lazy}) == [
        "nxwa_onboarding.apps",
        "nxwa_onboarding.ops.metrics",
        "nxwa_onboarding.sandbox.engine",
    ]


@pytest.mark.parametrize("marker", ["noqa: S608", "cursor()", "RawSQL("])
def test_hand_written_sql_lives_in_one_module(marker: str) -> None:
    holders = [module_name(p) for p in MODULES if marker in p.read_text()]
    assert holders == ["nxwa_onboarding.services.sql"]


def test_no_test_module_imports_another() -> None:
    """Shared helpers live in tests/helpers, shared fixtures in conftest files."""
    tests = Path(__file__).resolve().parent
    offenders = []
    for path in tests.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and "test_" in node.module.split(".")[-1]:
                offenders.append(f"{path.relative_to(tests)}: {node.module}")
    assert offenders == []
