"""The code keeps its shape: no function in compiler/ or runtime/ is longer than 60 lines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 60


def long_functions(folder: Path, root: Path = ROOT, limit: int = MAX_LINES) -> list[str]:
    """`path:line name (n lines)` for every function or method in `folder` longer than `limit`."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_is_longer_than_sixty_lines():
    assert long_functions(ROOT / "compiler") + long_functions(ROOT / "runtime") == []


def test_the_check_finds_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (tmp_path / "long.py").write_text(f"def long():\n{body}\n", encoding="utf-8")
    assert long_functions(tmp_path, root=tmp_path) == ["long.py:1 long (61 lines)"]
