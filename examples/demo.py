"""The `make demo` walkthrough: check, plan, label, synthesize pairs, then train and audit.

Run: .venv/bin/python examples/demo.py
Each step calls the same Python API as the `tenet` command shown beside it.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tenet.runtime.cli import main  # noqa: E402

POLICY = "policies/acme-support.policy"
LOG = "examples/data/support_log.jsonl"
TRAIN_POLICY = "examples/demo/acme-chat.policy"  # four rules, sized for a 2-core CPU


def step(title: str, argv: list[str], expected: tuple[int, ...] = (0,)) -> None:
    """Print a heading and the command, then run it; stop the walkthrough on an unexpected exit code."""
    print(f"\n=== {title}\n$ tenet {' '.join(argv)}", flush=True)
    code = main(argv)
    if code not in expected:
        raise SystemExit(f"`tenet {' '.join(argv)}` exited with {code}")


def model_free_steps(work: str = "work/demo") -> None:
    """Check, plan, label, pairs and explain: the steps that need no model (seconds)."""
    for policy in sorted((REPO / "policies").glob("*.policy")):
        step(f"check {policy.name}", ["check", str(policy.relative_to(REPO))])
    step("the training plan", ["plan", POLICY])
    step("label a support log", ["label", POLICY, LOG, "--out", f"{work}/labels.parquet"])
    step("synthesize verified training pairs (no model: examples + rule-directed edits)",
         ["pairs", POLICY, "--out", f"{work}/pairs", "--strategies", "examples,perturb"])
    # `explain` exits 1 on a BAD verdict, which is what this step shows.
    step("why did a response fail?", ["explain", POLICY, "--prompt", "List the steps to return a blender.",
                                       "--response", "Just ship it back, or try Globex, they are cheaper."],
         expected=(1,))


def run(work: str = "work/demo") -> None:
    """The whole walkthrough: the model-free steps, one update cycle, and its audit."""
    model_free_steps(work)
    # A second `make demo` finds this policy's champion unchanged and says so instead of
    # training again; the audit below shows the recorded cycles either way.
    # The cycle samples the embedded SmolLM2-135M-Instruct for on-policy pairs, evaluates it
    # on held-out prompts with answers run to their end, trains, evaluates again, and prints
    # three held-out answers before and after: read them before trusting the table.
    # Exit 3 (a gate failed: registered, not promoted) is an outcome the walkthrough shows, not an error.
    step("one update cycle with the embedded model on CPU: pairs, evaluate, SFT + DPO, evaluate, gate, register",
         ["compile-and-train", TRAIN_POLICY, "--work-dir", work, "--show", "3"], expected=(0, 3))
    step("the policy's audited cycles, read back from MLflow", ["audit", "acme-chat", "--work-dir", work])


if __name__ == "__main__":
    import os

    os.chdir(REPO)
    run()
