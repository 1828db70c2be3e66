"""The compiler is pure: importing it pulls in no ML, tracking or runtime modules."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys

from helpers import REPO

FORBIDDEN = ("torch", "trl", "transformers", "mlflow", "datasets", "runtime", "peft", "accelerate")
MODULES = ["tenet.compiler.pipeline", "tenet.compiler.artifact", "tenet.compiler.diff", "tenet.compiler.plan", "tenet.compiler.semantics",
           "tenet.compiler.lower", "tenet.compiler.parse"]


def compiler_modules() -> list[str]:
    found = list(MODULES)
    if importlib.util.find_spec("tenet.compiler.fmt") is not None:
        found.append("tenet.compiler.fmt")
    return found


def test_importing_and_running_the_compiler_loads_no_heavy_modules() -> None:
    script = "\n".join([
        "import sys",
        *[f"import {name}" for name in compiler_modules()],
        "from tenet.compiler.pipeline import compile_policy",
        "from tenet.compiler.artifact import to_json",
        "result = compile_policy('tests/fixtures/passes/support.policy')",
        "assert result.ok",
        "to_json(result.artifact)",
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})",
        "assert not bad, bad",
        "print('clean')",
    ])
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "clean\n"


def imported_roots(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in (
                "import_module", "__import__"):
            for arg in node.args[:1]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    roots.add(arg.value.split(".")[0])
    return roots


def test_compiler_sources_import_nothing_forbidden() -> None:
    files = sorted((REPO / "compiler").rglob("*.py"))
    assert len(files) > 10
    offenders = {str(p.relative_to(REPO)): sorted(imported_roots(p) & set(FORBIDDEN)) for p in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_static_scan_would_catch_an_offender(tmp_path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import os\nfrom torch import nn\nimport importlib\nimportlib.import_module('mlflow.x')\n")
    assert imported_roots(sample) & set(FORBIDDEN) == {"torch", "mlflow"}
