"""What `synthesize` writes (TRL formats as Parquet, provenance, QA report, atomic writes) and
the `tenet pairs` command."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import functools  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tenet.compiler.pipeline import compile_policy  # noqa: E402
from tenet.runtime.cli import main  # noqa: E402
from tenet.runtime.console import Console  # noqa: E402
from tenet.runtime.synthesize import output  # noqa: E402
from tenet.runtime.synthesize.run import synthesize  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "synthesize"
FILES = {"pairs.parquet", "unpaired.parquet", "eval_prompts.parquet", "pair_qa.json"}
PAIR_COLUMNS = {"prompt", "chosen", "rejected", "pair_id", "strategy", "target_rules", "source",
                "policy_id", "policy_version", "policy_hash", "need"}
FEEDBACK = [
    {"prompt": "Can I return it?", "response": "Yes, within 30 days.", "rating": "up"},
    {"prompt": "Can I return it?", "response": "Not after a month.", "rating": "down"},
    {"prompt": "Is it safe?", "response": "Yes, it is certified.", "rating": 5,
     "context": [("user", "I bought a kettle."), ("assistant", "Nice!")]},
]


@functools.cache
def artifact(name: str = "prompts.policy"):
    result = compile_policy(str(FIXTURES / name))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.artifact


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("pairs")
    result = synthesize(artifact(), out, root=FIXTURES, feedback=FEEDBACK)
    return out, result


HF_CACHE: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def hf_cache(tmp_path_factory):
    """Keep the datasets cache out of the output folders (and out of the user's home)."""
    HF_CACHE.append(tmp_path_factory.mktemp("hf-cache"))
    yield
    HF_CACHE.pop()


def load(path: Path):
    import datasets

    datasets.disable_progress_bars()
    return datasets.load_dataset("parquet", data_files=str(path), split="train", cache_dir=str(HF_CACHE[-1]))


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, Console(out=out, err=err))
    return code, out.getvalue(), err.getvalue()


# --- files ------------------------------------------------------------------------------------


def test_writes_exactly_the_four_files_and_no_temp_files(written):
    out, _ = written
    assert {p.name for p in out.iterdir()} == FILES


def test_pairs_are_conversational_preference_data_with_provenance(written):
    from trl.data_utils import is_conversational

    out, result = written
    data = load(out / "pairs.parquet")
    assert set(data.column_names) == PAIR_COLUMNS
    assert len(data) == len(result.pairs) > 0
    a = artifact()
    ids = set()
    for row, pair in zip(data, result.pairs):
        assert is_conversational(row)
        assert row["prompt"][-1] == {"role": "user", "content": pair.prompt}
        assert row["prompt"][:-1] == [{"role": r, "content": t} for r, t in pair.context]
        assert row["chosen"] == [{"role": "assistant", "content": pair.chosen}]
        assert row["rejected"] == [{"role": "assistant", "content": pair.rejected}]
        assert (row["strategy"], row["target_rules"], row["source"]) == (
            pair.strategy, list(pair.target_rules), pair.source)
        assert (row["policy_id"], row["policy_version"], row["policy_hash"]) == (a.policy_id, a.version, a.policy_hash)
        assert row["need"] == 1.0  # no model sampled: every pair weighs the same in the step sample
        assert re.fullmatch(r"[0-9a-f]{16}", row["pair_id"]) and row["pair_id"] == output.pair_id(pair)
        ids.add(row["pair_id"])
    assert len(ids) == len(data)
    assert {"examples", "perturb", "feedback"} <= set(data["strategy"])
    assert any(len(row["prompt"]) > 1 for row in data)  # an example with earlier turns


def test_unpaired_rows_are_kto_data(written):
    from trl.data_utils import is_conversational

    out, result = written
    data = load(out / "unpaired.parquet")
    assert {"prompt", "completion", "label"} <= set(data.column_names)
    assert data.features["label"].dtype == "bool"
    # Feedback pairs are not unpaired again: their two sides are already feedback rows.
    paired = [p for p in result.pairs if p.strategy != "feedback"]
    assert len(data) == 2 * len(paired) + len(result.completions) == 2 * len(paired) + 3
    assert all(is_conversational(row) for row in data)
    labels = {(row["completion"][0]["content"], row["label"]) for row in data}
    for pair in result.pairs:
        assert {(pair.chosen, True), (pair.rejected, False)} <= labels
    feedback_rows = [row for row in data if row["pair_id"] == ""]
    assert [(r["completion"][0]["content"], r["label"]) for r in feedback_rows] == [
        ("Yes, within 30 days.", True), ("Not after a month.", False), ("Yes, it is certified.", True)]
    assert feedback_rows[2]["prompt"][0] == {"role": "user", "content": "I bought a kettle."}


def test_eval_prompts_and_qa_report(written):
    out, result = written
    data = load(out / "eval_prompts.parquet")
    assert data["text"] == [p.text for p in result.eval_prompts] and len(data) > 0
    qa = json.loads((out / "pair_qa.json").read_text(encoding="utf-8"))
    assert qa["policy_id"] == "synth-prompts" and qa["policy_version"] == "1"
    assert qa["strategies"] == ["examples", "perturb", "feedback"]
    assert qa["kept"] == len(result.pairs) and qa["eval_prompts"] == len(result.eval_prompts)
    assert qa["unpaired_feedback_rows"] == 3
    assert qa["candidates"] == qa["kept"] + qa["dropped"]
    assert sum(s["candidates"] for s in qa["per_strategy"].values()) == qa["candidates"]


def test_same_seed_writes_identical_files(written, tmp_path):
    out, _ = written
    again = tmp_path / "again"
    synthesize(artifact(), again, root=FIXTURES, feedback=FEEDBACK)
    for name in FILES:
        assert (again / name).read_bytes() == (out / name).read_bytes(), name


def test_rewriting_replaces_the_files(written, tmp_path):
    out, result = written
    target = tmp_path / "again"
    synthesize(artifact(), target, root=FIXTURES, feedback=FEEDBACK)
    before = {name: (target / name).read_bytes() for name in FILES}
    synthesize(artifact(), target, root=FIXTURES, strategies=["examples"])
    assert {p.name for p in target.iterdir()} == FILES
    assert (target / "pairs.parquet").read_bytes() != before["pairs.parquet"]
    assert json.loads((target / "pair_qa.json").read_text())["strategies"] == ["examples"]
    assert (target / "pairs.parquet").read_bytes() != (out / "pairs.parquet").read_bytes()


def test_empty_results_still_write_every_file(tmp_path):
    import pyarrow.parquet as pq

    synthesize(artifact(), tmp_path, root=FIXTURES, strategies=["sample"])  # no model: no pairs
    assert {p.name for p in tmp_path.iterdir()} == FILES
    table = pq.read_table(tmp_path / "pairs.parquet")
    assert table.num_rows == 0 and set(table.column_names) == PAIR_COLUMNS


def fail_after_partial_write(monkeypatch):
    import datasets

    def broken(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PAR1 partial")
        raise OSError("disk full")

    monkeypatch.setattr(datasets.Dataset, "to_parquet", broken)


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "out"
    synthesize(artifact(), target, root=FIXTURES, feedback=FEEDBACK)
    before = (target / "pairs.parquet").read_bytes()
    fail_after_partial_write(monkeypatch)
    with pytest.raises(OSError):
        synthesize(artifact(), target, root=FIXTURES, strategies=["examples"])
    assert (target / "pairs.parquet").read_bytes() == before


def test_a_failed_write_leaves_no_temp_file(tmp_path, monkeypatch):
    fail_after_partial_write(monkeypatch)
    with pytest.raises(OSError):
        synthesize(artifact(), tmp_path, root=FIXTURES, strategies=["examples"])
    assert [p.name for p in tmp_path.iterdir()] == []


# --- the CLI ----------------------------------------------------------------------------------


def test_cli_pairs_prints_kept_and_candidates_per_strategy(tmp_path):
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(["pairs", str(FIXTURES / "minimal.policy"), "--out", str(out)])
    assert code == 0, stderr
    qa = json.loads((out / "pair_qa.json").read_text(encoding="utf-8"))
    assert {p.name for p in out.iterdir()} == FILES
    assert f"kept {qa['kept']} of {qa['candidates']} candidate pairs -> {out}" in stdout
    for strategy in ("examples", "perturb"):
        counts = qa["per_strategy"][strategy]
        assert re.search(rf"^  {strategy}\s+{counts['kept']} kept of {counts['candidates']}$", stdout, re.M), stdout
    dropped = {f"{reason} {n}" for reason, n in qa["dropped_by_reason"].items() if n}
    line = next(line for line in stdout.splitlines() if line.startswith("dropped: "))
    assert dropped and set(line.removeprefix("dropped: ").split(", ")) == dropped
    assert "held-out eval prompts: 1" in stdout
    assert "Traceback" not in stdout + stderr


def test_cli_pairs_with_a_strategy_list_and_feedback_file(tmp_path):
    logs = tmp_path / "logs.jsonl"
    logs.write_text("\n".join(json.dumps(r) for r in [
        {"prompt": "Can I return it?", "response": "Yes, within 30 days.", "rating": "up"},
        {"prompt": "Can I return it?", "response": "Not after a month.", "rating": "down"},
        {"prompt": "Is it safe?", "response": "Yes, it is certified.", "rating": 5},
        {"prompt": "Is it safe?", "response": "Who knows, maybe.", "rating": 2},
    ]) + "\n", encoding="utf-8")
    code, stdout, stderr = run_cli(["pairs", str(FIXTURES / "minimal.policy"), "--out", str(tmp_path / "o"),
                                    "--strategies", "examples, feedback", "--feedback", str(logs)])
    assert code == 0, stderr
    assert re.search(r"^  feedback\s+2 kept of 2$", stdout, re.M), stdout
    assert "perturb" not in stdout
    assert load(tmp_path / "o" / "unpaired.parquet")["label"].count(True) >= 2


def test_cli_feedback_keeps_free_text_ratings(tmp_path):
    logs = tmp_path / "logs.jsonl"
    logs.write_text("\n".join(json.dumps(r) for r in [
        {"prompt": "Where is my order?", "response": "It ships today.", "rating": "great answer"},
        {"prompt": "Where is my order?", "response": "Figure it out yourself.", "rating": "wrong and rude"},
    ]) + "\n", encoding="utf-8")
    code, stdout, stderr = run_cli(["pairs", str(FIXTURES / "minimal.policy"), "--out", str(tmp_path / "o"),
                                    "--strategies", "feedback", "--feedback", str(logs)])
    assert code == 0, stderr
    import pyarrow.parquet as pq

    rows = pq.read_table(tmp_path / "o" / "unpaired.parquet").to_pylist()  # observed today: 0 rows
    assert sorted((r["completion"][0]["content"], r["label"]) for r in rows) == [
        ("Figure it out yourself.", False), ("It ships today.", True)]


def test_cli_unknown_strategy_is_a_usage_error(tmp_path):
    code, stdout, stderr = run_cli(["pairs", str(FIXTURES / "minimal.policy"), "--out", str(tmp_path / "o"),
                                    "--strategies", "examples,bogus"])
    assert code == 2
    assert "unknown strategy 'bogus'" in stderr and "choose from" in stderr
    assert "Traceback" not in stdout + stderr
    assert not (tmp_path / "o").exists()


def test_cli_missing_model_is_a_usage_error(tmp_path):
    missing = tmp_path / "no-such-model"
    code, stdout, stderr = run_cli(["pairs", str(FIXTURES / "minimal.policy"), "--out", str(tmp_path / "o"),
                                    "--model", str(missing), "--strategies", "sample"])
    assert code == 2
    assert str(missing) in stderr and "does not exist" in stderr
    assert "Traceback" not in stdout + stderr
    assert not (tmp_path / "o").exists()


def test_cli_missing_prompt_file_is_a_usage_error(tmp_path):
    policy = tmp_path / "p.policy"
    policy.write_text('dsl 1\npolicy p version "1"\n\nrule r (low):\n  forbid response contains email\n\n'
                      'prompts:\n  file "missing.jsonl"\n', encoding="utf-8")
    code, stdout, stderr = run_cli(["pairs", str(policy), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "missing.jsonl" in stderr and "Traceback" not in stdout + stderr
