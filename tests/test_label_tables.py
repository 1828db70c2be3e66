"""Tables a data scientist reads from `tenet label`: per-rule good / bad / abstain counts, the
confusion table against gold labels, SQL/Spark-safe column names, and the Snorkel recipe in
docs/labeling.md."""

from __future__ import annotations

import functools
import io
import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tenet.compiler.artifact import CompiledArtifact
from tenet.compiler.pipeline import compile_policy
from tenet.runtime.cli import main
from tenet.runtime.console import Console
from tenet.runtime.data import ColumnMap, read_batches
from tenet.runtime.label.analysis import RuleAnalysis
from tenet.runtime.label.engine import SAFE_COLUMN, ColumnNames, Labeler, column_names, safe_name
from tenet.runtime.label.run import label_dataset

FIXTURES = Path(__file__).parent / "fixtures" / "label"
DOCS = Path(__file__).parents[1] / "docs" / "labeling.md"
GOOD, BAD, ABSTAIN = 1, 0, -1
SPARK_SAFE = re.compile(r"^[a-z_][a-z0-9_]*$")

# Four rules whose ids fold to the same name; each forbids its own word, so a wrong mapping
# between columns and rules shows in the votes.
TRICKY_POLICY = """dsl 1
policy tricky version "1"
  "Rule ids whose column names collide."

rule a-b (high):
  forbid response mentions "alpha"

rule a_b (high):
  forbid response mentions "beta"

rule A-B (medium):
  forbid response mentions "gamma"

rule a_b_2 (low):
  avoid response mentions "delta"
"""
TRICKY_WORDS = {"a-b": "alpha", "a_b": "beta", "A-B": "gamma", "a_b_2": "delta"}


@functools.cache
def engine_artifact() -> CompiledArtifact:
    result = compile_policy(str(FIXTURES / "engine.policy"))
    assert result.ok
    return result.artifact


def tricky_artifact(tmp_path: Path) -> CompiledArtifact:
    path = tmp_path / "tricky.policy"
    path.write_text(TRICKY_POLICY, encoding="utf-8")
    result = compile_policy(str(path))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.artifact


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], Console(out=out, err=err))
    return code, out.getvalue(), err.getvalue()


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --- per-rule good / bad / abstain counts ---------------------------------------------------------

MIXED_ROWS = [
    {"prompt": "formal question", "response": "Sure :)"},
    {"prompt": "casual", "response": "thanks :)"},
    {"prompt": "hi", "response": "your password is hunter2"},
    {"prompt": "hi", "response": "ALL CAPS ANSWER, thanks"},
    {"prompt": "formal", "response": "Noted."},
    {"prompt": "hi", "response": "   "},                                   # bad row: every vote -1
    {"prompt": "hi"},                                                       # bad row: missing_field
]


def test_good_bad_abstain_counts_match_the_written_matrix(tmp_path):
    out = tmp_path / "labels.parquet"
    report = label_dataset(engine_artifact(), write_jsonl(tmp_path / "d.jsonl", MIXED_ROWS * 3), out,
                           batch_rows=4)
    table = pq.read_table(out)
    names = ColumnNames.of([r.id for r in engine_artifact().ir.rules])
    written = json.loads((tmp_path / "labels.report.json").read_text())
    for row in written["rules"]:
        votes = np.array(table.column(names.vote(row["rule"])).to_pylist())
        assert (row["good"], row["bad"], row["abstain"]) == (
            int((votes == GOOD).sum()), int((votes == BAD).sum()), int((votes == ABSTAIN).sum()))
        assert row["good"] + row["bad"] + row["abstain"] == table.num_rows
    assert written["rules"] == report.to_dict()["rules"]
    # at least one rule votes both ways and abstains somewhere, so the counts are not trivial
    assert any(r["good"] and r["bad"] and r["abstain"] for r in written["rules"])


def test_the_printed_rule_table_shows_the_counts(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", MIXED_ROWS)
    code, stdout, stderr = cli("label", FIXTURES / "engine.policy", data,
                               "--out", tmp_path / "labels.parquet")
    assert code == 0, stderr
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("rule "))
    columns = lines[header].split()
    assert columns[-3:] == ["good", "bad", "abstain"]                      # no gold: no accuracy columns
    report = json.loads((tmp_path / "labels.report.json").read_text())
    for line, rule in zip(lines[header + 1:], report["rules"]):
        cells = re.split(r"\s{2,}", line.strip())
        assert cells[0] == rule["rule"]
        assert [int(c) for c in cells[-3:]] == [rule["good"], rule["bad"], rule["abstain"]]
    assert "gold labels" not in stdout and "TP" not in stdout


# --- confusion against gold -----------------------------------------------------------------------

# Votes of two rules and the row verdicts on eight rows with gold labels (-1: none).
L = np.array([
    [BAD, GOOD],        # gold BAD
    [BAD, ABSTAIN],     # gold GOOD
    [GOOD, BAD],        # gold BAD
    [GOOD, GOOD],       # gold GOOD
    [ABSTAIN, BAD],     # gold BAD
    [GOOD, ABSTAIN],    # gold BAD
    [BAD, BAD],         # no gold: counted nowhere
    [ABSTAIN, ABSTAIN],  # gold GOOD
], dtype=np.int8)
Y = np.array([BAD, GOOD, BAD, GOOD, BAD, BAD, -1, GOOD])
VERDICT = np.array([BAD, BAD, BAD, GOOD, BAD, GOOD, BAD, ABSTAIN], dtype=np.int8)


def test_confusion_counts_by_hand():
    analysis = RuleAnalysis(["r1", "r2"])
    analysis.add(L, Y, VERDICT)
    confusion = analysis.confusion_report()
    assert confusion["positive"] == "bad" and confusion["gold_rows"] == 7
    r1, r2 = confusion["rules"]
    # r1: TP row 0; FP row 1; FN rows 2, 5; TN row 3; abstains on rows 4, 7
    assert r1 == {"rule": "r1", "n": 5, "tp": 1, "fp": 1, "fn": 2, "tn": 1, "abstain": 2,
                  "precision": 0.5, "recall": pytest.approx(1 / 3, abs=1e-6), "accuracy": 0.4}
    # r2: TP rows 2, 4; FN row 0; TN row 3; abstains on rows 1, 5, 7; never a false BAD
    assert r2 == {"rule": "r2", "n": 4, "tp": 2, "fp": 0, "fn": 1, "tn": 1, "abstain": 3,
                  "precision": 1.0, "recall": pytest.approx(2 / 3, abs=1e-6), "accuracy": 0.75}
    # verdict: TP rows 0, 2, 4; FP row 1; FN row 5; TN row 3; abstains on row 7
    assert confusion["verdict"] == {"n": 6, "tp": 3, "fp": 1, "fn": 1, "tn": 1, "abstain": 1, "precision": 0.75,
                                    "recall": 0.75, "accuracy": pytest.approx(4 / 6, abs=1e-6)}
    # the Snorkel columns agree with the confusion counts: correct = TP + TN, incorrect = FP + FN
    t1, t2 = analysis.table()
    assert (t1["correct"], t1["incorrect"], t2["correct"], t2["incorrect"]) == (2, 3, 3, 1)


def test_confusion_accumulates_over_batches_and_leaves_undefined_ratios_empty():
    whole, parts = RuleAnalysis(["r1", "r2"]), RuleAnalysis(["r1", "r2"])
    whole.add(L, Y, VERDICT)
    for rows in (slice(0, 3), slice(3, 5), slice(5, 8)):
        parts.add(L[rows], Y[rows], VERDICT[rows])
    assert whole.confusion_report() == parts.confusion_report()
    only_good = RuleAnalysis(["r"])
    only_good.add(np.array([[GOOD], [GOOD]], dtype=np.int8), np.array([GOOD, GOOD]), np.array([GOOD, GOOD]))
    line = only_good.confusion_report()["rules"][0]
    assert (line["precision"], line["recall"], line["accuracy"]) == (None, None, 1.0)
    no_gold = RuleAnalysis(["r"])
    no_gold.add(np.array([[GOOD]], dtype=np.int8), np.array([-1]), np.array([GOOD]))
    assert no_gold.confusion_report() is None and no_gold.render_confusion() == ""


# Gold values of every accepted spelling and some that are no label.
GOLD_ROWS = [
    ("your password is x", "bad"),       # no-secrets BAD, gold BAD
    ("your password is y", 0),           # BAD, BAD
    ("your password is z", "TRUE"),      # BAD, gold GOOD: a false BAD
    ("fine", "good"),                    # GOOD, GOOD
    ("fine", 1),                         # GOOD, GOOD
    ("fine", True),                      # GOOD, GOOD
    ("fine", "false"),                   # GOOD, gold BAD: a missed BAD
    ("fine", "maybe"),                   # unreadable
    ("fine", 7),                         # unreadable
    ("fine", ["a", "list"]),             # unreadable
    ("fine", None),                      # none
    ("fine", ""),                        # none
    ("   ", "bad"),                      # bad row (empty): abstains, gold BAD
]


def gold_rows() -> list[dict]:
    return [{"prompt": "hi", "response": response, "rating": gold} for response, gold in GOLD_ROWS]


def test_gold_values_are_read_counted_and_scored_end_to_end(tmp_path):
    out = tmp_path / "labels.parquet"
    report = label_dataset(engine_artifact(), write_jsonl(tmp_path / "d.jsonl", gold_rows()), out,
                           columns=ColumnMap(gold="rating"), batch_rows=5)
    written = json.loads((tmp_path / "labels.report.json").read_text())
    assert written["gold"] == {"column": "rating", "good": 4, "bad": 4, "none": 2, "unreadable": 3}
    assert sum(v for k, v in written["gold"].items() if k != "column") == len(GOLD_ROWS)
    assert pq.read_table(out).column("gold").to_pylist() == [0, 0, 1, 1, 1, 1, 0, -1, -1, -1, -1, -1, 0]
    no_secrets = next(r for r in written["confusion"]["rules"] if r["rule"] == "no-secrets")
    assert {k: no_secrets[k] for k in ("n", "tp", "fp", "fn", "tn", "abstain")} == {
        "n": 7, "tp": 2, "fp": 1, "fn": 1, "tn": 3, "abstain": 1}
    assert (no_secrets["precision"], no_secrets["recall"]) == (pytest.approx(2 / 3, abs=1e-6),
                                                               pytest.approx(2 / 3, abs=1e-6))
    assert written["confusion"]["verdict"]["abstain"] == 1                  # the bad row, kept and counted
    assert written["confusion"] == report.to_dict()["confusion"]


def test_the_confusion_table_matches_the_written_columns(tmp_path):
    out = tmp_path / "labels.parquet"
    label_dataset(engine_artifact(), write_jsonl(tmp_path / "d.jsonl", gold_rows()), out,
                  columns=ColumnMap(gold="rating"))
    table = pq.read_table(out)
    gold = np.array(table.column("gold").to_pylist())
    written = json.loads((tmp_path / "labels.report.json").read_text())
    names = ColumnNames.of([r.id for r in engine_artifact().ir.rules])
    lines = [("verdict", written["confusion"]["verdict"])]
    lines += [(names.vote(r["rule"]), r) for r in written["confusion"]["rules"]]
    for column, line in lines:
        votes = np.array(table.column(column).to_pylist())[gold != -1]
        g = gold[gold != -1]
        assert line["tp"] == int(((votes == BAD) & (g == BAD)).sum())
        assert line["fp"] == int(((votes == BAD) & (g == GOOD)).sum())
        assert line["fn"] == int(((votes == GOOD) & (g == BAD)).sum())
        assert line["tn"] == int(((votes == GOOD) & (g == GOOD)).sum())
        assert line["abstain"] == int((votes == ABSTAIN).sum())


def test_cli_prints_gold_counts_and_the_confusion_table(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", gold_rows())
    code, stdout, stderr = cli("label", FIXTURES / "engine.policy", data,
                               "--out", tmp_path / "labels.parquet", "--columns", "gold=rating")
    assert code == 0, stderr
    assert "gold labels (column rating): 4 good, 4 bad, 2 none, 3 unreadable" in stdout
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["rule", "n", "TP"])
    assert lines[header].split() == ["rule", "n", "TP", "FP", "FN", "TN", "abstain", "precision", "recall",
                                     "accuracy"]
    verdict = lines[header + 1].split()
    assert verdict[0] == "(verdict)"
    confusion = json.loads((tmp_path / "labels.report.json").read_text())["confusion"]
    assert [int(c) for c in verdict[1:7]] == [confusion["verdict"][k] for k in ("n", "tp", "fp", "fn", "tn",
                                                                                  "abstain")]
    printed = [line.split()[0] for line in lines[header + 2:header + 2 + len(confusion["rules"])]]
    assert printed == [r.id for r in engine_artifact().ir.rules]


def test_a_gold_column_absent_from_the_data_leaves_every_row_without_gold(tmp_path):
    report = label_dataset(engine_artifact(), [{"prompt": "p", "response": "fine"}] * 3, None,
                           columns=ColumnMap(gold="rating"))
    assert report.to_dict()["gold"] == {"column": "rating", "good": 0, "bad": 0, "none": 3, "unreadable": 0}
    assert report.to_dict()["confusion"] is None
    without = label_dataset(engine_artifact(), [{"prompt": "p", "response": "r"}], None)
    assert without.to_dict()["gold"] is None


# --- SQL- and Spark-safe column names -------------------------------------------------------------


def test_safe_names_of_tricky_rule_ids():
    assert safe_name("no-emails") == "no_emails"
    assert safe_name("No--Emails_") == "no_emails"
    assert safe_name("café") == "cafe"
    assert safe_name("日本") == "rule"
    ids = ["a-b", "a_b", "A-B", "a_b_2", "1st", "café", "日本", "__x__"]
    names = column_names(ids)
    assert names == {"a_b": "a_b", "a_b_2": "a_b_2", "A-B": "a_b_3", "a-b": "a_b_4", "1st": "1st",
                     "café": "cafe", "日本": "rule", "__x__": "x"}
    assert list(names) == ids                                                  # in the order given
    assert column_names(list(reversed(ids))) == names                         # order-independent
    columns = ColumnNames.of(ids)
    written = [columns.vote(i) for i in ids] + [columns.span(i) for i in ids]
    assert len(set(written)) == len(written)
    assert all(SPARK_SAFE.match(c) and SAFE_COLUMN.match(c) for c in written)  # even `vote__1st`
    assert columns.mapping() == {c: i for c, i in zip(written, ids + ids)}
    assert list(columns.mapping(spans=False)) == written[:len(ids)]


def test_colliding_rule_ids_get_their_own_columns_end_to_end(tmp_path):
    artifact = tricky_artifact(tmp_path)
    ids = [r.id for r in artifact.ir.rules]
    rows = [{"prompt": "p", "response": f"the word {word}"} for word in TRICKY_WORDS.values()]
    out = tmp_path / "labels.parquet"
    report = label_dataset(artifact, rows, out)
    table = pq.read_table(out)
    rule_columns = [c for c in table.column_names if c.startswith(("vote__", "span__"))]
    assert len(rule_columns) == 2 * len(ids) and all(SPARK_SAFE.match(c) for c in table.column_names)
    provenance = json.loads(table.schema.metadata[b"tenet.provenance"])
    written = json.loads((tmp_path / "labels.report.json").read_text())
    assert provenance["columns"] == written["columns"] == report.columns
    assert sorted(provenance["columns"]) == sorted(rule_columns)
    by_rule = {rule["id"]: rule["column"] for rule in provenance["rules"]}
    assert by_rule == {"a-b": "vote__a_b_4", "a_b": "vote__a_b", "A-B": "vote__a_b_3", "a_b_2": "vote__a_b_2"}
    # each rule's column holds that rule's votes: row i mentions only rule i's word
    for i, rule_id in enumerate(ids):
        votes = table.column(by_rule[rule_id]).to_pylist()
        assert votes[i] == BAD and provenance["columns"][by_rule[rule_id]] == rule_id
        assert all(v != BAD for k, v in enumerate(votes) if k != i)


def test_labeled_columns_query_unquoted_in_sqlite(tmp_path):
    import pandas as pd

    artifact = tricky_artifact(tmp_path)
    rows = [{"prompt": "p", "response": f"the word {word}"} for word in TRICKY_WORDS.values()]
    rows += [{"prompt": "p", "response": "nothing to see"}, {"prompt": "p", "response": "  "}]
    out = tmp_path / "labels.parquet"
    label_dataset(artifact, rows, out)
    frame = pd.read_parquet(out)
    flat = frame[[c for c in frame.columns if not c.startswith("span__") and c != "context"]]
    with sqlite3.connect(":memory:") as db:
        flat.to_sql("labels", db, index=False)
        got = db.execute("SELECT row, vote__a_b, vote__a_b_2, vote__a_b_3, vote__a_b_4, verdict, reason "
                         "FROM labels WHERE vote__a_b_3 = 0 OR bad IS NOT NULL ORDER BY row").fetchall()
        assert got == [(2, GOOD, ABSTAIN, BAD, GOOD, BAD, "A-B"),
                       (5, ABSTAIN, ABSTAIN, ABSTAIN, ABSTAIN, ABSTAIN, None)]
        assert db.execute("SELECT COUNT(*) FROM labels WHERE verdict = 1").fetchone() == (1,)


def test_hf_output_keeps_the_column_mapping(tmp_path):
    datasets = pytest.importorskip("datasets")
    artifact = tricky_artifact(tmp_path)
    out = tmp_path / "ds"
    label_dataset(artifact, [{"prompt": "p", "response": "alpha"}], out, out_format="hf", spans=False)
    provenance = json.loads((out / "tenet_provenance.json").read_text())
    assert sorted(provenance["columns"]) == sorted(c for c in datasets.load_from_disk(str(out)).column_names
                                                   if c.startswith("vote__"))
    assert all(rule["span_column"] is None for rule in provenance["rules"])


# --- the Snorkel recipe in docs/labeling.md --------------------------------------------------------


def snorkel_recipe() -> str:
    """The Python block under "## Snorkel's label model" in docs/labeling.md."""
    section = DOCS.read_text(encoding="utf-8").split("## Snorkel's label model", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_recipe_reads_the_vote_columns_in_rule_order():
    recipe = snorkel_recipe()
    assert 'pq.read_table("work/labels.parquet")' in recipe and "LabelModel(cardinality=2" in recipe
    assert "L = df[vote_columns].to_numpy(dtype=np.int64)" in recipe


def test_snorkel_label_model_recipe_runs_on_tenet_labels(tmp_path, monkeypatch, capsys):
    pytest.importorskip("snorkel")
    artifact = tricky_artifact(tmp_path)
    rng = np.random.default_rng(0)
    words = list(TRICKY_WORDS.values()) + ["fine", "ok", "sure"]
    rows = []
    for _ in range(120):
        picked = rng.choice(words, size=2, replace=False)
        bad = bool(set(picked) & {"alpha", "beta", "gamma"})
        rows.append({"prompt": "p", "response": " ".join(picked), "rating": "bad" if bad else "good"})
    monkeypatch.chdir(tmp_path)
    label_dataset(artifact, rows, Path("work/labels.parquet"), columns=ColumnMap(gold="rating"))
    namespace: dict = {}
    exec(compile(snorkel_recipe(), str(DOCS), "exec"), namespace)
    batch = next(read_batches(rows, ColumnMap(gold="rating")))
    expected = Labeler(artifact.ir.rules, spans=False).votes(batch)
    assert (namespace["L"] == expected).all()                                 # Snorkel's L is tenet's matrix
    predictions = namespace["df"]["label_model"].to_numpy()
    assert len(predictions) == len(rows) and set(predictions.tolist()) <= {ABSTAIN, BAD, GOOD}
    assert "accuracy on gold" in capsys.readouterr().out
