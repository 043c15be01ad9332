"""The package's shape, held: one-way imports, SQL in one room, tests mirroring the package.

These are the layout's promises (docs/explanation/state-machine.md, "How the code is laid out");
each fails with the offender's name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "nxwa_onboarding"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)
TESTS = Path(__file__).resolve().parents[1]


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
    leaves = ["choices", "codes", "addresses", "texts", "phone", "conf", *NXCLOUD]
    for leaf in leaves:
        imported = runtime_imports(PACKAGE / f"{leaf}.py")
        assert not {m for m in imported if m.startswith("nxwa_onboarding.models")}, leaf


#: The NXCloud client's parts: they know nothing of the app's models, services or doors.
NXCLOUD = ["nxcloud/client", "nxcloud/transport", "nxcloud/signing", "nxcloud/redact", "nxcloud/exceptions"]


def test_the_nxcloud_client_imports_nothing_of_the_app_but_its_settings() -> None:
    for part in NXCLOUD:
        imported = runtime_imports(PACKAGE / f"{part}.py")
        outside = {m for m in imported if not m.startswith("nxwa_onboarding.nxcloud")}
        # ops.tracing: the span around each call (a no-op without OpenTelemetry), nothing else.
        assert outside <= {"nxwa_onboarding", "nxwa_onboarding.conf", "nxwa_onboarding.ops.tracing"}, part


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
    tests = TESTS
    offenders = []
    for path in tests.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and "test_" in node.module.split(".")[-1]:
                offenders.append(f"{path.relative_to(tests)}: {node.module}")
    assert offenders == []


def test_every_package_folder_has_its_test_folder() -> None:
    """``nxwa_onboarding/<folder>/`` is tested in ``tests/<folder>/`` (migrations, catalogues,
    templates and static files aside), so a module's tests are found by its path."""
    folders = {
        p.parent.relative_to(PACKAGE)
        for p in PACKAGE.rglob("__init__.py")
        if p.parent != PACKAGE and "migrations" not in p.parts
    }
    missing = sorted(str(f) for f in folders if not (TESTS / f).is_dir())
    assert missing == []


def test_no_test_is_named_after_an_issue() -> None:
    named = sorted(str(p.relative_to(TESTS)) for p in TESTS.rglob("test_*.py") if "issue" in p.name)
    assert named == []


def test_the_harness_knows_where_the_repository_is() -> None:
    """gunicorn started by the harness runs from the repository, with it on its path."""
    from harness import processes

    assert (processes.ROOT / "harness" / "processes.py").is_file()
    assert (processes.ROOT / "pyproject.toml").is_file()
