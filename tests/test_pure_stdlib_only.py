"""``pure`` is readable anywhere Python is: it imports nothing outside the standard library."""

import ast
import pathlib
import sys

PURE = pathlib.Path(__file__).resolve().parent.parent / "pure"


def imported_top_level_modules(path):
    """Every top-level module name a file imports (relative imports count as ``pure``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("pure" if node.level > 0 else node.module.split(".")[0])
    return names


def test_pure_has_python_files_to_check():
    files = sorted(p.name for p in PURE.glob("*.py"))
    assert {"__init__.py", "network.py", "linalg.py", "gradcheck.py", "train.py"} <= set(files)


def test_pure_imports_only_the_standard_library():
    outside = {}
    for path in sorted(PURE.glob("**/*.py")):
        for name in imported_top_level_modules(path):
            if name != "pure" and name not in sys.stdlib_module_names:
                outside.setdefault(path.name, []).append(name)
    assert outside == {}, f"non-stdlib imports in pure/: {outside}"


def test_the_import_check_would_catch_numpy(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nimport numpy as np\nfrom cffi import FFI\nfrom . import linalg\n")
    names = imported_top_level_modules(sample)
    assert names == {"os", "numpy", "cffi", "pure"}
    assert {n for n in names if n != "pure" and n not in sys.stdlib_module_names} == {"numpy", "cffi"}
