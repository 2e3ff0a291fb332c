"""The package's shape, checked from its source with ``ast`` (nothing is imported): no file over
MAX_LINES, and imports that only point down the layers below; for the tests (tests/README.md),
every test file in unit/, api/ or e2e/ and no test module importing another. ``make structure``
runs this file.

Each rule is a function returning its findings (empty: the rule holds); ``RULES`` lists them and
the test walks the list, so a new rule (e.g. "no test module imports another test module") is
one function and one entry there.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "qwenfree"
TESTS = ROOT / "tests"
TEST_FOLDERS = ("unit", "api", "e2e")
MAX_LINES = 400
SIZED = (".py", ".css", ".js", ".html")  # code, and the pages' own files

# Lowest first; a module may import its own layer and the layers below, never one above. A name
# is one module; ``pkg.*`` is a package and everything inside it. A module's layer is that of
# the most precise entry naming it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "core: the neutral model and leaf helpers",
        (
            "qwenfree.version",
            "qwenfree.settings",
            "qwenfree.errors",
            "qwenfree.conversation",
            "qwenfree.events",
            "qwenfree.sse",
            "qwenfree.accumulate",
            "qwenfree.heartbeats",
            "qwenfree.meter",
            "qwenfree.bounds",
            "qwenfree.catalog",
            "qwenfree.tokens",
            "qwenfree.chats",
            "qwenfree.fetch",
            "qwenfree.attachments",
            "qwenfree.store.*",
            "qwenfree.logs",
            "qwenfree.cors",
        ),
    ),
    ("upstream: transport, sites, credentials, backends", ("qwenfree.upstream.*",)),
    (
        "service: turns, prompts, tools, media",
        (
            "qwenfree.tools.*",
            "qwenfree.prompt",
            "qwenfree.long_prompt",
            "qwenfree.media",
            "qwenfree.planning",
            "qwenfree.shaping",
            "qwenfree.service",
        ),
    ),
    (
        "edge: dialects, web glue, operations, metrics, pages, admin, doctor",
        (
            "qwenfree.dialects.*",
            "qwenfree.web",
            "qwenfree.auth",
            "qwenfree.series",
            "qwenfree.metrics",
            "qwenfree.ops",
            "qwenfree.health",
            "qwenfree.images",
            "qwenfree.examples",
            "qwenfree.reference",
            "qwenfree.openapi",
            "qwenfree.home",
            "qwenfree.doctor",
            "qwenfree.admin",
        ),
    ),
    (
        "app: the package root (create_app), wiring, the worker hooks",
        ("qwenfree", "qwenfree.wiring", "qwenfree.worker"),
    ),
)


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules(package: Path = PACKAGE) -> dict[str, Path]:
    return {module_name(p, package): p for p in sorted(package.rglob("*.py"))}


def layer_of(module: str) -> int:
    """The index in LAYERS of the entry naming ``module`` (-1: none does)."""
    best, found = -1, -1
    for index, (_, names) in enumerate(LAYERS):
        for name in names:
            package = name.removesuffix(".*")
            inside = name.endswith(".*") and (module + ".").startswith(package + ".")
            precision = len(package) + (0 if inside else 1)  # exact beats its package
            if (module == name or inside) and precision > best:
                best, found = precision, index
    return found


def imported(module: str, path: Path, package_dir: Path = PACKAGE) -> set[str]:
    """The project modules ``module`` imports, anywhere in it (in functions too)."""
    known, out = modules(package_dir), set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            # ``from qwenfree import web`` imports the module qwenfree.web, not the root.
            out.update(
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            )
    return {name for name in out if name in known and name != module}


# -- rules: each returns what breaks it, one line per finding


def oversized_files() -> list[str]:
    """No file of the package over MAX_LINES: a module that big owns more than one thing."""
    out = []
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix in SIZED and path.is_file():
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                out.append(f"{path.relative_to(ROOT)}: {lines} lines (at most {MAX_LINES})")
    return out


def unlayered_modules(package: Path = PACKAGE) -> list[str]:
    """Every module has a layer: a new one is placed on purpose, not by accident."""
    return [f"{name}: in no layer of LAYERS" for name in modules(package) if layer_of(name) < 0]


def upward_imports(package: Path = PACKAGE) -> list[str]:
    """A lower layer never imports a higher one (the upstream never reaches for the service,
    the service never for the web, nothing but the app for the package root)."""
    out = []
    for name, path in modules(package).items():
        mine = layer_of(name)
        for target in sorted(imported(name, path, package)):
            theirs = layer_of(target)
            if theirs > mine >= 0:
                short = LAYERS[mine][0].split(":")[0], LAYERS[theirs][0].split(":")[0]
                out.append(f"{name} ({short[0]}) imports {target} ({short[1]})")
    return out


def misplaced_test_files(tests: Path = TESTS) -> list[str]:
    """Every test file sits in unit/ (per module), api/ (over HTTP) or e2e/ (real programs)."""
    return [
        f"{path.relative_to(tests)}: not in {', '.join(TEST_FOLDERS)}"
        for path in sorted(tests.rglob("test_*.py"))
        if path.relative_to(tests).parts[0] not in TEST_FOLDERS
    ]


def imports_of_test_modules(tests: Path = TESTS) -> list[str]:
    """No test module imports another: a helper two files need lives in tests/support/ or
    conftest.py."""
    out = []
    for path in sorted(tests.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        for name in sorted(names):
            if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_"):
                out.append(f"{path.relative_to(tests)} imports {name}")
    return out


RULES: list[Callable[[], list[str]]] = [
    oversized_files,
    unlayered_modules,
    upward_imports,
    misplaced_test_files,
    imports_of_test_modules,
]


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_structure_rule_holds(rule: Callable[[], list[str]]) -> None:
    findings = rule()
    assert not findings, f"{rule.__doc__}\n" + "\n".join(findings)


def test_the_checks_see_what_they_judge():
    # A check that finds no module, or reads no import, would pass whatever the code does.
    assert {"qwenfree", "qwenfree.web", "qwenfree.upstream.client"} <= set(modules())
    assert "qwenfree.upstream.calls" in imported("qwenfree.metrics", modules()["qwenfree.metrics"])
    assert layer_of("qwenfree.upstream.client") == 1 and layer_of("qwenfree.wiring") == 4
    assert layer_of("qwenfree.web") > layer_of("qwenfree.service") > layer_of("qwenfree.upstream")
    assert layer_of("qwenfree.store.redis_store") == 0 and layer_of("qwenfree.no_such") == -1


def test_upward_imports_and_unplaced_modules_are_found(tmp_path):
    # Core modules importing the web layer, written the three ways an import can be.
    fake = tmp_path / "qwenfree"
    (fake / "dialects").mkdir(parents=True)
    for name in ("__init__.py", "web.py", "dialects/__init__.py", "conversation.py"):
        (fake / name).write_text("")
    (fake / "errors.py").write_text("def f():\n    from qwenfree import web\n")
    (fake / "events.py").write_text("import qwenfree.web\n")
    (fake / "sse.py").write_text("from . import dialects\n")
    (fake / "web.py").write_text("from qwenfree import conversation\n")  # downward: fine
    found = upward_imports(fake)
    assert [line.split(" ")[0] for line in found] == [
        "qwenfree.errors",
        "qwenfree.events",
        "qwenfree.sse",
    ], found
    (fake / "newcomer.py").write_text("")
    modules.cache_clear()
    assert unlayered_modules(fake) == ["qwenfree.newcomer: in no layer of LAYERS"]


def test_misplaced_tests_and_imports_of_test_modules_are_found(tmp_path):
    tests = tmp_path / "tests"
    (tests / "unit").mkdir(parents=True)
    (tests / "test_stray.py").write_text("")
    (tests / "unit" / "test_a.py").write_text(
        "from tests.api.test_anthropic import captured\nimport tests.e2e.test_smoke\n"
        "from tests.unit import test_sse\nfrom tests.support import sse\n"
    )
    assert misplaced_test_files(tests) == ["test_stray.py: not in unit, api, e2e"]
    assert [line.split(" imports ")[1] for line in imports_of_test_modules(tests)] == [
        "tests.api.test_anthropic",
        "tests.e2e.test_smoke",
        "tests.unit.test_sse",
    ]
