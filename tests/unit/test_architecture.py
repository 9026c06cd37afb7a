"""The shape of core/: the import contract (pyproject [tool.importlinter]) and function length.

The contract is run with import-linter's ``lint-imports`` (as ``make lint`` does), so
``make test`` fails on an upward import or a cycle between core's layers.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
#: Longest function allowed in core/ (issue 15's bar).
MAX_FUNCTION_LINES = 80
#: Functions still over the bar, with their length today: the list may only shrink (a function
#: that gets shorter than the bar must be removed from it, a new long function fails the test).
LONG_FUNCTIONS: dict[str, int] = {
    "core/training/trainer.py:fit": 146,
    "core/data/simulate.py:synthetic_grn": 127,
    "core/analysis/de.py:differential_expression": 81,
}


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    if not LINT_IMPORTS.is_file():
        pytest.skip("import-linter is not installed (pip install -r requirements-dev.txt)")
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_import_contract_is_kept():
    proc = _lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 kept, 0 broken" in proc.stdout


@pytest.mark.parametrize("module, line", [
    ("core/data/io.py", "from core.training import trainer  # noqa\n"),     # upward
    ("core/models/vae.py", "import streamlit  # noqa\n"),                    # forbidden
])
def test_import_contract_catches_an_upward_import(tmp_path, module, line):
    shutil.copytree(ROOT / "core", tmp_path / "core",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / module
    path.write_text(path.read_text() + line)
    proc = _lint_imports(tmp_path)
    assert proc.returncode != 0
    assert "1 broken" in proc.stdout


def function_lengths(root: Path = ROOT / "core") -> dict[str, int]:
    """``path:qualname`` → number of lines of every function and method under ``root``."""
    out: dict[str, int] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text())
        stack: list[tuple[ast.AST, str]] = [(tree, "")]
        while stack:
            node, prefix = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    name = f"{prefix}{child.name}"
                    if not isinstance(child, ast.ClassDef):
                        rel = path.relative_to(ROOT).as_posix()
                        out[f"{rel}:{name}"] = child.end_lineno - child.lineno + 1
                    stack.append((child, name + "."))
    return out


def test_function_length_walk_counts_lines():
    lengths = function_lengths()
    assert lengths["core/cli/__init__.py:main"] == 12
    assert all(n > 0 for n in lengths.values())


def test_no_new_long_functions_in_core():
    long = {k: n for k, n in function_lengths().items() if n >= MAX_FUNCTION_LINES}
    assert set(long) == set(LONG_FUNCTIONS), (
        f"functions of ≥ {MAX_FUNCTION_LINES} lines: {long}; split new ones, and remove "
        "shortened ones from LONG_FUNCTIONS")
    grown = {k: n for k, n in long.items() if n > LONG_FUNCTIONS[k]}
    assert not grown, f"these long functions grew: {grown}"
