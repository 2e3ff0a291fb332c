"""The error hierarchy: every class lives in ``qwenfree/errors.py``, and the tree drawn in its
docstring is the real one (names, parents, statuses)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import qwenfree
from qwenfree import errors

ROW = re.compile(r"^(?P<indent>[│├└─ ]*)(?P<name>[A-Z][A-Za-z]+)(?:\s+(?P<status>\d{3}))?(\s|$)")


def drawn_tree() -> dict[str, tuple[str | None, int | None]]:
    """class name -> (parent name, status) as the docstring draws them."""
    doc = errors.__doc__ or ""
    block = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    parents: list[str] = []  # the ancestry of the row above, by depth
    drawn: dict[str, tuple[str | None, int | None]] = {}
    for line in block.splitlines():
        found = ROW.match(line.removeprefix("    "))
        assert found, f"unreadable tree row: {line!r}"
        depth = len(found["indent"]) // 4
        name = found["name"]
        assert name not in drawn, f"{name} is drawn twice"
        assert depth <= len(parents), f"{name} is indented under nothing"
        del parents[depth:]
        status = int(found["status"]) if found["status"] else None
        drawn[name] = (parents[-1] if parents else None, status)
        parents.append(name)
    return drawn


def real_tree() -> dict[str, tuple[str | None, int]]:
    out: dict[str, tuple[str | None, int]] = {}
    for name, cls in vars(errors).items():
        if inspect.isclass(cls) and issubclass(cls, errors.QwenfreeError):
            parent = cls.__bases__[0].__name__ if cls is not errors.QwenfreeError else None
            out[name] = (parent, cls.status)
    return out


def test_the_docstring_tree_is_the_class_hierarchy():
    drawn, real = drawn_tree(), real_tree()
    assert sorted(set(real) - set(drawn)) == [], "classes missing from the tree"
    assert sorted(set(drawn) - set(real)) == [], "the tree names classes that do not exist"
    misplaced = {n: (drawn[n][0], real[n][0]) for n in real if drawn[n][0] != real[n][0]}
    assert misplaced == {}, "drawn parent != real parent"
    wrong = {n: (drawn[n][1], real[n][1]) for n in real if drawn[n][1] not in (None, real[n][1])}
    assert wrong == {}, "drawn status != class status"


def test_every_error_class_lives_in_errors_py():
    for info in pkgutil.walk_packages(qwenfree.__path__, "qwenfree."):
        importlib.import_module(info.name)
    stray, todo = [], [errors.QwenfreeError]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__ != errors.__name__:
            stray.append(f"{cls.__module__}.{cls.__qualname__}")
    assert stray == []


def test_a_class_drawn_in_the_wrong_place_is_caught(monkeypatch):
    """The checker itself can fail: move one row and it reports the parent."""
    doc = errors.__doc__ or ""
    moved = doc.replace("    │   │   └── ChatNotFound", "    │   ├── ChatNotFound", 1)
    assert moved != doc
    monkeypatch.setattr(errors, "__doc__", moved)
    assert drawn_tree()["ChatNotFound"][0] == "UpstreamError"
