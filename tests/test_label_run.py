"""`label_dataset` and `tenet label`: output files and columns, provenance, report, rule analysis,
bounded batches."""

from __future__ import annotations

import csv
import functools
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tenet.compiler.artifact import CompiledArtifact
from tenet.compiler.pipeline import compile_policy
from tenet.runtime.cli import main
from tenet.runtime.console import Console
from tenet.runtime.data import BAD_REASONS, SCHEMA
from tenet.runtime.label.analysis import RuleAnalysis
from tenet.runtime.label.engine import SPAN_TYPE, Labeler, span_column, vote_column
from tenet.runtime.label.run import label_dataset

FIXTURES = Path(__file__).parent / "fixtures" / "label"
POLICY = FIXTURES / "engine.policy"
GOOD, BAD, ABSTAIN = 1, 0, -1

pytest_plugins = ["tiny_models"]


@functools.cache
def artifact() -> CompiledArtifact:
    result = compile_policy(str(POLICY))
    assert result.ok
    return result.artifact


def rule_ids() -> list[str]:
    return [r.id for r in artifact().ir.rules]


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], Console(out=out, err=err))
    return code, out.getvalue(), err.getvalue()


ROWS = [
    {"prompt": "formal question", "response": "Sure :)", "fb": "down"},
    {"prompt": "casual", "response": "thanks :)", "fb": "up"},
    {"prompt": "hi", "response": "your password is hunter2", "fb": "down"},
    {"prompt": "hi", "response": "ALL CAPS ANSWER", "fb": None},
    {"prompt": "hi", "response": "   ", "fb": "up"},                      # empty
    {"prompt": "hi"},                                                      # missing_field
    {"prompt": "hi", "response": ["not", "text"]},                         # non_text
    {"messages": [{"role": "user", "content": "q"}]},                      # bad_messages
]


def write_data(tmp_path: Path) -> Path:
    """ROWS as JSONL plus a broken line, an invalid-UTF-8 line and an oversized row: every reason."""
    lines = [json.dumps(r).encode() for r in ROWS]
    lines += [b"{broken", b'{"prompt": "x", "response": "\xff\xfe"}',
              json.dumps({"prompt": "x", "response": "y" * 200_001}).encode()]
    path = tmp_path / "logs.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


N_ROWS = len(ROWS) + 3
EXPECTED_BAD = [None, None, None, None, "empty", "missing_field", "non_text", "bad_messages",
                "malformed_row", "invalid_text", "oversized"]


# --- label_dataset: Parquet ---------------------------------------------------------------------


def test_label_dataset_writes_parquet_with_votes_spans_verdicts_and_provenance(tmp_path):
    from tenet.runtime.data import ColumnMap

    out = tmp_path / "out" / "labels.parquet"
    report = label_dataset(artifact(), write_data(tmp_path), out, columns=ColumnMap(gold="fb"), batch_rows=3)
    table = pq.read_table(out)
    rules = artifact().ir.rules
    assert table.num_rows == N_ROWS == report.rows                       # nothing dropped
    assert table.column("row").to_pylist() == list(range(N_ROWS))
    assert table.column("bad").to_pylist() == EXPECTED_BAD
    for name in SCHEMA.names:
        assert table.schema.field(name).type == SCHEMA.field(name).type
    for rule in rules:
        assert table.schema.field(vote_column(rule.id, rule_ids())).type == pa.int8()
        assert table.schema.field(span_column(rule.id, rule_ids())).type == SPAN_TYPE
    assert table.schema.field("verdict").type == pa.int8()
    assert table.schema.field("score").type == pa.float64()
    assert len([c for c in table.column_names if c.startswith("vote__")]) == len(rules)
    assert len([c for c in table.column_names if c.startswith("span__")]) == len(rules)

    votes = {r.id: table.column(vote_column(r.id, rule_ids())).to_pylist() for r in rules}
    assert votes["formal-no-smileys"][:4] == [BAD, ABSTAIN, ABSTAIN, ABSTAIN]
    assert votes["smileys-welcome"][:4] == [ABSTAIN, GOOD, BAD, BAD]   # shadowed on the formal row
    assert votes["no-secrets"][:4] == [GOOD, GOOD, BAD, GOOD]
    # A row that breaks any rule is BAD; the score weighs the votes by severity: row 0: high BAD (4)
    # vs critical GOOD (8) -> 8/12; row 2: critical BAD (0/9); row 3: low and soft medium BAD -> 8/10
    assert table.column("verdict").to_pylist() == [BAD, GOOD, BAD, BAD] + [ABSTAIN] * 7
    assert table.column("score").to_pylist()[:4] == pytest.approx([8 / 12, 1.0, 0.0, 8 / 10])
    # The reported violation: the broken rule of highest precedence (medium before low on row 3).
    assert table.column("reason").to_pylist() == ["formal-no-smileys", None, "no-secrets", "avoid-shouting"] \
        + [None] * 7
    assert all(v == ABSTAIN for r in rules for v in votes[r.id][4:])
    assert table.column("score").to_pylist()[4:] == [None] * 7
    assert table.column(span_column("no-secrets", rule_ids())).to_pylist()[2] == {"start": 5, "end": 13}
    assert table.column(span_column("formal-no-smileys", rule_ids())).to_pylist()[0] == {"start": 5, "end": 7}
    assert table.column("gold").to_pylist()[:5] == [0, 1, 0, -1, 1]

    provenance = json.loads(table.schema.metadata[b"tenet.provenance"])
    assert provenance["policy_hash"] == artifact().policy_hash
    assert [p["id"] for p in provenance["rules"]] == [r.id for r in rules]
    for entry, rule in zip(provenance["rules"], rules):
        assert entry["column"] == vote_column(rule.id, rule_ids())
        assert entry["fingerprint"] == rule.fingerprint.semantic
        assert entry["source"] == f"{POLICY}:{rule.span.line}"
        assert (entry["severity"], entry["verdict"]) == (rule.severity, rule.verdict)
    assert not list(out.parent.glob(".*tmp"))                           # the temp file was moved in place


def test_report_and_rule_analysis_are_written_beside_the_output(tmp_path):
    from tenet.runtime.data import ColumnMap

    out = tmp_path / "labels.parquet"
    label_dataset(artifact(), write_data(tmp_path), out, columns=ColumnMap(gold="fb"))
    report = json.loads((tmp_path / "labels.report.json").read_text())
    assert report["rows"] == N_ROWS and report["bad_rows"] == 7
    assert report["bad_by_reason"] == {reason: 1 for reason in BAD_REASONS}
    assert report["verdicts"] == {"good": 1, "bad": 3, "abstain": 7}
    rules = {r["rule"]: r for r in report["rules"]}
    assert rules["no-secrets"]["coverage"] == pytest.approx(4 / N_ROWS, abs=1e-6)
    # gold for the 4 good rows: down, up, down, (none) -> no-secrets votes GOOD, GOOD, BAD
    assert (rules["no-secrets"]["correct"], rules["no-secrets"]["incorrect"]) == (2, 1)
    assert rules["no-secrets"]["emp_acc"] == pytest.approx(2 / 3, abs=1e-6)
    analysis = json.loads((tmp_path / "labels.rule_analysis.json").read_text())
    assert analysis["rows"] == N_ROWS and analysis["rules"] == report["rules"]
    with (tmp_path / "labels.rule_analysis.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [row["rule"] for row in table] == [r.id for r in artifact().ir.rules]
    assert set(table[0]) >= {"polarity", "coverage", "overlaps", "conflicts", "correct", "incorrect",
                             "emp_acc"}
    no_secrets = next(row for row in table if row["rule"] == "no-secrets")
    assert json.loads(no_secrets["polarity"]) == [0, 1]


def test_label_dataset_hf_output_is_loadable(tmp_path):
    import datasets

    out = tmp_path / "labels"
    label_dataset(artifact(), write_data(tmp_path), out, out_format="hf", batch_rows=4)
    dataset = datasets.load_from_disk(str(out))
    assert len(dataset) == N_ROWS
    assert dataset["bad"] == EXPECTED_BAD
    for rule in artifact().ir.rules:
        columns = {vote_column(rule.id, rule_ids()), span_column(rule.id, rule_ids())}
        assert columns <= set(dataset.column_names)
    assert dataset[2]["span__no_secrets"] == {"start": 5, "end": 13}
    assert (tmp_path / "labels.report.json").exists() and (tmp_path / "labels.rule_analysis.csv").exists()
    assert not list(tmp_path.glob(".labels*"))                          # no staging leftovers


def test_label_dataset_hf_output_keeps_provenance(tmp_path):
    out = tmp_path / "labels"
    label_dataset(artifact(), write_data(tmp_path), out, out_format="hf")
    saved = b"".join(path.read_bytes() for path in out.rglob("*") if path.is_file())
    assert artifact().policy_hash.encode() in saved
    for rule in artifact().ir.rules:
        assert rule.fingerprint.semantic.encode() in saved


def test_failed_run_leaves_no_temp_file(tmp_path, monkeypatch):
    real_label = Labeler.label
    calls = []

    def failing_label(self, batch):
        calls.append(batch.num_rows)
        if len(calls) == 2:
            raise RuntimeError("model crashed")
        return real_label(self, batch)

    monkeypatch.setattr(Labeler, "label", failing_label)
    with pytest.raises(RuntimeError, match="model crashed"):
        label_dataset(artifact(), write_data(tmp_path), tmp_path / "out" / "labels.parquet", batch_rows=2)
    assert list((tmp_path / "out").iterdir()) == []


def test_label_dataset_without_spans(tmp_path):
    out = tmp_path / "labels.parquet"
    label_dataset(artifact(), write_data(tmp_path), out, spans=False)
    assert not [c for c in pq.read_table(out).column_names if c.startswith("span__")]


def test_label_dataset_in_memory_without_output():
    rows = [{"prompt": "p", "response": "thanks :)"}] * 5
    report = label_dataset(artifact(), rows, None)
    assert report.rows == 5 and report.to_dict()["verdicts"]["good"] == 5
    assert report.to_dict()["bad_rows"] == 0 and report.to_dict()["bad_by_reason"] == {}


def test_empty_input_still_writes_an_empty_typed_output(tmp_path):
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    out = tmp_path / "labels.parquet"
    report = label_dataset(artifact(), tmp_path / "empty.jsonl", out)
    assert report.rows == 0
    assert json.loads((tmp_path / "labels.report.json").read_text())["rows"] == 0
    table = pq.read_table(out)
    assert table.num_rows == 0 and "verdict" in table.column_names
    assert all(vote_column(r.id, rule_ids()) in table.column_names for r in artifact().ir.rules)


# --- bounded memory: batches respect batch_rows ------------------------------------------------------


def test_200k_rows_in_batches_of_10k(tmp_path, monkeypatch):
    n = 200_000
    table = pa.table({
        "prompt": pa.array(["formal ask", "casual"] * (n // 2)),
        "response": pa.array(["thanks here", "fine :)", "your PASSWORD", "ok :)"] * (n // 4)),
    })
    pq.write_table(table, tmp_path / "big.parquet", row_group_size=64_000)
    seen: list[int] = []
    real_label = Labeler.label

    def recording_label(self, batch):
        seen.append(batch.num_rows)
        return real_label(self, batch)

    monkeypatch.setattr(Labeler, "label", recording_label)
    progress: list[int] = []
    report = label_dataset(artifact(), tmp_path / "big.parquet", None, batch_rows=10_000, spans=False,
                           progress=progress.append)
    assert sum(seen) == report.rows == n
    assert max(seen) <= 10_000 and len(seen) >= n // 10_000
    assert progress[-1] == n and all(b - a <= 10_000 for a, b in zip([0] + progress, progress))
    # every fourth response mentions the password (critical BAD); the rest come out GOOD
    assert report.to_dict()["verdicts"] == {"good": 3 * n // 4, "bad": n // 4, "abstain": 0}


# --- the rule analysis, by hand -------------------------------------------------------------------------

L = np.array([
    [GOOD, BAD, ABSTAIN],
    [GOOD, GOOD, ABSTAIN],
    [ABSTAIN, BAD, BAD],
    [ABSTAIN, ABSTAIN, ABSTAIN],
], dtype=np.int8)
Y = np.array([GOOD, GOOD, BAD, BAD])


def test_analysis_columns_by_hand():
    analysis = RuleAnalysis(["a", "b", "c"])
    analysis.add(L, Y)
    a, b, c = analysis.table()
    # rule a votes rows 0, 1; row 0 has another vote (b) that disagrees
    assert a == {"rule": "a", "polarity": [1], "coverage": 0.5, "overlaps": 0.5, "conflicts": 0.25,
                 "good": 2, "bad": 0, "abstain": 2, "correct": 2, "incorrect": 0, "emp_acc": 1.0}
    # rule b votes rows 0, 1, 2, always with company; disagrees only on row 0; wrong on row 0
    assert b == {"rule": "b", "polarity": [0, 1], "coverage": 0.75, "overlaps": 0.75, "conflicts": 0.25,
                 "good": 1, "bad": 2, "abstain": 1, "correct": 2, "incorrect": 1,
                 "emp_acc": pytest.approx(2 / 3, abs=1e-6)}
    # rule c votes row 2 only, agreeing with b
    assert c == {"rule": "c", "polarity": [0], "coverage": 0.25, "overlaps": 0.25, "conflicts": 0.0,
                 "good": 0, "bad": 1, "abstain": 3, "correct": 1, "incorrect": 0, "emp_acc": 1.0}


def test_analysis_without_gold_and_with_unknown_gold():
    plain = RuleAnalysis(["a", "b", "c"])
    plain.add(L)
    assert "emp_acc" not in plain.table()[0]
    assert "emp_acc" not in plain.render().splitlines()[0]
    partial = RuleAnalysis(["a", "b", "c"])
    partial.add(L, np.array([GOOD, -1, -1, BAD]))  # only row 0 (and the silent row 3) are judged
    a, b, c = partial.table()
    assert (a["correct"], a["incorrect"], a["emp_acc"]) == (1, 0, 1.0)
    assert (b["correct"], b["incorrect"], b["emp_acc"]) == (0, 1, 0.0)
    assert (c["correct"], c["incorrect"], c["emp_acc"]) == (0, 0, None)
    assert partial.render().splitlines()[3].split()[-1] == "-"


def test_analysis_accumulates_over_batches():
    whole, parts = RuleAnalysis(["a", "b", "c"]), RuleAnalysis(["a", "b", "c"])
    whole.add(L, Y)
    parts.add(L[:1], Y[:1])
    parts.add(L[1:3], Y[1:3])
    parts.add(L[3:], Y[3:])
    assert whole.table() == parts.table()


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_analysis_matches_snorkel_lf_summary():
    snorkel = pytest.importorskip("snorkel.labeling")
    rng = np.random.default_rng(7)
    matrix = rng.choice([ABSTAIN, ABSTAIN, BAD, GOOD], size=(300, 6)).astype(np.int8)
    gold = rng.choice([BAD, GOOD], size=300)
    ours = RuleAnalysis([f"r{j}" for j in range(6)])
    ours.add(matrix, gold)
    theirs = snorkel.LFAnalysis(matrix.astype(int)).lf_summary(Y=gold)
    for j, row in enumerate(ours.table()):
        assert row["polarity"] == list(theirs["Polarity"].iloc[j])
        assert row["coverage"] == pytest.approx(theirs["Coverage"].iloc[j], abs=1e-6)
        assert row["overlaps"] == pytest.approx(theirs["Overlaps"].iloc[j], abs=1e-6)
        assert row["conflicts"] == pytest.approx(theirs["Conflicts"].iloc[j], abs=1e-6)
        assert row["correct"] == theirs["Correct"].iloc[j] and row["incorrect"] == theirs["Incorrect"].iloc[j]
        assert row["emp_acc"] == pytest.approx(theirs["Emp. Acc."].iloc[j], abs=1e-6)


# --- tenet label ------------------------------------------------------------------------------------


def test_cli_label_parquet(tmp_path):
    out = tmp_path / "labels.parquet"
    code, stdout, stderr = cli("label", POLICY, write_data(tmp_path), "--out", out, "--batch-rows", "4",
                               "--columns", "gold=fb")
    assert code == 0, stderr
    assert f"labeled {N_ROWS} rows" in stdout
    assert "verdicts: 1 good, 3 bad, 7 abstain" in stdout
    assert "bad rows: 7 (" in stdout and "invalid_text 1" in stdout and "kept in the output" in stdout
    header = next(line for line in stdout.splitlines() if line.startswith("rule"))
    assert header.split() == ["rule", "polarity", "coverage", "overlaps", "conflicts", "good", "bad",
                              "abstain", "correct", "incorrect", "emp_acc"]
    assert f"labeled {N_ROWS:,} rows" in stderr                            # progress on the error stream
    assert pq.read_table(out).num_rows == N_ROWS
    assert (tmp_path / "labels.report.json").exists()


def test_cli_label_hf_from_a_compiled_artifact(tmp_path):
    import datasets

    compiled = tmp_path / "policy.json"
    assert cli("compile", POLICY, "-o", compiled)[0] == 0
    code, stdout, stderr = cli("label", compiled, write_data(tmp_path), "--out", tmp_path / "ds",
                               "--out-format", "hf", "--no-spans")
    assert code == 0, stderr
    dataset = datasets.load_from_disk(str(tmp_path / "ds"))
    assert len(dataset) == N_ROWS and not [c for c in dataset.column_names if c.startswith("span__")]


def test_cli_label_column_mapping(tmp_path):
    data = tmp_path / "qa.csv"
    data.write_text('question,answer\nformal?,"ok :)"\nhello,"fine, thanks"\n', encoding="utf-8")
    out = tmp_path / "qa.parquet"
    code, stdout, stderr = cli("label", POLICY, data, "--out", out,
                               "--columns", "prompt=question,response=answer")
    assert code == 0, stderr
    table = pq.read_table(out)
    assert table.column("prompt").to_pylist() == ["formal?", "hello"]
    assert table.column(vote_column("prefer-thanks", rule_ids())).to_pylist() == [ABSTAIN, GOOD]


def test_cli_label_missing_columns_is_a_usage_error(tmp_path):
    data = tmp_path / "qa.jsonl"
    data.write_text('{"question": "q", "answer": "a"}\n', encoding="utf-8")
    code, stdout, stderr = cli("label", POLICY, data, "--out", tmp_path / "x.parquet")
    assert code == 2
    assert "error:" in stderr and "found: answer, question" in stderr and "--columns" in stderr
    assert "Traceback" not in stderr and not (tmp_path / "x.parquet").exists()


def test_cli_label_bad_inputs(tmp_path):
    code, _, stderr = cli("label", POLICY, tmp_path / "missing.jsonl", "--out", tmp_path / "x.parquet")
    assert code == 2 and "data not found" in stderr
    code, _, stderr = cli("label", POLICY, write_data(tmp_path), "--out", tmp_path / "x.parquet",
                          "--columns", "answer")
    assert code == 2 and "bad column mapping" in stderr
    broken = tmp_path / "broken.policy"
    broken.write_text("dsl 1\npolicy x version \"1\"\nrule r (low):\n  forbid response matches /(/\n")
    code, _, stderr = cli("label", broken, write_data(tmp_path), "--out", tmp_path / "x.parquet")
    assert code == 1 and "E120" in stderr


# --- model-backed rules end to end ------------------------------------------------------------------------


def classifier_policy(tmp_path: Path, model_dir: Path) -> Path:
    """The classifier fixture policy in its own folder, with the tiny BERT at models/tox."""
    folder = tmp_path / "policy"
    (folder / "models").mkdir(parents=True)
    shutil.copytree(model_dir, folder / "models" / "tox")
    policy = folder / "classifier.policy"
    policy.write_text((FIXTURES / "classifier.policy").read_text(encoding="utf-8"), encoding="utf-8")
    return policy


def test_cli_label_with_a_classifier_rule(tmp_path, tiny_classifier):
    from tenet.runtime.label.scorers import Scorers

    policy = classifier_policy(tmp_path, tiny_classifier)
    responses = ["thanks a lot", "I hate you", "please wait", "ok"]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"prompt": "p", "response": r}) + "\n" for r in responses))
    code, _, stderr = cli("label", policy, data, "--out", tmp_path / "out.parquet", "--batch-rows", "3")
    assert code == 0, stderr
    table = pq.read_table(tmp_path / "out.parquet")
    rule = compile_policy(str(policy)).artifact.ir.rules[0]
    probs = Scorers(root=policy.parent)(rule.check, responses)
    assert table.column("vote__not_toxic").to_pylist() == [BAD if p > 0.5 else GOOD for p in probs]
    assert table.column("vote__polite").to_pylist() == [GOOD, BAD, GOOD, BAD]


def test_label_dataset_resolves_models_relative_to_the_policy(tmp_path, tiny_classifier, monkeypatch):
    policy = classifier_policy(tmp_path, tiny_classifier)
    artifact_ = compile_policy(str(policy)).artifact
    monkeypatch.chdir(tmp_path)  # not the policy's folder
    report = label_dataset(artifact_, [{"prompt": "p", "response": "thanks"}], None)
    assert report.rows == 1 and report.to_dict()["verdicts"]["abstain"] == 0


def test_cli_label_reports_regex_timeouts(tmp_path):
    policy = tmp_path / "slow.policy"
    policy.write_text('dsl 1\npolicy slow version "1"\n'
                      'rule slow (low):\n  forbid response matches /^(a+)+(?=b)/\n', encoding="utf-8")
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"prompt": "p", "response": "a" * 40 + "c"}) + "\n"
                    + json.dumps({"prompt": "p", "response": "aab"}) + "\n", encoding="utf-8")
    code, stdout, stderr = cli("label", policy, data, "--out", tmp_path / "out.parquet")
    assert code == 0, stderr
    assert "warning: rule slow: its regex overran the time bound on 1 rows" in stdout
    assert json.loads((tmp_path / "out.report.json").read_text())["regex_timeouts"] == {"slow": 1}
    assert pq.read_table(tmp_path / "out.parquet").column("vote__slow").to_pylist() == [ABSTAIN, BAD]
