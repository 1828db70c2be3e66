"""`tenet init`: a starter policy repository that checks clean, with CI and pre-commit wired in.

It writes a policy with rules, examples, prompts and a training block; a prompts file; the
GitHub Actions workflow of docs/ci.md; and a pre-commit configuration running tenet's hooks
(`tenet-check`, `tenet-fmt`). It never overwrites a file: if any of them exists, it writes none.
"""

from __future__ import annotations

from pathlib import Path

from tenet.compiler import __version__
from tenet.runtime.errors import UsageError

# Where tenet's source, its pre-commit hooks and its releases live (the placeholder docs/ci.md uses).
REPOSITORY = "https://github.com/your-org/tenet"

POLICY = '''\
# A starter policy: two rules of your own, the standard safety module, the prompts your
# users send, and how to train on them. `tenet check policies/` checks it; `tenet explain
# policies/support.policy --prompt "..." --response "..."` shows how each rule votes.

dsl 1
policy support version "0.1.0"
  "How our support assistant answers."

import "std/safety.policy"

rule short-answers (medium):
  "Keep answers to 50 words or fewer."
  require response has at most 50 words
  because "Customers read answers on their phones; long answers go unread."
  example:
    prompt "How do I reset my password?"
    good   "Open Settings, choose Security, then Reset password. We email you a link that works for one hour."
    bad    "Thank you for your question about passwords, which is something many customers ask about and which we are always happy to explain in full detail. In general, and subject to a number of conditions that vary by account type, region and the device you use, there are several ways to reset a password, and before we start it is worth saying a few words about security, which matters a great deal to all of us."

rule no-contact-details (critical):
  "Never share email addresses or phone numbers in chat."
  forbid response contains email or response contains phone number
  because "Contact details in chat transcripts are a data-protection incident."
  example:
    prompt "How do I reach support?"
    good   "Use the chat under Help in the app and we will get back to you within a day."
    bad    "Write to jane.doe@example.com or call 555-123-4567."

prompts:
  file "prompts/support.jsonl"
  template "How do I {task}?"
    slot task = "reset my password", "close my account", "change my email", "update my card", "download my invoice", "cancel my order", "track my parcel", "change my plan"

training:
  method = dpo
  lora = true
  max_steps = 30
  pairs = 128
  strategies = "sample, examples, perturb"
  gate critical >= 0.8
  gate regression <= 0.02
'''

PROMPTS = '''\
{"prompt": "Where is my order? It was supposed to arrive yesterday."}
{"prompt": "Can I change the delivery address on an order that already shipped?"}
{"prompt": "Why was I charged twice this month?"}
{"prompt": "How do I get a refund for a damaged item?"}
{"prompt": "Is there a student discount?"}
{"prompt": "How do I turn off email notifications?"}
'''

# The workflow of docs/ci.md, word for word (tests/test_cli_conventions.py holds the two together).
WORKFLOW = f'''\
name: policies

on:
  pull_request:
    paths: ["policies/**"]
  push:
    branches: [main]
    paths: ["policies/**"]

jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: pip install "tenet @ git+{REPOSITORY}@v{__version__}"
      - name: Check every policy (exit 1 on errors, with file:line:col in the log)
        run: tenet check policies/
      - name: Canonical layout (exit 1 and a diff when a file is not formatted)
        run: tenet fmt --diff policies/

  train:
    needs: check
    if: github.event_name == 'push'
    runs-on: [self-hosted, gpu]
    concurrency: tenet-train  # one cycle per policy at a time (tenet also locks per policy)
    env:
      MLFLOW_TRACKING_URI: ${{{{ secrets.MLFLOW_TRACKING_URI }}}}  # a shared MLflow server
      HF_HUB_DISABLE_TELEMETRY: "1"
    steps:
      - uses: actions/checkout@v4
      - run: pip install "tenet[label,train] @ git+{REPOSITORY}@v{__version__}"
      - run: tenet --version
      - name: Update cycle (0 promoted or nothing to train, 3 a gate failed)
        run: |
          set +e
          tenet compile-and-train policies/support.policy --device cuda \\
            --work-dir /srv/tenet/work --format json > cycle.json
          code=$?
          set -e
          jq -r '"\\(.outcome) (exit \\(.exit_code)): model version \\(.model_version // "-")"' cycle.json || true
          jq -r '.gates[]? | select(.passed | not) | "gate failed: \\(.detail) (\\(.op) \\(.threshold))"' cycle.json || true
          exit $code
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: cycle-summary
          path: cycle.json
'''

PRE_COMMIT = f'''\
# tenet's hooks: check every changed policy, and keep it in canonical layout.
repos:
  - repo: {REPOSITORY}
    rev: v{__version__}
    hooks:
      - id: tenet-check
      - id: tenet-fmt
'''

FILES = {
    "policies/support.policy": POLICY,
    "policies/prompts/support.jsonl": PROMPTS,
    ".github/workflows/tenet.yml": WORKFLOW,
    ".pre-commit-config.yaml": PRE_COMMIT,
}


def scaffold(folder: str | Path) -> list[Path]:
    """Write the starter repository into `folder` and return the files written.

    Raises:
        UsageError: When any of the files exists already (then none is written).
    """
    root = Path(folder)
    targets = {root / name: text for name, text in FILES.items()}
    existing = [str(path) for path in targets if path.exists()]
    if existing:
        raise UsageError(f"tenet init writes nothing over existing files: {', '.join(existing)}")
    for path, text in targets.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return list(targets)
