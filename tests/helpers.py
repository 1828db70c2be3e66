"""Helpers shared by the tests (imported as a plain module from tests/)."""

from __future__ import annotations

import functools
import io
import json
import subprocess
from pathlib import Path

from tenet.compiler import ir
from tenet.compiler.codes.page import RULE
from tenet.compiler.diagnostics import render_all
from tenet.compiler.pipeline import Compilation, compile_policy

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"

# A policy with one rule and one example that compiles without a diagnostic.
CLEAN = 'dsl 1\npolicy clean version "1"\n' + RULE

# A prompts block whose seeded split holds out prompts at the usual seeds and splits: a policy
# with a `training:` block needs held-out prompts (E173).
PROMPTS = """
prompts:
  template "How do I {task} my {product}?"
    slot task = "clean", "fix", "return", "sell", "store"
    slot product = "toaster", "blender", "kettle", "grinder"
"""


def rel(path: Path) -> str:
    """A path relative to the repository root, as the compiler should see it in goldens."""
    return path.resolve().relative_to(REPO).as_posix()


def stable(text: str) -> str:
    """Replace the checkout location so goldens do not depend on where the repo lives."""
    return text.replace(str(REPO), "<repo>")


def compile_rel(path: Path, root: Path | None = None) -> Compilation:
    """Compile with a repo-relative path (callers run with cwd = repo root)."""
    return compile_policy(rel(path), rel(root) if root is not None else None)


def rendered(result: Compilation) -> str:
    """The full rendered diagnostics of a compilation, location-independent."""
    return stable(render_all(list(result.diagnostics), result.sources))


def dumps(data: object) -> str:
    """Deterministic pretty JSON with a trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_policy(directory: Path, name: str, body: str) -> Path:
    """Write a policy file (creating parent folders) and return its path."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """Run `tenet` in-process; return (exit code, stdout, stderr)."""
    from tenet.runtime.cli import main
    from tenet.runtime.console import Console

    out, err = io.StringIO(), io.StringIO()
    code = main(argv, Console(out=out, err=err))
    return code, out.getvalue(), err.getvalue()


def run_tiny_cycle(tmp: Path, policy: Path, *args: str) -> tuple[int, str, str]:
    """Run `tenet compile-and-train` on a tiny random llama built in `tmp`: two steps, work folder
    `tmp/work`, then `args`; return (exit code, stdout, stderr)."""
    import torch

    from tiny_models import build_tiny_llama

    torch.set_num_threads(1)
    model = build_tiny_llama(tmp / "llama")
    return run_cli(["compile-and-train", str(policy), "--base-model", str(model), "--max-steps", "2",
                    "--work-dir", str(tmp / "work"), *args])


CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; `.ci/run` installs it when it can


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    """Run headless Chromium with nothing that reaches the network."""
    return subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                           "--no-first-run", "--disable-background-networking", "--disable-component-update",
                           "--disable-sync", f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180)


def evaluation(severity: str = "high", instructions: int = 16, **outcomes: list[int]):
    """A Compliance where each named rule (of one severity) kept (1) or broke (0) prompts p0, p1, …."""
    from tenet.runtime.evaluate import Compliance

    votes = {rule: {"good": sum(kept), "bad": len(kept) - sum(kept), "abstain": 0} for rule, kept in outcomes.items()}
    per_rule = {rule: (v["good"] / (v["good"] + v["bad"]) if v["good"] + v["bad"] else None)
                for rule, v in votes.items()}
    good, bad = sum(v["good"] for v in votes.values()), sum(v["bad"] for v in votes.values())
    overall = good / (good + bad) if good + bad else None
    return Compliance(per_rule, {severity: overall}, overall, votes, severities={r: severity for r in votes},
                      outcomes={r: {f"p{i}": k for i, k in enumerate(kept)} for r, kept in outcomes.items()},
                      instructions={f"i{i}": 1 for i in range(instructions)},
                      in_scope={r: len(kept) for r, kept in outcomes.items()})


@functools.cache
def fixture_rules(name: str) -> tuple[ir.RuleIR, ...]:
    """The compiled rules of a fixture policy (`synthesize/minimal.policy`), compiled once."""
    result = compile_policy(str(FIXTURES / name))
    assert result.ok
    return result.artifact.ir.rules
