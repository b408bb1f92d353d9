"""The package table of docs/architecture.md, enforced: every import inside ``opencass`` (at
module level or inside a function) must point down the table.

The table below is the one the document shows; a test reads the document and fails when the two
differ, so neither can change alone.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "opencass"

#: layer → the layers it may import (besides itself).  Ground modules are single files.
GROUND = (
    "model",
    "events",
    "clock",
    "findings",
    "errors",
    "files",
    "processes",
    "thirdparty_warnings",
)
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "ground": (),
    "config": ("ground",),
    "codecs": ("ground",),
    "settlement": ("ground", "config", "codecs"),
    "store": ("ground", "config"),
    "documents": ("ground", "config", "codecs", "settlement", "store"),
    "outbox": ("ground", "config", "store", "documents"),
    "billing": ("ground", "config", "codecs", "settlement", "store", "documents"),
    "identity": ("ground", "config", "codecs", "store", "documents", "billing"),
    "portal": (
        "ground",
        "config",
        "codecs",
        "settlement",
        "store",
        "documents",
        "billing",
        "identity",
    ),
    "gateway": (
        "ground",
        "config",
        "codecs",
        "settlement",
        "store",
        "documents",
        "outbox",
        "billing",
        "identity",
        "portal",
    ),
    "cli": (
        "ground",
        "config",
        "codecs",
        "settlement",
        "store",
        "documents",
        "outbox",
        "billing",
        "identity",
        "portal",
        "gateway",
    ),
}


def layer_of(module: str) -> str:
    """The layer of a module ``opencass.x.y`` (``opencass`` itself is ground)."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in GROUND or parts[1] == "__main__":
        return "ground"
    if parts[1] not in MAY_IMPORT:
        raise AssertionError(f"{module}: not in the package table of docs/architecture.md")
    return parts[1]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _submodule(name: str) -> str:
    is_module = (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").exists()
    return f"opencass.{name}" if is_module else "opencass"


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every ``opencass…`` module ``path`` imports, with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("opencass")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "opencass":  # from opencass import x: x may be a module
                found += [(node.lineno, _submodule(a.name)) for a in node.names]
            elif node.module.startswith("opencass."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}:{node.lineno}: relative import")
    return found


def violations(package: Path = PACKAGE) -> list[str]:
    """Imports that point up or sideways in the table."""
    out = []
    for path in sorted(package.rglob("*.py")):
        here = layer_of(_module_name(path))
        for line, target in imports_of(path):
            there = layer_of(target)
            if there != here and there not in MAY_IMPORT[here]:
                rel = path.relative_to(ROOT)
                out.append(f"{rel}:{line}: {here} imports {target} ({there})")
    return out


def test_imports_point_down_the_table() -> None:
    assert violations() == []


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    package = tmp_path / "opencass"
    (package / "codecs").mkdir(parents=True)
    (package / "codecs" / "bad.py").write_text("def f():\n    from opencass.gateway import app\n")
    (package / "store").mkdir()
    (package / "store" / "ok.py").write_text("from opencass.config.model import Config\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert violations(package) == [
            "opencass/codecs/bad.py:2: codecs imports opencass.gateway (gateway)"
        ]
    finally:
        ROOT = saved


def _documented_table() -> dict[str, set[str]]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table: dict[str, set[str]] = {}
    for m in re.finditer(r"^\| `opencass/(\w+)/?` \|[^|]*\| ([^|]*) \|$", text, re.M):
        table[m.group(1)] = {w.strip(" `") for w in m.group(2).split(",") if w.strip(" `-")}
    return table


def test_the_document_shows_this_table() -> None:
    documented = _documented_table()
    for layer, allowed in MAY_IMPORT.items():
        if layer == "ground":
            continue
        assert documented.get(layer) == set(allowed), layer


@pytest.mark.parametrize("name", GROUND)
def test_ground_modules_exist_or_are_listed_on_purpose(name: str) -> None:
    assert (PACKAGE / f"{name}.py").exists(), name


_SQL = re.compile(
    r"\.execute(many|script)?\(|sqlite3\.connect\(|aiosqlite\.connect\("
    r"|[\"'](SELECT|INSERT|UPDATE|DELETE FROM|CREATE TABLE|BEGIN|COMMIT|ROLLBACK|SAVEPOINT)\b"
)


def sql_outside_store(package: Path = PACKAGE) -> list[str]:
    """Lines outside ``store/`` that run SQL or open a database."""
    out = []
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package).parts[0] == "store":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _SQL.search(line):
                out.append(f"{path.relative_to(package.parent)}:{n}: {line.strip()}")
    return out


def test_sql_lives_in_the_store_only() -> None:
    assert sql_outside_store() == []


def test_the_sql_rule_catches_a_query(tmp_path: Path) -> None:
    package = tmp_path / "opencass"
    (package / "billing").mkdir(parents=True)
    (package / "store").mkdir()
    (package / "billing" / "bad.py").write_text('rows = conn.execute("SELECT 1")\n')
    (package / "store" / "ok.py").write_text('rows = conn.execute("SELECT 1")\n')
    assert sql_outside_store(package) == [
        'opencass/billing/bad.py:1: rows = conn.execute("SELECT 1")'
    ]


def test_no_test_module_imports_another() -> None:
    """Shared helpers live in ``tests.kit``, shared fixtures in conftest.py."""
    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[-1].startswith("test_"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert found == []


def test_test_folders_mirror_the_packages() -> None:
    folders = {p.name for p in (ROOT / "tests").iterdir() if p.is_dir()}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert folders - {"data", "kit"} <= packages


#: the longest a function may be, in lines (its signature and docstring included)
MAX_FUNCTION_LINES = 60


def long_functions(package: Path = PACKAGE) -> list[str]:
    """Functions longer than ``MAX_FUNCTION_LINES``."""
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{path.relative_to(package.parent)}:{node.lineno}: {node.name}")
    return found


def test_no_function_is_longer_than_sixty_lines() -> None:
    assert long_functions() == []


def test_the_length_rule_catches_a_long_function(tmp_path: Path) -> None:
    package = tmp_path / "opencass"
    package.mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (package / "long.py").write_text(f"def f():\n{body}")
    assert long_functions(package) == ["opencass/long.py:1: f"]


#: repeated blocks (``scripts/duplicates.py``: six logical lines of the same shape, at least two
#: of them doing something) — 20 when this rule came in, at most half of that since
MAX_REPEATED_BLOCKS = 10


def _duplicates_script() -> Any:
    spec = importlib.util.spec_from_file_location("duplicates", ROOT / "scripts" / "duplicates.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_repeated_blocks_stay_few() -> None:
    found = _duplicates_script().repeats(PACKAGE)
    assert len(found) <= MAX_REPEATED_BLOCKS, found


def test_the_repeat_finder_finds_a_copy_with_other_names(tmp_path: Path) -> None:
    body = """
def {f}({a}, {b}):
    if {a} > {b}:
        print({a})
    total = sum({a}, {b})
    for item in range({b}):
        print(item, total)
    return max({a}, total)
"""
    (tmp_path / "one.py").write_text(body.format(f="f", a="x", b="y"))
    (tmp_path / "two.py").write_text(body.format(f="g", a="p", b="q"))
    (tmp_path / "three.py").write_text("def h():\n    return 1\n")
    found = _duplicates_script().repeats(tmp_path)
    assert [(Path(a).name, Path(b).name) for a, _, b, _, _ in found] == [("one.py", "two.py")]


def test_every_error_has_the_one_root_and_a_code() -> None:
    """Every exception class opencass defines is an ``OpencassError`` of one of the four
    branches (who is at fault), with a stable upper-case code."""
    import importlib
    import inspect
    import pkgutil

    import opencass
    from opencass.errors import Fault, OpencassError

    found = []
    for info in pkgutil.walk_packages(opencass.__path__, "opencass."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            error = issubclass(cls, BaseException) and not issubclass(cls, Warning)
            if cls.__module__ == info.name and error:
                found.append(cls)
    assert len(found) > 30
    for cls in found:
        assert issubclass(cls, OpencassError), cls
        assert cls.fault in Fault and re.fullmatch(r"[A-Z][A-Z_]+", str(cls.code)), cls
