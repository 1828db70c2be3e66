"""`make demo`'s steps that need no model (examples/demo.py) run with the exit codes it expects."""

from __future__ import annotations

import importlib.util

from helpers import REPO


def test_the_model_free_steps_of_the_demo_run(tmp_path, monkeypatch, capsys) -> None:
    spec = importlib.util.spec_from_file_location("demo", REPO / "examples" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    monkeypatch.chdir(REPO)
    demo.model_free_steps(str(tmp_path / "demo"))  # raises SystemExit on an unexpected exit code
    out = capsys.readouterr().out
    assert "verdict: BAD" in out and (tmp_path / "demo" / "labels.parquet").is_file()
