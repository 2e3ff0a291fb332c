"""The tests' own layout (tests/README.md): every test file sits in unit/, api/ or e2e/, and
no test module imports another one (shared helpers live in tests/support/ or conftest.py)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
FOLDERS = ("unit", "api", "e2e")


def all_test_files() -> list[Path]:
    return sorted(TESTS.rglob("test_*.py"))


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, ``from a import b`` counted as both ``a`` and ``a.b``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def is_test_module(name: str) -> bool:
    return name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")


def test_every_test_file_sits_in_unit_api_or_e2e() -> None:
    misplaced = [
        str(p.relative_to(TESTS))
        for p in all_test_files()
        if p.relative_to(TESTS).parts[0] not in FOLDERS
    ]
    assert all_test_files() and misplaced == [], (
        f"move these into {'/, '.join(FOLDERS)}/: {misplaced}"
    )


def test_no_test_module_imports_another() -> None:
    offenders = {
        str(p.relative_to(TESTS)): sorted(filter(is_test_module, imported_modules(p)))
        for p in TESTS.rglob("*.py")
    }
    offenders = {path: names for path, names in offenders.items() if names}
    assert offenders == {}, "put shared helpers in tests/support/ or conftest.py"


def test_the_guards_see_an_import_of_a_test_module(tmp_path: Path) -> None:
    planted = tmp_path / "test_planted.py"
    planted.write_text(
        "from tests.api.test_anthropic import captured\nimport tests.e2e.test_smoke\n"
        "from tests.unit import test_sse\nfrom tests.support import sse\n"
    )
    found = sorted(filter(is_test_module, imported_modules(planted)))
    assert found == ["tests.api.test_anthropic", "tests.e2e.test_smoke", "tests.unit.test_sse"]
