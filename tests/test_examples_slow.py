"""The worked examples run end to end (on a tiny random model, so the story's logic is what is tested)."""

from __future__ import annotations

import io
import runpy
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
pytest_plugins = ["tiny_models"]

REPO = Path(__file__).resolve().parent.parent


def test_update_cycles_story_runs_three_cycles_and_prints_the_audit(tmp_path, monkeypatch):
    import torch

    from tiny_models import build_tiny_llama

    torch.set_num_threads(1)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    model = build_tiny_llama(tmp_path / "llama")
    argv = ["run.py", "--work-dir", str(tmp_path / "work"), "--base-model", str(model), "--max-steps", "2"]
    monkeypatch.setattr(sys, "argv", argv)
    out = io.StringIO()
    with redirect_stdout(out):
        runpy.run_path(str(REPO / "examples" / "update_cycles" / "run.py"), run_name="__main__")
    text = out.getvalue()
    assert text.count("$ tenet compile-and-train") == 3
    audit = text[text.index("$ tenet audit acme-story --work-dir"):text.index("--rule short-answers")]
    cycles = [line.split() for line in audit.splitlines() if line[:2] == "20"]  # rows start with the date
    assert [row[4] for row in cycles] == ["1", "2", "3"]  # the policy version of each cycle, oldest first
    assert "fresh" in cycles[0] and "-1" in audit  # v3's diff removes a rule
    assert "short-answers" in text[text.rindex("--rule short-answers"):]
