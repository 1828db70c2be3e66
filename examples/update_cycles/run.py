"""The update-cycle story: three versions of one policy, trained in turn, then audited.

v1 trains from the base model; v2 adds `no-bold` and tightens `short-answers`, so its cycle
continues from v1's champion and retrains only those two rules (plus replay); v3 removes
`greet-as-acme`. Every cycle is recorded in MLflow, and the audit at the end reads it back.

Run: .venv/bin/python examples/update_cycles/run.py [--work-dir work/update-cycles]
     [--base-model embedded:smollm2-135m-instruct] [--max-steps N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from tenet.runtime.cli import main  # noqa: E402


def tenet(*argv: str) -> None:
    """Run one `tenet` command, echoing it; stop on failure."""
    print(f"\n$ tenet {' '.join(argv)}", flush=True)
    code = main(list(argv))
    if code != 0:
        raise SystemExit(f"`tenet {' '.join(argv)}` exited with {code}")


def run(work_dir: str, base_model: str | None, max_steps: int | None) -> None:
    """Train v1, v2 and v3 in turn, then print the policy's audit and one rule's history."""
    extra = [*(["--base-model", base_model] if base_model else []),
             *(["--max-steps", str(max_steps)] if max_steps else [])]
    for version in (1, 2, 3):
        policy = str(HERE / f"v{version}.policy")
        tenet("compile-and-train", policy, "--work-dir", work_dir, *extra)
    tenet("audit", "acme-story", "--work-dir", work_dir)
    tenet("audit", "acme-story", "--work-dir", work_dir, "--rule", "short-answers")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", default="work/update-cycles")
    parser.add_argument("--base-model", default=None, help="default: the policy's (the embedded SmolLM2)")
    parser.add_argument("--max-steps", type=int, default=None)
    args = parser.parse_args()
    run(args.work_dir, args.base_model, args.max_steps)
