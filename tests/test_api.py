"""The Python API (runtime/api.py, docs/api.md): load, check, plan, explain, label, pairs, train, audit.

The CLI is a layer over these calls, so each test here pins behaviour the commands rely on;
tests/test_cli_conventions.py checks the commands themselves.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tenet
from helpers import CLEAN, FIXTURES, PROMPTS, REPO, run_cli, write_policy
from tenet.compiler import ir
from tenet.compiler.diagnostics import CompileError
from tenet.compiler.plan import EvaluateStage, GateStage, LabelStage, RegisterStage, SynthesizeStage, TrainStage
from tenet.runtime import api

TRAINABLE = CLEAN + PROMPTS
ROWS = [{"prompt": "Draft a reply.", "response": "Thanks for writing."},
        {"prompt": "Draft a reply.", "response": "TODO: answer"}]


@pytest.fixture
def trainable(tmp_path: Path) -> Path:
    return write_policy(tmp_path, "clean.policy", TRAINABLE)


# --- import and load ------------------------------------------------------------------------


def test_importing_tenet_and_planning_loads_no_heavy_module() -> None:
    script = "\n".join([
        "import sys, tenet",
        "policy = tenet.load('tests/fixtures/passes/support.policy')",
        "assert policy.check().ok and len(policy.plan().stages) == 7",
        "heavy = ('pyarrow', 'torch', 'numpy', 'pandas', 'datasets', 'mlflow', 'transformers', 'trl')",
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))",
    ])
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"


def test_the_package_exposes_the_api_lazily() -> None:
    assert tenet.load is api.load and tenet.check is api.check and tenet.CompiledPolicy is api.CompiledPolicy
    assert {"load", "check", "train", "audit", "CompiledPolicy"} <= set(dir(tenet))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        tenet.nope  # noqa: B018


def test_load_returns_a_frozen_compiled_policy(trainable: Path) -> None:
    policy = tenet.load(trainable)
    assert (policy.id, policy.version, [r.id for r in policy.rules]) == ("clean", "1", ["no-todo"])
    assert policy.folder == trainable.parent and policy.artifact.policy_id == "clean"
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.path = "other.policy"  # type: ignore[misc]
    assert repr(policy) == f"<CompiledPolicy clean 1 from {trainable}: 1 rules, 0 diagnostics>"


def test_load_raises_a_compile_error_whose_message_is_the_rendered_diagnostics(in_repo: Path) -> None:
    path = "tests/fixtures/errors/E104-unknown-name.policy"
    with pytest.raises(CompileError) as raised:
        tenet.load(path)
    assert [d.code for d in raised.value.diagnostics] == ["E104"]
    assert str(raised.value).startswith(f"{path}:") and "error[E104]" in str(raised.value)
    assert "^" in str(raised.value)  # the caret under the span


def test_check_returns_errors_as_data_and_never_raises_for_them(in_repo: Path) -> None:
    found = tenet.check("tests/fixtures/errors/E104-unknown-name.policy")
    assert not found.ok and found.policy is None
    assert [d.code for d in found.errors] == ["E104"] and found.warnings == ()
    assert found.to_dict()["ok"] is False and found.to_dict()["diagnostics"][0]["code"] == "E104"
    assert "error[E104]" in found.render()


def test_check_of_a_loaded_policy_holds_its_warnings(in_repo: Path) -> None:
    policy = tenet.load("tests/fixtures/errors/W150-no-examples.policy")
    found = policy.check()
    assert found.ok and found.policy is policy
    assert [d.code for d in found.warnings] == ["W150"] and found.errors == ()


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(api.UsageError, match="policy file not found"):
        tenet.load(tmp_path / "missing.policy")


def test_load_reads_a_compiled_artifact(trainable: Path, tmp_path: Path) -> None:
    out = tmp_path / "clean.json"
    assert run_cli(["compile", str(trainable), "-o", str(out)])[0] == 0
    policy = tenet.load(out)
    assert policy.from_artifact and policy.artifact == tenet.load(trainable).artifact
    with pytest.raises(api.UsageError, match="compiled already"):
        tenet.load(out, base_model="other")


# --- plan -------------------------------------------------------------------------------------


def test_plan_is_the_typed_stages_in_order(trainable: Path) -> None:
    stages = tenet.load(trainable).plan().stages
    assert [type(s) for s in stages] == [LabelStage, SynthesizeStage, EvaluateStage, TrainStage, EvaluateStage,
                                         GateStage, RegisterStage]
    assert stages[3].base_model == "embedded:smollm2-135m-instruct"


def test_base_model_and_method_are_compiled_into_the_plan(trainable: Path) -> None:
    train = tenet.load(trainable, base_model="org/model", method="kto").plan().stages[3]
    assert (train.base_model, train.method) == ("org/model", "kto")


def test_plan_refuses_a_policy_with_no_held_out_prompts_as_tenet_plan_does(in_repo: Path) -> None:
    path = "tests/fixtures/passes/defaults.policy"
    policy = tenet.load(path)  # a labeling-only policy loads
    with pytest.raises(CompileError) as raised:
        policy.plan()
    assert [d.code for d in raised.value.diagnostics] == ["E173"]
    with pytest.raises(CompileError):
        tenet.load(path, for_training=True)


# --- explain ----------------------------------------------------------------------------------


def test_explain_gives_votes_verdict_and_reason(trainable: Path) -> None:
    policy = tenet.load(trainable)
    bad = policy.explain("Draft a reply.", "TODO: answer")
    assert (bad.verdict, bad.broken, bad.reason) == ("BAD", ("no-todo",), "breaks no-todo (high)")
    (vote,) = bad.votes
    assert (vote.rule, vote.severity, vote.kind, vote.vote, vote.reason) == (
        "no-todo", "high", "forbid", "BAD", "condition holds")
    assert vote.source == f"{trainable}:5" and (vote.subject, vote.span) == ("response", (0, 4))
    good = policy.explain("Draft a reply.", "Thanks for writing.")
    assert (good.verdict, good.broken, good.reason) == ("GOOD", (), "no rule is broken")
    assert json.loads(json.dumps(bad.to_dict()))["votes"][0]["span"] == [0, 4]
    assert bad.render().splitlines()[0] == "verdict: BAD (score 0.00) — breaks no-todo (high)"


def test_explain_names_std_rules_by_library_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the std library is far from here: `../../…/policies/std/…` otherwise
    policy = write_policy(tmp_path, "p.policy", 'dsl 1\npolicy p version "1"\nimport "std/safety.policy"\n')
    sources = {vote.source.split(":")[0] for vote in tenet.load(policy.name).explain("hi", "hello").votes}
    assert sources == {"std/safety.policy"}


# --- label ------------------------------------------------------------------------------------


def test_label_hands_back_the_kind_it_was_given(trainable: Path, tmp_path: Path) -> None:
    import datasets
    import pandas as pd
    import pyarrow as pa

    policy = tenet.load(trainable)
    table = policy.label(pa.Table.from_pylist(ROWS))
    assert isinstance(table, pa.Table) and table.column("verdict").to_pylist() == [ir.GOOD, ir.BAD]
    assert b"tenet.provenance" in table.schema.metadata
    frame = policy.label(pd.DataFrame(ROWS))
    assert isinstance(frame, pd.DataFrame) and frame["verdict"].tolist() == [ir.GOOD, ir.BAD]
    dataset = policy.label(datasets.Dataset.from_list(ROWS).select([1]))  # an index mapping is honoured
    assert isinstance(dataset, datasets.Dataset) and dataset["verdict"] == [ir.BAD]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    assert policy.label(data).column("verdict").to_pylist() == [ir.GOOD, ir.BAD]
    assert policy.label(ROWS, spans=False).num_rows == 2


def test_label_maps_columns_and_keeps_empty_input_typed(trainable: Path) -> None:
    policy = tenet.load(trainable)
    renamed = [{"q": row["prompt"], "a": row["response"]} for row in ROWS]
    for columns in ({"prompt": "q", "response": "a"}, "prompt=q,response=a"):
        assert policy.label(renamed, columns=columns).column("verdict").to_pylist() == [ir.GOOD, ir.BAD]
    empty = policy.label([])
    assert empty.num_rows == 0 and "verdict" in empty.column_names


def test_write_labels_writes_what_tenet_label_writes(trainable: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    report = tenet.load(trainable).write_labels(ROWS, tmp_path / "labels.parquet")
    assert report.to_dict()["verdicts"] == {"good": 1, "bad": 1, "abstain": 0}
    assert pq.read_table(tmp_path / "labels.parquet").num_rows == 2
    assert (tmp_path / "labels.report.json").is_file()


# --- pairs ------------------------------------------------------------------------------------


def test_pairs_are_a_dataset_in_trl_preference_form(in_repo: Path) -> None:
    import datasets

    pairs = tenet.load(FIXTURES / "synthesize" / "minimal.policy").pairs(strategies=["examples"])
    assert isinstance(pairs, datasets.Dataset) and pairs.num_rows > 0
    assert {"prompt", "chosen", "rejected", "pair_id", "strategy", "policy_hash"} <= set(pairs.column_names)
    row = pairs[0]
    assert row["prompt"][-1]["role"] == "user" and row["chosen"][0]["role"] == "assistant"
    assert row["strategy"] == "examples"


# --- train and audit -------------------------------------------------------------------------


def test_train_runs_the_cycle_with_its_options_and_tracking_uri(trainable: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import tenet.runtime.cycle as cycle

    seen = {}

    def run_cycle(artifact, options, progress, notify):
        seen.update(artifact=artifact, options=options, uri=os.environ.get("MLFLOW_TRACKING_URI"))
        return "result"

    monkeypatch.setattr(cycle, "run_cycle", run_cycle)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///before.db")
    result = tenet.train(trainable, work_dir=tmp_path / "work", max_steps=2, base_model="org/model",
                         tracking_uri="sqlite:///chosen.db")
    assert result == "result" and seen["uri"] == "sqlite:///chosen.db"
    assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:///before.db"  # restored after the cycle
    assert (seen["options"].max_steps, seen["options"].work_dir) == (2, str(tmp_path / "work"))
    assert seen["artifact"].plan.stages[3].base_model == "org/model"  # compiled in, as the CLI does


def test_train_refuses_a_policy_with_no_held_out_prompts(in_repo: Path, monkeypatch) -> None:
    import tenet.runtime.cycle as cycle

    monkeypatch.setattr(cycle, "run_cycle", lambda *a, **k: pytest.fail("the cycle must not start"))
    with pytest.raises(CompileError, match="E173"):
        tenet.train(tenet.load("tests/fixtures/passes/defaults.policy"))


def test_audit_names_the_policy_and_reads_lazily(trainable: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from tenet.runtime.audit import AuditError

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for given in ("clean", trainable, tenet.load(trainable)):
        assert tenet.audit(given, work_dir=tmp_path / "work").policy_id == "clean"
    audit = tenet.audit("clean", tracking_uri=f"sqlite:///{tmp_path}/none.db?token=s3cret")
    assert audit.tracking_uri == f"sqlite:///{tmp_path}/none.db?token=<redacted>"
    with pytest.raises(AuditError, match="no tracking store") as raised:
        audit.cycles()
    assert "s3cret" not in str(raised.value)
    assert not (tmp_path / "work").exists()


# --- missing extras ---------------------------------------------------------------------------


def test_a_missing_extra_is_one_clear_error(trainable: Path) -> None:
    script = "\n".join([
        "import sys",
        "sys.modules['pyarrow'] = None  # as if `tenet[label]` were not installed",
        "import tenet",
        "from tenet.runtime.api import MissingExtra",
        f"policy = tenet.load({str(trainable)!r})",
        "try:",
        "    policy.label([])",
        "except MissingExtra as exc:",
        "    print(exc)",
    ])
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == 'labeling needs the [label] extra: pip install "tenet[label]"\n'


# --- the example --------------------------------------------------------------------------------


def test_the_notebook_example_runs() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TENET_NOTEBOOK_TRAIN"}
    done = subprocess.run([sys.executable, "examples/notebook.py"], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert "BAD - breaks no-competitors (critical)" in done.stdout
    assert "num_rows" in done.stdout and "Traceback" not in done.stderr
